from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import pairwise preferences (JSON lines: qid, did, label; 1 = the judged passage, "
        "2 = the generated one) of one LLM assessor. " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--assessor", required=True, help="assessor name (import_bundle uses pairwise_llm)")

    def handle(self, *args, **options):
        run_import(self, services.pairwise_import, collection=options["collection"],
                   assessor=options["assessor"], **common_options(options))

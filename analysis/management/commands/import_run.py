from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import a TREC run (qid Q0 docid rank score tag) of one system. Every qid must be a query "
        "of the collection; unknown docids are kept as passages without text. " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--system", required=True, help="system name, e.g. bm25, unicoil, tas-b")

    def handle(self, *args, **options):
        run_import(self, services.run_import, collection=options["collection"], system=options["system"],
                   **common_options(options))

from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import failure reasons (label<TAB>qid<TAB>query<TAB>python-list). Each row's collection is "
        "its label's prefix (dl19_bm25_... -> dl19); rows of collections not in the database are "
        "skipped and counted; an unknown qid of a known collection is an error. The list is read with "
        "ast.literal_eval, never evaluated. " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser, collection=False)
        parser.add_argument("--task", required=True, choices=["h2r", "h2g", "h2j"])
        parser.add_argument("--assessor", required=True, help="the LLM that proposed them, e.g. qwen3_8b")

    def handle(self, *args, **options):
        run_import(self, services.reasons_import, task=options["task"], assessor=options["assessor"],
                   **common_options(options))

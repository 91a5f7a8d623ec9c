from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import a hard-query CSV (header query,<measure>, e.g. query,NDCG@10; first column the qid) "
        "as a HardnessAnalysis with origin 'imported' and one hard label per row. " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--task", required=True, choices=["h2r", "h2g", "h2j"])
        parser.add_argument("--subject", required=True, help="the system, generator or judge analysed, e.g. bm25")
        parser.add_argument("--quantile", type=float, default=None, help="the quantile the list was cut at")

    def handle(self, *args, **options):
        run_import(self, services.hard_queries_import, collection=options["collection"], task=options["task"],
                   subject=options["subject"], quantile=options["quantile"], **common_options(options))

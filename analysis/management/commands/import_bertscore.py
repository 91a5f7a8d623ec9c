from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import BERTScore rows (JSON lines: qid, scores{precision, recall, f1, hashcode}, "
        "main_performance, dids), one row per did, aligned by position; model_id is the hashcode. "
        "The setting comes from the file name (*reason_expansion* -> reason_expansion, else zero_shot) "
        "unless --setting is given. Rows link to the generator's generations when imported. " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--generator", required=True, help="generator name, e.g. qwen3_8b")
        parser.add_argument("--setting", choices=["zero_shot", "reason_expansion"], default=None)

    def handle(self, *args, **options):
        run_import(self, services.bertscore_import, collection=options["collection"],
                   generator=options["generator"], setting=options["setting"], **common_options(options))

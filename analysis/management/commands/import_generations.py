from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import generated passages (JSON lines: query_id, query, response, extracted_answer [, ds]). "
        "The setting comes from the file name (*_all_reasons_expansion_* -> reason_expansion, else "
        "zero_shot) unless --setting is given; <think> blocks are removed from the text, the raw "
        "response is kept. " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--generator", required=True, help="generator name, e.g. qwen3_8b")
        parser.add_argument("--setting", choices=["zero_shot", "reason_expansion"], default=None)

    def handle(self, *args, **options):
        run_import(self, services.generations_import, collection=options["collection"],
                   generator=options["generator"], setting=options["setting"], **common_options(options))

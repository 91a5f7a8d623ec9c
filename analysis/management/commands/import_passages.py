from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = (
        "Import passage texts (docid<TAB>text, split at the first tab only); fills in the text of "
        "passages that qrels or runs named before. " + COMMON_HELP
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)

    def handle(self, *args, **options):
        run_import(self, services.passages_import, collection=options["collection"], **common_options(options))

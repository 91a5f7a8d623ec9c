from django.core.management.base import BaseCommand

from analysis.importers import services
from analysis.management.importing import COMMON_HELP, add_common_arguments, common_options, run_import


class Command(BaseCommand):
    help = "Import queries (qid<TAB>query text) into a collection. " + COMMON_HELP

    def add_arguments(self, parser):
        add_common_arguments(parser)

    def handle(self, *args, **options):
        run_import(self, services.queries_import, collection=options["collection"], **common_options(options))

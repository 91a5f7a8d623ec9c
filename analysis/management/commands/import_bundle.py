import argparse

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from analysis.importers import bundle
from analysis.importers.errors import ImportFileError
from analysis.importers.naming import NAMING


class Command(BaseCommand):
    help = (
        "Import a directory of pipeline outputs laid out like the paper data (dl19/, dl21/): each "
        "file's kind and assessor/system/generator come from its name; the plan is printed first; "
        "files are imported in dependency order (queries, passages, qrels and LLM judgments, runs, "
        "generations, BERTScores, pairwise, reasons, hard-query CSVs), all in one transaction. "
        "Unknown files are listed as skipped. The naming scheme follows."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = NAMING
        parser.formatter_class = _Formatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--collection", required=True, help="collection name, e.g. dl19")
        parser.add_argument("--replace", action="store_true", help="replace earlier imports of the same sources")
        parser.add_argument("--dry-run", action="store_true", help="print the plan and the counts, write nothing")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        try:
            plan = bundle.bundle_plan(directory=options["directory"], collection=options["collection"])
        except (FileNotFoundError, ImportFileError) as exc:
            raise CommandError(str(exc)) from exc
        for line in plan.lines():
            self.stdout.write(line)
        self.stdout.write("")
        try:
            bundle.bundle_import(
                plan=plan, replace=options["replace"], dry_run=options["dry_run"],
                progress=not options["no_progress"], on_report=lambda r: self.stdout.write(r.summary()),
            )
        except ImportFileError as exc:
            raise CommandError(f"{exc} (nothing of the bundle was written)") from exc
        if options["dry_run"]:
            self.stdout.write("Dry run: everything rolled back, nothing written.")


class _Formatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, and the naming table printed as written."""

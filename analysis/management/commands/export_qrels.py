from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import selectors
from analysis.models import Assessor, Collection


class Command(BaseCommand):
    help = (
        "Write one assessor's judgments (default: the official qrels) as a TREC qrels file, sorted by "
        "qid and docid, grades as stored; invalid LLM judgments are left out. Feed it to trec_eval."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", required=True)
        parser.add_argument("--assessor", default="official", help="assessor name (default: official)")
        parser.add_argument("--output", required=True, help="file to write ('-' for stdout)")

    def handle(self, *args, **options):
        if not Collection.objects.filter(name=options["collection"]).exists():
            raise CommandError(f"no collection {options['collection']!r}")
        if not Assessor.objects.filter(name=options["assessor"]).exists():
            raise CommandError(f"no assessor {options['assessor']!r}")
        lines = selectors.qrels_lines(collection=options["collection"], assessor=options["assessor"])
        text = "".join(line + "\n" for line in lines)
        if options["output"] == "-":
            self.stdout.write(text, ending="")
        else:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"{len(lines)} judgments of {options['assessor']} written to {options['output']}")

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import corpus_selectors
from analysis.models import Assessor


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
        collection = corpus_selectors.collection_get(name=options["collection"])
        if collection is None:
            raise CommandError(f"no collection {options['collection']!r}")
        assessor = Assessor.objects.filter(name=options["assessor"]).first()
        if assessor is None:
            raise CommandError(f"no assessor {options['assessor']!r}")
        lines = corpus_selectors.qrels_lines(collection=collection, assessor=assessor)
        if options["output"] == "-":
            for line in lines:
                self.stdout.write(line, ending="")
            return
        written = 0
        with Path(options["output"]).open("w", encoding="utf-8") as out:
            for line in lines:
                out.write(line)
                written += 1
        self.stderr.write(f"{written} judgments of {options['assessor']} written to {options['output']}")

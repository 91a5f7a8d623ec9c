"""judge --collection C --base-url URL --model M --prompt graded|binary|TEMPLATE [...]"""
from __future__ import annotations

from django.core.management.base import CommandError

from analysis.importers.errors import ImportFileError
from analysis.importers.formats import parse_qrels
from analysis.importers.reading import SourceFile
from judges import selectors, services
from judges.management.commands._llmjob import LLMJobCommand
from judges.models import PromptTemplate


def pairs_file_read(path: str) -> list[tuple[str, str]]:
    """The (qid, docid) pairs of a ``qid docid`` file, or of a qrels file read by the
    importer's qrels parser (the same checks and ``FILE:LINE`` errors as ``import_qrels``)."""
    try:
        src = SourceFile.from_path(path)
        first = next(src.lines(), (0, ""))[1]
        if len(first.split()) >= 4:
            records, _ = parse_qrels(src, scale="graded")
            return [(r.qid, r.docid) for r in records]
        pairs = []
        for line, text in src.lines():
            parts = text.split()
            if len(parts) != 2:
                raise ImportFileError(src.name, line, "expected 'qid docid' (or a qrels file 'qid Q0 docid grade')")
            pairs.append((parts[0], parts[1]))
    except ImportFileError as exc:
        raise CommandError(str(exc)) from exc
    return pairs


class Command(LLMJobCommand):
    help = "Judge every officially judged (query, passage) pair of a collection (or --pairs FILE) with an LLM."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--prompt", required=True, help="graded, binary, or a template name (name:vN for a version)")
        parser.add_argument(
            "--samples", type=int, default=1,
            help="self-consistency: N calls per pair (set a temperature with --param temperature=0.7), the majority "
                 "grade (tie -> lower grade) stored with the vote shares as its probabilities",
        )
        parser.add_argument(
            "--no-logprobs", action="store_true",
            help="do not ask the endpoint for logprobs (for a server that refuses them); by default a judge job asks "
                 "for top_logprobs and stores the grade probabilities they give",
        )
        parser.add_argument("--pairs", help="file of 'qid docid' lines (or a qrels file) to judge instead")

    def handle(self, *args, **options) -> None:
        collection = self.collection(options)
        try:
            template = selectors.template_resolve(prompt=options["prompt"], kinds=["graded", "binary"])
        except PromptTemplate.DoesNotExist as exc:
            raise CommandError(str(exc))
        pairs = pairs_file_read(options["pairs"]) if options["pairs"] else None
        if options["samples"] < 1:
            raise CommandError("--samples must be at least 1")
        endpoint = self.endpoint(options, supports_logprobs=not options["no_logprobs"])
        job = services.job_create_judge(
            collection=collection, endpoint=endpoint, template=template, assessor_name=options["assessor"],
            pairs=pairs, limit=options["limit"], samples=options["samples"], concurrency=options["concurrency"],
            runners=options["runners"],
        )
        job = self.run_job(job, options)
        self.report(job, options)

"""judge --collection C --base-url URL --model M --prompt graded|binary|TEMPLATE [...]"""
from __future__ import annotations

from django.core.management.base import CommandError

from judges import services
from judges.management.commands._llmjob import LLMJobCommand
from judges.models import PromptTemplate


class Command(LLMJobCommand):
    help = "Judge every officially judged (query, passage) pair of a collection (or --pairs FILE) with an LLM."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--prompt", required=True, help="graded, binary, or a template name (name:vN for a version)")
        parser.add_argument("--samples", type=int, default=1, help="self-consistency: N samples, majority vote (tie -> lower grade)")
        parser.add_argument("--pairs", help="file of 'qid docid' lines (or a qrels file) to judge instead")

    def handle(self, *args, **options) -> None:
        collection = self.collection(options)
        try:
            template = services.template_resolve(prompt=options["prompt"], kinds=["graded", "binary"])
        except PromptTemplate.DoesNotExist as exc:
            raise CommandError(str(exc))
        pairs = None
        if options["pairs"]:
            pairs = []
            with open(options["pairs"], encoding="utf-8") as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) >= 4:  # qrels: qid Q0 docid grade
                        pairs.append((parts[0], parts[2]))
                    elif len(parts) >= 2:
                        pairs.append((parts[0], parts[1]))
        job = services.job_create_judge(
            collection=collection, endpoint=self.endpoint(options), template=template, assessor_name=options["assessor"],
            pairs=pairs, limit=options["limit"], samples=options["samples"], concurrency=options["concurrency"],
            runners=options["runners"],
        )
        job = self.run_job(job, options)
        self.report(job, options)

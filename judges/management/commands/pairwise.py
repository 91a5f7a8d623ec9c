"""pairwise --collection C --generator ASSESSOR --base-url URL --model M [--prompt TEMPLATE] [--min-grade G]
[--one-order] [--top-grade-only]"""
from __future__ import annotations

from django.core.management.base import CommandError

from analysis.models import Assessor
from judges import selectors, services
from judges.management.commands._llmjob import LLMJobCommand
from judges.models import PromptTemplate


class Command(LLMJobCommand):
    help = ("Ask which passage answers better: each officially judged passage graded --min-grade or more, or the "
            "query's generated one; both orders by default, a tie when they disagree.")

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--generator", required=True, help="assessor name of the generations to compare with")
        parser.add_argument("--prompt", default="pairwise")
        parser.add_argument("--samples", type=int, default=1)
        parser.add_argument("--min-grade", type=int, default=2, choices=range(4), metavar="G",
                            help="compare the passages an official assessor graded G or more (default 2, as the paper)")
        parser.add_argument("--one-order", action="store_true",
                            help="ask once, the judged passage in position 1 (default: both orders, a tie when they disagree)")
        parser.add_argument("--top-grade-only", action="store_true",
                            help="per query only the passages of its highest official grade (the paper's files: 886 on DL19)")

    def handle(self, *args, **options) -> None:
        try:
            template = selectors.template_resolve(prompt=options["prompt"], kinds=["pairwise"])
            generator = Assessor.objects.get(name=options["generator"])
        except PromptTemplate.DoesNotExist as exc:
            raise CommandError(str(exc))
        except Assessor.DoesNotExist:
            raise CommandError(f"--generator: no assessor {options['generator']!r}")
        collection = self.collection(options)
        if not selectors.generated_qids(collection=collection, generator=generator):
            raise CommandError(f"--generator: {generator.name} generated no passage for {collection.name}")
        try:
            job = services.job_create_pairwise(
                collection=collection, endpoint=self.endpoint(options), template=template, generator=generator,
                assessor_name=options["assessor"], limit=options["limit"], samples=options["samples"],
                concurrency=options["concurrency"], min_grade=options["min_grade"],
                both_orders=not options["one_order"], top_grade_only=options["top_grade_only"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.report(self.run_job(job, options), options, orders=1 if options["one_order"] else 2,
                    min_grade=options["min_grade"])

"""pairwise --collection C --generator ASSESSOR --base-url URL --model M [--prompt TEMPLATE]"""
from __future__ import annotations

from django.core.management.base import CommandError

from analysis.models import Assessor
from judges import selectors, services
from judges.management.commands._llmjob import LLMJobCommand
from judges.models import PromptTemplate


class Command(LLMJobCommand):
    help = "Ask which passage answers better: each officially judged passage (1) or the query's generated one (2)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--generator", required=True, help="assessor name of the generations to compare with")
        parser.add_argument("--prompt", default="pairwise")
        parser.add_argument("--samples", type=int, default=1)

    def handle(self, *args, **options) -> None:
        try:
            template = selectors.template_resolve(prompt=options["prompt"], kinds=["pairwise"])
            generator = Assessor.objects.get(name=options["generator"])
        except (PromptTemplate.DoesNotExist, Assessor.DoesNotExist) as exc:
            raise CommandError(str(exc))
        job = services.job_create_pairwise(
            collection=self.collection(options), endpoint=self.endpoint(options), template=template, generator=generator,
            assessor_name=options["assessor"], limit=options["limit"], samples=options["samples"],
            concurrency=options["concurrency"],
        )
        self.report(self.run_job(job, options), options)

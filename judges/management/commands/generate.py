"""generate --collection C --base-url URL --model M [--prompt TEMPLATE] [--qids ...]"""
from __future__ import annotations

from django.core.management.base import CommandError

from judges import selectors, services
from judges.management.commands._llmjob import LLMJobCommand
from judges.models import PromptTemplate


class Command(LLMJobCommand):
    help = "Generate a passage per query (the Hard-to-Generate input) into analysis Generation rows."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--prompt", default="generation", help="generation template name (default hardq-generation)")
        parser.add_argument("--qids", nargs="*", help="only these queries")

    def handle(self, *args, **options) -> None:
        try:
            template = selectors.template_resolve(prompt=options["prompt"], kinds=["generation"])
        except PromptTemplate.DoesNotExist as exc:
            raise CommandError(str(exc))
        job = services.job_create_generate(
            collection=self.collection(options), endpoint=self.endpoint(options), template=template,
            assessor_name=options["assessor"], qids=options["qids"], limit=options["limit"],
            concurrency=options["concurrency"],
        )
        self.report(self.run_job(job, options), options)

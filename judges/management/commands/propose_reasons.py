"""propose_reasons --collection C --task h2r|h2g|h2j --base-url URL --model M [--rounds N] [--analysis ID]"""
from __future__ import annotations

from django.core.management.base import CommandError

from analysis.models import HardnessAnalysis
from judges import selectors, services
from judges.management.commands._llmjob import LLMJobCommand
from judges.models import PromptTemplate


class Command(LLMJobCommand):
    help = "Propose failure reasons, one list per query and task; each query's prompt holds only that query."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--task", required=True, choices=["h2r", "h2g", "h2j"])
        parser.add_argument("--prompt", default="", help="template name (default hardq-reasons-<task>)")
        parser.add_argument("--rounds", type=int, default=1, help="refinement rounds within each query")
        parser.add_argument("--qids", nargs="*", help="only these queries")
        parser.add_argument("--analysis", type=int, help="a hardness analysis: ask for its hard queries, with their measure as context")
        parser.add_argument("--label", default="", help="label of the proposals, e.g. dl19_bm25_bertscore_umbrela_0.3")

    def handle(self, *args, **options) -> None:
        task = options["task"]
        try:
            template = selectors.template_resolve(prompt=options["prompt"] or f"reasons_{task}", kinds=[f"reasons_{task}"])
        except PromptTemplate.DoesNotExist as exc:
            raise CommandError(str(exc))
        qids, contexts = options["qids"], {}
        if options["analysis"]:
            analysis = HardnessAnalysis.objects.get(pk=options["analysis"])
            labels = analysis.labels.filter(hard=True).select_related("query")
            qids = [label.query.qid for label in labels]
            contexts = {
                label.query.qid: f"{analysis.measure or 'measure'} = {label.value:.4f} (threshold {analysis.threshold})"
                for label in labels if label.value is not None
            }
        job = services.job_create_reasons(
            collection=self.collection(options), endpoint=self.endpoint(options), template=template, task=task,
            assessor_name=options["assessor"], qids=qids, contexts=contexts, rounds=options["rounds"],
            label=options["label"], limit=options["limit"], concurrency=options["concurrency"],
        )
        self.report(self.run_job(job, options), options)

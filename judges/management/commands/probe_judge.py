"""probe_judge --collection C --assessor A [--probes stuffing,injection,truncation|position] --sample N --seed S"""
from __future__ import annotations

import json

from django.core.management.base import CommandError

from analysis import corpus_selectors
from judges import probe_selectors, probe_services
from judges.management.commands._llmjob import LLMJobCommand
from judges.models import LLMJob


class Command(LLMJobCommand):
    help = (
        "Probe an LLM judge with modified copies of N sampled judged pairs, asked with the judge's own "
        "configuration: stuffing (the query's words appended to a passage the reference graded 0), injection "
        "(a sentence claiming relevance appended to one), truncation (a top-graded passage cut to its first "
        "sentence), position (a pairwise judge asked both orders). Reports each probe's flip rate with its 95% "
        "Wilson interval."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--collection", required=True)
        parser.add_argument("--assessor", required=True, help="the LLM assessor to probe")
        parser.add_argument("--probes", default="",
                            help="comma-separated: stuffing, injection, truncation (graded/binary judges), position "
                                 "(pairwise judges); default every probe that fits the assessor")
        parser.add_argument("--sample", type=int, default=50, help="pairs per probe (default 50)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--reference", default="", help="whose grades pick the pairs (default the official qrels)")
        parser.add_argument("--concurrency", type=int, default=16, help="calls in flight")
        parser.add_argument("--json", action="store_true", help="print one JSON object with the results")
        parser.add_argument("--no-wait", action="store_true", help="with a broker: enqueue and return")

    def handle(self, *args, **options) -> None:
        collection = self.collection(options)
        assessor = corpus_selectors.assessor_get(name=options["assessor"])
        if assessor is None:
            raise CommandError(f"no assessor {options['assessor']!r}")
        reference = None
        if options["reference"]:
            reference = corpus_selectors.assessor_get(name=options["reference"])
            if reference is None:
                raise CommandError(f"no assessor {options['reference']!r} (--reference)")
        try:
            probes = probe_services.probes_parse(options["probes"]) if options["probes"] else None
            job = probe_services.probe_job_create(
                collection=collection, assessor=assessor, probes=probes, sample=options["sample"],
                seed=options["seed"], reference=reference, concurrency=options["concurrency"],
            )
        except probe_services.ProbeRefusal as exc:
            raise CommandError(str(exc)) from exc
        job = self.run_job(job, options)
        results = {r["probe"]: r for r in probe_selectors.probe_result_list(assessor=assessor) if r["job"] == job.pk}
        data = {
            "job": job.pk, "status": job.status, "assessor": assessor.name, "collection": collection.name,
            "total": job.total, "done": job.done, "invalid": job.invalid, "failed": job.failed,
            "calls": job.calls, "cached": job.cached, "tokens": job.tokens, "probes": results,
        }
        if options["json"]:
            self.stdout.write(json.dumps(data))
        else:
            self.stdout.write(f"job {job.pk} {job.status}: probes of {assessor.name} on {collection.name} "
                              f"({job.done} done, {job.invalid} invalid, {job.failed} failed of {job.total}; "
                              f"{job.calls} calls, {job.cached} cached)")
            for probe, r in results.items():
                rate = "-" if r["flip_rate"] is None else f"{r['flip_rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
                self.stdout.write(f"  {probe} v{r['version']}: {r['flipped']} of {r['n']} flipped, rate {rate} "
                                  f"({r['sampled']} sampled, {r['at_ceiling']} already at the end of the scale)")
        if job.status == LLMJob.FAILED:
            raise CommandError(f"job {job.pk} failed: {job.error}")

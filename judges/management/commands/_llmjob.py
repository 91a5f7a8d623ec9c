"""What every LLM job command shares: endpoint flags, running the job, reporting.

Without a broker (``CELERY_BROKER_URL`` unset) the job's Celery task runs eagerly in this
process with a tqdm progress bar; with a broker it is enqueued and the command waits,
drawing the bar from the job's counters, unless ``--no-wait``.

``--batch`` (every kind): the calls go to the endpoint's Batch API (``judges.batch``);
the command sends the first batch and returns, the ``poll_llm_batches`` task (celery
beat, or ``manage.py poll_batches``) reads the answers when they come.
"""
from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analysis import corpus_selectors
from analysis.models import Collection
from judges import batch, runner, selectors, services
from judges.models import Endpoint, LLMJob
from judges.tasks import run_llm_job


def parse_params(pairs: list[str]) -> dict:
    """``--param temperature=0 --param max_tokens=512`` -> JSON-typed dict."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(f"--param expects key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


class LLMJobCommand(BaseCommand):
    needs_collection = True

    def add_endpoint_arguments(self, parser, *, prefix: str = "") -> None:
        parser.add_argument(f"--{prefix}base-url", default=settings.HARDQ_LLM_BASE_URL,
                            help="OpenAI-compatible base URL, e.g. http://localhost:11434/v1 (default HARDQ_LLM_BASE_URL)")
        parser.add_argument(f"--{prefix}model", default=settings.HARDQ_LLM_MODEL, help="model id (default HARDQ_LLM_MODEL)")
        parser.add_argument(f"--{prefix}api-key-env", default=settings.HARDQ_LLM_API_KEY_ENV,
                            help="NAME of the environment variable holding the API key (default HARDQ_LLM_API_KEY_ENV)")

    def add_arguments(self, parser) -> None:
        if self.needs_collection:
            parser.add_argument("--collection", required=True)
        self.add_endpoint_arguments(parser)
        parser.add_argument("--timeout", type=float, default=settings.HARDQ_LLM_TIMEOUT, help="seconds per call")
        parser.add_argument("--max-attempts", type=int, default=5)
        parser.add_argument("--rate-limit", type=float, default=0.0, help="calls per second, 0 = unlimited")
        parser.add_argument("--param", action="append", default=[], help="request parameter key=value (JSON value)")
        parser.add_argument("--limit", type=int)
        parser.add_argument("--concurrency", type=int, default=settings.HARDQ_LLM_CONCURRENCY, help="calls in flight")
        parser.add_argument("--runners", type=int, default=1, help="Celery tasks sharing the job (concurrency is split)")
        parser.add_argument("--assessor", default="", help="assessor name (default <model>-<template>-v<version>)")
        parser.add_argument("--json", action="store_true", help="print one JSON object with the counts")
        parser.add_argument("--no-wait", action="store_true", help="with a broker: enqueue and return")
        parser.add_argument(
            "--batch", action="store_true",
            help="batch mode: write the requests as OpenAI Batch JSONL, upload them (files API) and create a batch "
                 "with the 24 h window; answers are read by the poll_llm_batches task (celery beat) or "
                 "`manage.py poll_batches`; cached calls are not sent",
        )
        parser.add_argument("--price-input", type=float, help="the endpoint's price per 1M input tokens")
        parser.add_argument("--price-output", type=float, help="the endpoint's price per 1M output tokens")
        parser.add_argument("--batch-discount", type=float,
                            help="fraction off the price for batch-mode calls, e.g. 0.5 (half price)")

    def endpoint(self, options, *, prefix: str = "", supports_logprobs: bool | None = None) -> Endpoint:
        p = prefix.replace("-", "_")
        try:
            return services.endpoint_get_or_create(
                base_url=options[f"{p}base_url"], model=options[f"{p}model"], api_key_env=options[f"{p}api_key_env"],
                timeout=options["timeout"], max_attempts=options["max_attempts"], rate_limit=options["rate_limit"],
                parameters=parse_params(options["param"]), supports_logprobs=supports_logprobs,
                **({} if prefix else {k: options.get(k) for k in ("price_input", "price_output", "batch_discount")}),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc

    def collection(self, options) -> Collection:
        collection = corpus_selectors.collection_get(name=options["collection"])
        if collection is None:
            raise CommandError(f"no collection {options['collection']!r}")
        return collection

    def run_job(self, job: LLMJob, options) -> LLMJob:
        if options.get("batch"):
            job = services.job_batch_enable(job=job)
        if job.batch:
            return self.send_batch(job)
        bar = tqdm(total=job.total, desc=f"job {job.pk} {job.kind}", unit="item", disable=None)

        def show(j: LLMJob) -> None:
            bar.n = j.done + j.invalid + j.failed
            bar.set_postfix(invalid=j.invalid, failed=j.failed, calls=j.calls, cached=j.cached, tokens=j.tokens)
            bar.refresh()

        try:
            # The task's own Celery app says whether tasks run in this process.
            if run_llm_job.app.conf.task_always_eager:
                # What the task would run, here, with the bar told after every batch.
                runner.job_run(job_id=job.pk, on_progress=show)
            else:
                services.job_start(job=job)
                if options.get("no_wait"):
                    self.stdout.write(f"job {job.pk} enqueued")
                    return job
                while True:
                    job.refresh_from_db()
                    show(job)
                    if job.status in (LLMJob.DONE, LLMJob.FAILED, LLMJob.CANCELLED):
                        break
                    time.sleep(1.0)
        finally:
            bar.close()
        job.refresh_from_db()
        return job

    def send_batch(self, job: LLMJob) -> LLMJob:
        """Batch mode: the first step (what is cached is written at once, the rest sent)."""
        if run_llm_job.app.conf.task_always_eager:
            batch.job_batch_step(job_id=job.pk)
        else:
            services.job_start(job=job)
        job.refresh_from_db()
        return job

    def report(self, job: LLMJob, options, **extra) -> None:
        data = selectors.job_progress(job=job).as_json()
        data.update({"job": job.pk, "judged": job.done, "cost": selectors.job_cost(job=job), **extra})
        if job.batch:
            data["batches"] = selectors.job_batches(job=job)
        if options["json"]:
            self.stdout.write(json.dumps(data, default=str))
        else:
            self.stdout.write(
                f"job {job.pk} {job.status}: {job.done} done, {job.invalid} invalid, {job.failed} failed of {job.total}; "
                f"{job.calls} calls, {job.cached} cached, {job.tokens} tokens"
                + (f" (assessor {job.assessor.name})" if job.assessor_id else "")
            )
            for b in data.get("batches", []):
                self.stdout.write(f"  batch {b['id']} {b['status']}: {b['total']} requests, {b['completed']} completed, "
                                  f"{b['failed']} failed")
            if job.batch and job.status == LLMJob.RUNNING:
                self.stdout.write("  answers are read by the poll_llm_batches task (celery beat) or `manage.py poll_batches`")
        if job.status == LLMJob.FAILED:
            raise CommandError(f"job {job.pk} failed: {job.error}")

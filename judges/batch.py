"""Batch mode: a job's calls sent through the endpoint's Batch API instead of one by one.

The requests are written as OpenAI Batch JSONL (one line per call: ``custom_id`` = the
call's cache key, ``method``, ``url`` and ``body``, the body exactly what the online
client posts, ``client.completion_body``), uploaded with the files API (purpose
``batch``) and sent as a batch with the 24 h completion window. OpenAI's Batch API
reads this format, and so does vLLM's batch runner.

A batch-mode job moves in steps (``job_batch_step``): the ``run_llm_job`` task runs the
first one when the job starts (or resumes), the periodic ``poll_llm_batches`` task
(celery beat, ``CELERY_BEAT_SCHEDULE``) the next ones. One step, under the job row's
lock (``select_for_update(skip_locked=True)``: a second step of the same job at the same
time is skipped, so nothing is sent twice):

1. refresh the job's open batches from the endpoint (status, counts, file ids);
2. read the output and error files of the batches that ended and were not read yet;
3. run the job's unfinished items through :class:`BatchRunner`, a ``JobRunner`` whose
   engine sends nothing, so everything else is the online path: the same plan, cache
   keys, parsing, invalid handling, logprobs and kind handler writes. A call a batch
   line answered is received as an online answer is (an ``LLMCall`` with its tokens
   and logprobs, ``batch`` set); a cached one is cached (and not sent: a rerun makes
   no call); an error line is one failed attempt, audited and sent again in the next
   batch until the endpoint's ``max_attempts`` (a client error such as a 400 at once),
   then the item fails with it, as online; a call in a batch still open waits; any
   other call (never sent, left unanswered by a batch that expired or was cancelled,
   the next step of a cascade or of a refinement) goes into the next batch;
4. upload the new requests and create their batches (per endpoint, at most
   ``HARDQ_LLM_BATCH_MAX_REQUESTS`` lines each).

The job is done when no item is unfinished and no batch is open. Cancelling a job
cancels its open batches (``job_batches_cancel``); resuming it reads what they answered
and sends the rest. A whole batch the endpoint refused (status ``failed``) fails the
job with its reason; resume sends its requests again.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
from typing import Any, Final

import openai
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from judges import endpoint_policy
from judges.client import (
    CallEngine,
    CallOutcome,
    CallRequest,
    EndpointConfig,
    TransientBodyError,
    completion_body,
    read_completion,
)
from judges.models import Endpoint, LLMBatch, LLMCall, LLMJob, LLMJobItem
from judges.runner import JobRunner, ProgressCallback, job_finish, job_mark_running

log = logging.getLogger(__name__)

CHAT_URL: Final = "/v1/chat/completions"
COMPLETION_WINDOW: Final = "24h"
# Status codes worth another attempt, as the online client's retries (judges.client).
RETRYABLE_STATUS = {408, 429}


def max_requests() -> int:
    """Lines per batch (OpenAI takes at most 50,000)."""
    return int(getattr(settings, "HARDQ_LLM_BATCH_MAX_REQUESTS", 0) or 50_000)


def endpoint_client(endpoint: Endpoint) -> openai.OpenAI:
    """The SDK's client for the endpoint's files and batches (the operator's rules first)."""
    config = EndpointConfig(
        key=endpoint.pk, base_url=endpoint.base_url, model=endpoint.model, api_key_env=endpoint.api_key_env,
        timeout=endpoint.timeout, max_attempts=endpoint.max_attempts,
    )
    if refusal := config.refusal():
        raise endpoint_policy.EndpointRefused(refusal)
    # Uploads and downloads of whole files take longer than one chat call.
    return openai.OpenAI(
        base_url=endpoint.base_url, api_key=config.api_key(), timeout=max(endpoint.timeout, 120.0),
        max_retries=max(0, endpoint.max_attempts - 1),
    )


# --- reading a batch's files ---------------------------------------------------------------
class LineError(Exception):
    """A batch line without a usable answer; ``retryable`` as the online client would."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def read_line(line: dict[str, Any]) -> CallOutcome:
    """The outcome of one line of an output or error file, or LineError.

    Lines come as ``{"custom_id", "response": {"status_code", "body"}, "error"}``; a line
    the endpoint gave up on has ``response`` null and ``error`` ``{"code", "message"}``.
    """
    error, response = line.get("error"), line.get("response")
    if error:
        code = str(error.get("code") or "error") if isinstance(error, dict) else "error"
        message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
        if code in ("batch_expired", "batch_cancelled"):
            # Not an attempt that failed but one never made: an empty message says so.
            raise LineError("", retryable=True)
        raise LineError(f"batch line {code}: {message}"[:300], retryable=True)
    if not isinstance(response, dict):
        raise LineError("batch line without response", retryable=True)
    status = int(response.get("status_code") or 0)
    body = response.get("body")
    if status != 200:
        message = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = str(body["error"].get("message") or "")
        raise LineError(f"batch line {status}: {message}"[:300], retryable=status in RETRYABLE_STATUS or status >= 500)
    outcome = CallOutcome(attempts=1)
    try:
        read_completion(body, outcome)
    except TransientBodyError as exc:
        raise LineError(str(exc), retryable=True) from None
    return outcome


def file_lines(client: openai.OpenAI, file_id: str) -> list[dict[str, Any]]:
    if not file_id:
        return []
    text = client.files.content(file_id).text
    lines = []
    for raw in text.splitlines():
        if raw.strip():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                log.warning("unreadable line in batch file %s: %r", file_id, raw[:200])
    return lines


class Ingested:
    """What the ended batches said: answers, final failures, and errors worth another batch."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[CallOutcome, int]] = {}  # cache key -> outcome (final), batch pk
        self.retries: dict[str, tuple[str, int]] = {}  # cache key -> error of this attempt, batch pk
        self.prior_errors: dict[str, int] = {}  # cache key -> failed batch attempts already audited


def batches_ingest(*, job_id: int, batches: list[LLMBatch]) -> Ingested:
    """Download the output and error files of ended batches and sort their lines."""
    found = Ingested()
    lines: list[tuple[dict[str, Any], LLMBatch]] = []
    for batch in batches:
        if batch.endpoint is None:
            continue
        client = endpoint_client(batch.endpoint)
        for name in ("output_file_id", "error_file_id"):
            lines.extend((line, batch) for line in file_lines(client, getattr(batch, name)))
    keys = {str(line.get("custom_id")) for line, _ in lines}
    found.prior_errors = dict(
        LLMCall.objects.filter(job_id=job_id, cache_key__in=keys, batch__isnull=False).exclude(error="")
        .values("cache_key").order_by().annotate(n=Count("id")).values_list("cache_key", "n")
    )
    counts: dict[int, list[int]] = {b.pk: [0, 0] for b in batches}
    for line, batch in lines:
        key = str(line.get("custom_id"))
        prior = found.prior_errors.get(key, 0)
        try:
            outcome = read_line(line)
        except LineError as exc:
            counts[batch.pk][1] += 1
            if not str(exc):  # expired or cancelled before it was asked: simply sent again
                continue
            max_attempts = max(1, batch.endpoint.max_attempts if batch.endpoint else 1)
            if exc.retryable and prior + 1 < max_attempts:
                found.retries[key] = (str(exc), batch.pk)
            else:
                found.answers[key] = (CallOutcome(error=str(exc), attempts=prior + 1), batch.pk)
            continue
        counts[batch.pk][0] += 1
        outcome.attempts = prior + 1
        found.answers[key] = (outcome, batch.pk)
    for batch in batches:
        batch.answered, batch.errors = counts[batch.pk]
    return found


# --- the step's runner ---------------------------------------------------------------------
class BatchEngine(CallEngine):
    """The runner's engine in batch mode: keeps each request, sends nothing."""

    def __init__(self) -> None:  # no event loop, no client: nothing is called from here
        self.requests: dict[concurrent.futures.Future, CallRequest] = {}

    def submit(self, request: CallRequest) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.requests[future] = request
        return future

    def close(self) -> None:
        self.requests.clear()


class BatchRunner(JobRunner):
    """A ``JobRunner`` whose calls are answered by batch lines or queued for the next batch."""

    def __init__(
        self, job_id: int, *, ingested: Ingested, in_flight: set[str], on_progress: ProgressCallback | None = None,
    ) -> None:
        super().__init__(job_id, on_progress=on_progress)
        self.engine = BatchEngine()
        self.batch_engine = self.engine
        self.ingested = ingested
        self.in_flight = in_flight
        self.to_send: dict[int, dict[str, dict[str, Any]]] = {}  # endpoint pk -> cache key -> body
        self.answered_by: dict[str, int] = {}  # cache key -> the batch that answered it

    def step(self) -> None:
        """Every unfinished item once: answered, failed, or its calls queued."""
        seen: set[int] = set()
        while True:
            items = [item for item in self.claim(1000) if item.pk not in seen]
            if not items:
                break
            seen.update(item.pk for item in items)
            self.start_items(items)
            self.settle()
            self.flush()
            # Items still waiting for an answer keep their claim until ``release``.
            self.states.clear()
        self.flush()
        self.release()

    def settle(self) -> None:
        """Answer what the ended batches answered; queue or leave waiting the rest."""
        while True:
            for future, call in [(f, c) for f, c in self.futures.items() if not f.done()]:
                request = self.batch_engine.requests.pop(future)
                answer = self.ingested.answers.get(call.key)
                if answer is not None:
                    self.answered_by[call.key] = answer[1]
                    future.set_result(answer[0])
                    continue
                del self.futures[future]
                self.waiting.pop(call.key, None)
                retry = self.ingested.retries.pop(call.key, None)
                if retry is not None:
                    self.audit_failed_attempt(call.key, call, request, error=retry[0], batch_id=retry[1])
                if call.key not in self.in_flight:
                    self.to_send.setdefault(call.endpoint.pk, {})[call.key] = completion_body(call.endpoint.model, request)
            done = [f for f in self.futures if f.done()]
            if not done:
                return
            for future in done:
                self.receive(future)

    def audit_failed_attempt(self, key: str, call: Any, request: CallRequest, *, error: str, batch_id: int) -> None:
        """An error line worth another batch: one failed attempt in the audit trail, as online."""
        self.new_calls.append(LLMCall(
            cache_key=key, job_id=self.job.pk, endpoint_id=call.endpoint.pk, model=call.endpoint.model,
            template_hash=self.job.template.content_hash, sample=call.sample, stage=call.stage,
            request=completion_body(call.endpoint.model, request), error=error, attempts=1, batch_id=batch_id,
        ))
        self.delta["calls"] += 1
        self._stage(call.stage)["calls"] += 1

    def receive(self, future: concurrent.futures.Future) -> None:
        call = self.futures[future]
        outcome: CallOutcome = future.result()
        # The earlier failed attempts were counted when they were audited.
        prior = max(0, outcome.attempts - 1)
        before = len(self.new_calls)
        super().receive(future)
        self.delta["calls"] -= prior
        self._stage(call.stage)["calls"] -= prior
        for row in self.new_calls[before:]:
            row.batch_id = self.answered_by.get(call.key)


# --- talking to the Batch API --------------------------------------------------------------
def batch_refresh(batch: LLMBatch) -> None:
    """Read the remote batch's status, counts and file ids (an unreachable endpoint: next poll)."""
    if batch.endpoint is None:
        return
    try:
        remote = endpoint_client(batch.endpoint).batches.retrieve(batch.remote_id)
    except openai.APIError as exc:
        log.warning("batch %s of job %s not refreshed: %s", batch.remote_id, batch.job_id, exc)
        return
    batch.status = remote.status
    counts = remote.request_counts
    if counts is not None:
        batch.completed, batch.failed = counts.completed, counts.failed
    batch.output_file_id = remote.output_file_id or ""
    batch.error_file_id = remote.error_file_id or ""
    if remote.errors is not None and remote.errors.data:
        batch.error = "; ".join(f"{e.code}: {e.message}" for e in remote.errors.data)[:2000]
    if not batch.is_open and batch.finished_at is None:
        batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "completed", "failed", "output_file_id", "error_file_id", "error", "finished_at"])


def batch_create(*, job: LLMJob, endpoint: Endpoint, bodies: dict[str, dict[str, Any]]) -> LLMBatch:
    """Upload one JSONL file of requests and create its batch."""
    client = endpoint_client(endpoint)
    data = "".join(
        json.dumps({"custom_id": key, "method": "POST", "url": CHAT_URL, "body": body}, ensure_ascii=False) + "\n"
        for key, body in bodies.items()
    ).encode("utf-8")
    uploaded = client.files.create(file=(f"hardq-job-{job.pk}.jsonl", data, "application/jsonl"), purpose="batch")
    remote = client.batches.create(
        input_file_id=uploaded.id, endpoint=CHAT_URL, completion_window=COMPLETION_WINDOW,
        metadata={"hardq_job": str(job.pk)},
    )
    return LLMBatch.objects.create(
        job=job, endpoint=endpoint, remote_id=remote.id, input_file_id=uploaded.id, status=remote.status,
        custom_ids=list(bodies), total=len(bodies),
    )


# --- a step, start to end (the body of the ``run_llm_job`` task for a batch-mode job) ------
def job_batch_step(*, job_id: int, on_progress: ProgressCallback | None = None) -> LLMJob | None:
    """One step of a batch-mode job (see the module docstring); None when it must not run
    (done, cancelled, or another step holds the job). Idempotent."""
    if not job_mark_running(job_id=job_id):
        return None
    refused = ""
    try:
        with transaction.atomic():
            job = LLMJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
            if job is None or job.status != LLMJob.RUNNING:
                return None
            batches = list(LLMBatch.objects.filter(job_id=job_id).select_related("endpoint"))
            for batch in batches:
                if batch.is_open:
                    batch_refresh(batch)
            ended = [b for b in batches if not b.is_open and not b.ingested]
            for batch in ended:
                if batch.status == "failed":
                    refused = f"batch {batch.remote_id} failed: {batch.error or 'refused by the endpoint'}"
            ingested = batches_ingest(job_id=job_id, batches=ended)
            for batch in ended:
                batch.ingested = True
                batch.save(update_fields=["ingested", "answered", "errors"])
            if not refused:
                in_flight = {key for b in batches if b.is_open for key in b.custom_ids}
                runner = BatchRunner(job_id, ingested=ingested, in_flight=in_flight, on_progress=on_progress)
                runner.step()
                endpoints = {e.pk: e for e in Endpoint.objects.filter(pk__in=list(runner.to_send))}
                for endpoint_id, bodies in runner.to_send.items():
                    keys = list(bodies)
                    for start in range(0, len(keys), max_requests()):
                        chunk = {k: bodies[k] for k in keys[start:start + max_requests()]}
                        batch_create(job=job, endpoint=endpoints[endpoint_id], bodies=chunk)
    except Exception as exc:
        job_finish(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    if refused:
        return job_finish(job_id=job_id, error=refused)
    if not LLMBatch.objects.filter(job_id=job_id, status__in=LLMBatch.OPEN).exists() and not (
        LLMJobItem.objects.filter(job_id=job_id).exclude(status__in=LLMJobItem.FINISHED).exists()
    ):
        return job_finish(job_id=job_id)
    return LLMJob.objects.get(pk=job_id)


def job_batches_cancel(*, job_id: int) -> None:
    """Cancel the job's open batches at the endpoint (a cancelling one: read its status)."""
    for batch in LLMBatch.objects.filter(job_id=job_id, status__in=LLMBatch.OPEN).select_related("endpoint"):
        if batch.status == "cancelling" or batch.endpoint is None:
            batch_refresh(batch)
            continue
        try:
            remote = endpoint_client(batch.endpoint).batches.cancel(batch.remote_id)
        except openai.APIError as exc:
            log.warning("batch %s of job %s not cancelled: %s", batch.remote_id, job_id, exc)
            continue
        batch.status = remote.status
        if not batch.is_open:
            batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "finished_at"])

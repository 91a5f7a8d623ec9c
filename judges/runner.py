"""Running an LLM job: claim items, ask (or read the cache), parse, write in batches.

One runner works on one job inside one Celery task. Several runners work on the same
job at once when the job fans out (``job.runners`` tasks, taken by as many Celery
worker processes on one or many machines sharing the broker and the database), or
when a resumed task meets a redelivered one. Each claims items in batches with
``select_for_update(skip_locked=True)`` and a lease (``claimed_by`` = the worker's
name, its process id and a token; ``claimed_until``), so no two runners hold the same
item, and renews the lease while it works. A runner killed with ``kill -9`` leaves its
claims to expire, then another runner claims them; everything it wrote is committed
per batch (a flush, every ``FLUSH_SECONDS``):

- every answered call is in ``LLMCall`` (the cache) as soon as its batch is flushed,
  so a restarted runner re-asks nothing that was written: a kill repeats at most the
  calls in flight and those answered since the last flush;
- items are marked finished in the same transaction as their outputs (Judgment ...)
  and as the job's counters (``F()`` increments), and only items the runner still
  holds: a runner that lost its lease (it stalled longer than the lease, another took
  the item) writes nothing for them, so each item is finished once and the counters
  equal the items' statuses.

How many items a runner holds is what it gets through in ``BUFFER_SECONDS`` (at least
twice its calls in flight, measured from its own rate): enough to keep every slot busy between two claims, few
enough that the last items of a job are not all held by one runner while the others
idle (a slow endpoint), and that a kill leaves little to wait for.

The calls themselves run on the :class:`judges.client.CallEngine` thread, so database
writes here overlap with the calls in flight.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import queue
import socket
import time
import uuid
from datetime import timedelta
from typing import Any, Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from judges import parsing
from judges.client import CallEngine, CallOutcome, CallRequest, EndpointConfig
from judges.job_state import ItemState, PlannedCall
from judges.handlers import handler_for
from judges.models import LLMCall, LLMJob, LLMJobItem

# Told of the job's counters after each flushed batch (a command's progress bar).
ProgressCallback = Callable[[LLMJob], None]


def lease_seconds() -> float:
    return float(getattr(settings, "HARDQ_LLM_LEASE_SECONDS", 0) or 120)


def request_parameters(call: PlannedCall) -> dict[str, Any]:
    """What a call sends besides model and messages: the endpoint's parameters, and for a
    judge call on an endpoint that supports them ``logprobs``/``top_logprobs``.

    The logprobs flags are not part of the cache key (``cache_key`` takes the endpoint's
    parameters only): they do not change the answer, and a cached answer keeps serving
    (with the probabilities it was stored with, or none).
    """
    if call.token_grade is None or not call.endpoint.supports_logprobs:
        return call.parameters
    top = int(getattr(settings, "HARDQ_LLM_TOP_LOGPROBS", 5) or 5)
    return {**call.parameters, "logprobs": True, "top_logprobs": top}


def cache_key(*, model: str, template_hash: str, parameters: dict, sample: int, inputs: dict) -> str:
    """sha256 of (model, template hash, parameters, sample index, inputs), canonical JSON."""
    payload = json.dumps([model, template_hash, parameters, sample, inputs], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class JobRunner:
    """Runs one job to completion (or until cancelled). See the module docstring."""

    FLUSH_SECONDS = 0.25
    # A flush with nothing to write is skipped; the heartbeat (and the cancel check) still
    # runs this often.
    HEARTBEAT_SECONDS = 2.0
    CLAIM_RETRY_SECONDS = 1.0
    BUFFER_SECONDS = 1.0
    MAX_CLAIM = 1000

    def __init__(
        self, job_id: int, *, on_progress: ProgressCallback | None = None, worker: str = "",
    ) -> None:
        self.on_progress = on_progress
        self.job = LLMJob.objects.select_related("endpoint", "endpoint2", "template", "collection", "assessor").get(
            pk=job_id
        )
        # Who holds a claim, readable in the admin: the Celery worker's name (or the host),
        # the process, and a token of this run (two runs in one process never share claims).
        self.token = f"{(worker or socket.gethostname())[:40]}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        self.handler = handler_for(self.job)
        endpoints = [self.job.endpoint] + ([self.job.endpoint2] if self.job.endpoint2_id else [])
        self.engine_configs = [
            EndpointConfig(
                key=e.pk, base_url=e.base_url, model=e.model, api_key_env=e.api_key_env,
                timeout=e.timeout, max_attempts=e.max_attempts, rate_limit=e.rate_limit,
            )
            for e in endpoints
        ]
        self.concurrency = max(1, self.job.concurrency // max(1, self.job.runners))
        self.high_water = 2 * self.concurrency  # then follows the measured rate (buffer_target)
        self.started = 0.0
        self.finished_count = 0
        self.last_renewal = 0.0
        self.states: dict[int, ItemState] = {}
        self.waiting: dict[str, list[PlannedCall]] = {}  # cache key -> calls waiting for it
        self.futures: dict[concurrent.futures.Future, PlannedCall] = {}
        # Answered calls, put here by the engine's thread: one queue read per answer,
        # where waiting on every pending future costs in proportion to their number.
        self.completed: queue.SimpleQueue[concurrent.futures.Future] = queue.SimpleQueue()
        self.finished: list[ItemState] = []
        self.new_calls: list[LLMCall] = []
        self.delta = {"calls": 0, "cached": 0, "tokens": 0}
        self.stage_delta: dict[str, dict[str, int]] = {}

    # --- claiming -----------------------------------------------------------------
    def claim(self, limit: int) -> list[LLMJobItem]:
        now = timezone.now()
        with transaction.atomic():
            ids = list(
                LLMJobItem.objects.select_for_update(skip_locked=True)
                .filter(job_id=self.job.pk)
                .filter(Q(status=LLMJobItem.PENDING) | Q(status=LLMJobItem.CLAIMED, claimed_until__lt=now))
                .order_by("id")
                .values_list("id", flat=True)[:limit]
            )
            if not ids:
                return []
            LLMJobItem.objects.filter(pk__in=ids).update(
                status=LLMJobItem.CLAIMED, claimed_by=self.token, claimed_until=now + timedelta(seconds=lease_seconds())
            )
        return list(LLMJobItem.objects.filter(pk__in=ids).order_by("id"))

    def buffer_target(self) -> int:
        """How many items to hold: ``BUFFER_SECONDS`` of this runner's measured rate, at
        least twice its calls in flight, at most ``MAX_CLAIM``."""
        elapsed = time.monotonic() - self.started if self.started else 0.0
        if elapsed < 2.0:  # not measured yet
            return min(2 * self.concurrency, self.MAX_CLAIM)
        rate = self.finished_count / elapsed
        return min(max(2 * self.concurrency, int(rate * self.BUFFER_SECONDS)), self.MAX_CLAIM)

    def renew_leases(self, *, force: bool = False) -> None:
        """Push the lease of the held items forward, every quarter of a lease (claims
        start with a whole lease), so a live runner never loses them."""
        now = time.monotonic()
        if not self.states or (not force and now - self.last_renewal < lease_seconds() / 4):
            return
        self.last_renewal = now
        LLMJobItem.objects.filter(pk__in=list(self.states), claimed_by=self.token).update(
            claimed_until=timezone.now() + timedelta(seconds=lease_seconds())
        )

    def unfinished_elsewhere(self) -> int:
        return LLMJobItem.objects.filter(job_id=self.job.pk).exclude(status__in=LLMJobItem.FINISHED).count()

    # --- planning and calling -----------------------------------------------------------
    def start_items(self, items: list[LLMJobItem]) -> None:
        contexts = self.handler.contexts(self, items)
        new_states = []
        for item in items:
            state = ItemState(item=item, context=contexts.get(item.pk, {}))
            self.states[item.pk] = state
            new_states.append(state)
        self.plan(new_states)

    def plan(self, states: list[ItemState]) -> None:
        """Plan each state's current step; answer from the cache or send the calls."""
        planned: list[PlannedCall] = []
        for state in states:
            calls = self.handler.plan(self, state) if not state.status else []
            state.calls = calls
            for call in calls:
                call.item_id = state.item.pk
                call.parameters = dict(call.endpoint.parameters or {})
                call.key = cache_key(
                    model=call.endpoint.model, template_hash=self.job.template.content_hash,
                    parameters=call.parameters, sample=call.sample, inputs=call.inputs,
                )
                planned.append(call)
            if not calls and not state.status:
                state.finish(LLMJobItem.FAILED, error="nothing to ask")
        hits = {
            key: (raw, logprobs)
            for key, raw, logprobs in LLMCall.objects.filter(cache_key__in={c.key for c in planned}, error="").values_list(
                "cache_key", "raw_response", "logprobs"
            )
        }
        for call in planned:
            if call.key in hits:
                raw, alternatives = hits[call.key]
                self.answer(call, raw, cached=True, alternatives=alternatives)
            elif call.key in self.waiting:
                # The same question is already in flight (identical texts under two ids):
                # ask once, answer both.
                self.waiting[call.key].append(call)
            else:
                self.waiting[call.key] = [call]
                request = CallRequest(
                    endpoint=call.endpoint.pk, messages=call.messages(), parameters=request_parameters(call)
                )
                future = self.engine.submit(request)
                self.futures[future] = call
                future.add_done_callback(self.completed.put)
        for state in states:
            self.advance(state)

    def answer(
        self, call: PlannedCall, content: str | None, *, cached: bool, error: str = "",
        tokens: list[dict[str, Any]] | None = None, alternatives: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record a call's answer: its text parsed, and for a judge call the alternatives at
        the grade token (read from the endpoint's ``tokens``, or as cached)."""
        call.content = content
        call.error = error
        call.cached = cached
        call.parsed = call.parser(content) if content is not None else None
        if call.token_grade is not None and call.parsed is not None and call.parsed.valid:
            if tokens is not None:
                alternatives = parsing.answer_token_alternatives(
                    tokens, value=call.parsed.value, token_grade=call.token_grade
                )
            call.alternatives = alternatives
        if cached:
            self.delta["cached"] += 1
            self._stage(call.stage)["cached"] += 1

    def _stage(self, stage: int) -> dict[str, int]:
        return self.stage_delta.setdefault(f"stage{stage}", {"calls": 0, "cached": 0, "tokens": 0})

    def receive(self, future: concurrent.futures.Future) -> None:
        call = self.futures.pop(future)
        outcome: CallOutcome = future.result()
        waiters = self.waiting.pop(call.key, [call])
        self.delta["calls"] += outcome.attempts
        self.delta["tokens"] += outcome.prompt_tokens + outcome.completion_tokens
        stage = self._stage(call.stage)
        stage["calls"] += outcome.attempts
        stage["tokens"] += outcome.prompt_tokens + outcome.completion_tokens
        for n, waiter in enumerate(waiters):
            self.answer(waiter, outcome.content, cached=n > 0, error=outcome.error, tokens=outcome.logprobs)
        request = {"model": call.endpoint.model, "messages": call.messages(), **request_parameters(call)}
        common = dict(
            cache_key=call.key, job_id=self.job.pk, endpoint_id=call.endpoint.pk, model=call.endpoint.model,
            template_hash=self.job.template.content_hash, sample=call.sample, stage=call.stage, request=request,
        )
        for error, latency in outcome.failed_attempts:
            self.new_calls.append(LLMCall(**common, error=error, latency_ms=latency, attempts=1))
        self.new_calls.append(
            LLMCall(
                **common, raw_response=outcome.content or "", error=outcome.error,
                parsed=call.parsed.as_json() if call.parsed else None, logprobs=call.alternatives,
                prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens,
                latency_ms=outcome.latency_ms, attempts=outcome.attempts,
            )
        )
        for waiter in waiters:
            state = self.states.get(waiter.item_id)
            if state is not None:
                state.attempts += outcome.attempts if waiter is call else 0
                self.advance(state)

    def advance(self, state: ItemState) -> None:
        """When every call of the step is answered: absorb it, then plan the next step or finish."""
        if state.status or not state.answered() or not state.calls:
            if state.status and state.item.pk in self.states:
                self.finished.append(self.states.pop(state.item.pk))
            return
        more = self.handler.absorb(self, state)
        if more and not state.status:
            state.step += 1
            self.plan([state])
        elif state.item.pk in self.states:
            if not state.status:
                state.finish(LLMJobItem.FAILED, error="no result")
            self.finished.append(self.states.pop(state.item.pk))

    # --- writing -------------------------------------------------------------------------
    def flush(self) -> None:
        finished, self.finished = self.finished, []
        calls, self.new_calls = self.new_calls, []
        delta, self.delta = self.delta, {"calls": 0, "cached": 0, "tokens": 0}
        stage_delta, self.stage_delta = self.stage_delta, {}
        self.finished_count += len(finished)
        counts = {LLMJobItem.DONE: 0, LLMJobItem.INVALID: 0, LLMJobItem.FAILED: 0}
        with transaction.atomic():
            if calls:
                # ignore_conflicts: another runner may have cached the same answer meanwhile.
                LLMCall.objects.bulk_create(calls, ignore_conflicts=True, batch_size=500)
            if finished:
                # Only what this runner still holds: an item whose lease ran out while it
                # stalled may be another runner's now (or finished by it). The row locks
                # keep it so until the commit; a claim skips locked rows.
                held = set(
                    LLMJobItem.objects.select_for_update()
                    .filter(pk__in=[s.item.pk for s in finished], claimed_by=self.token, status=LLMJobItem.CLAIMED)
                    .values_list("pk", flat=True)
                )
                finished = [s for s in finished if s.item.pk in held]
            for state in finished:
                counts[state.status] += 1
                item = state.item
                item.status, item.result, item.error = state.status, state.result, state.error[:2000]
                item.attempts = min(state.attempts, 32767)
                item.claimed_until = None
            if finished:
                self.handler.write(self, finished)
                # An upsert on the primary key: one INSERT ... ON CONFLICT DO UPDATE per
                # batch, where bulk_update's CASE WHEN per field costs seconds per thousand.
                LLMJobItem.objects.bulk_create(
                    [s.item for s in finished], update_conflicts=True, unique_fields=["id"],
                    update_fields=["status", "result", "error", "attempts", "claimed_until"], batch_size=500,
                )
            job = LLMJob.objects.select_for_update().only("stats", "status").get(pk=self.job.pk)
            stats = job.stats or {}
            for stage, values in stage_delta.items():
                merged = stats.setdefault(stage, {"calls": 0, "cached": 0, "tokens": 0})
                for k, v in values.items():
                    merged[k] = merged.get(k, 0) + v
            LLMJob.objects.filter(pk=self.job.pk).update(
                done=F("done") + counts[LLMJobItem.DONE],
                invalid=F("invalid") + counts[LLMJobItem.INVALID],
                failed=F("failed") + counts[LLMJobItem.FAILED],
                calls=F("calls") + delta["calls"],
                cached=F("cached") + delta["cached"],
                tokens=F("tokens") + delta["tokens"],
                stats=stats,
                heartbeat_at=timezone.now(),
            )
        self.renew_leases()
        self.job.status = job.status
        self.last_flush = time.monotonic()
        if self.on_progress is not None:
            self.job.refresh_from_db(fields=["done", "invalid", "failed", "total", "calls", "cached", "tokens"])
            self.on_progress(self.job)

    # --- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        self.engine = CallEngine(
            self.engine_configs,
            concurrency=self.concurrency,
            backoff_base=float(getattr(settings, "HARDQ_LLM_BACKOFF_BASE", 0.5)),
            backoff_max=float(getattr(settings, "HARDQ_LLM_BACKOFF_MAX", 20.0)),
        )
        try:
            self._loop()
        finally:
            self.engine.close()

    def _receive_some(self, timeout: float) -> None:
        """Take the answers that came in (waiting up to ``timeout`` for the first)."""
        try:
            future = self.completed.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if future in self.futures:
                self.receive(future)
            try:
                future = self.completed.get_nowait()
            except queue.Empty:
                return

    def _loop(self) -> None:
        self.started = self.last_flush = time.monotonic()
        next_claim = 0.0
        while True:
            now = time.monotonic()
            if self.job.status == LLMJob.CANCELLED:
                self.release()
                return
            self.high_water = self.buffer_target()
            # Claim again once a quarter of the buffer (at least half a slot set) is gone:
            # a few claims per second, and calls always queued behind those in flight.
            deficit = self.high_water - len(self.states)
            if deficit >= max(1, self.concurrency // 2, self.high_water // 4) and now >= next_claim:
                items = self.claim(deficit)
                if items:
                    self.start_items(items)
                else:
                    next_claim = now + self.CLAIM_RETRY_SECONDS
            if self.futures:
                self._receive_some(0.05)
            self.renew_leases()
            since = time.monotonic() - self.last_flush
            if (since >= self.FLUSH_SECONDS and (self.finished or self.new_calls)) or len(self.finished) >= 500 \
                    or since >= self.HEARTBEAT_SECONDS:
                self.flush()
            if not self.futures and not self.states and time.monotonic() < next_claim:
                # The last claim found nothing to take: finished, or others hold the rest.
                self.flush()
                if not self.unfinished_elsewhere():
                    return
                # Items still leased by another (maybe dead) runner: wait for them to
                # finish or for their lease to expire, then claim them.
                time.sleep(self.CLAIM_RETRY_SECONDS)
                next_claim = 0.0
                self.job.refresh_from_db(fields=["status"])

    def release(self) -> None:
        """Give back the claims of a cancelled run (nothing in flight is written)."""
        LLMJobItem.objects.filter(job_id=self.job.pk, claimed_by=self.token, status=LLMJobItem.CLAIMED).update(
            status=LLMJobItem.PENDING, claimed_by="", claimed_until=None
        )


# --- a job's run, start to end (the body of the ``run_llm_job`` task) ----------------------
def job_run(*, job_id: int, on_progress: ProgressCallback | None = None, worker: str = "") -> LLMJob | None:
    """Run (or resume) one job to its end; None when it must not run (done or cancelled).

    Idempotent: finished items are skipped and answered calls come from the cache. A
    failure is recorded on the job, then raised again for Celery to log. ``worker``
    names the Celery worker in the claims (``claimed_by``); the host name by default.
    """
    if not job_mark_running(job_id=job_id):
        return None
    try:
        JobRunner(job_id, on_progress=on_progress, worker=worker).run()
    except Exception as exc:
        job_finish(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    return job_finish(job_id=job_id)


def job_mark_running(*, job_id: int) -> bool:
    """Mark a job running (first start keeps its started_at); False when it must not run."""
    updated = LLMJob.objects.filter(pk=job_id, status__in=[LLMJob.PENDING, LLMJob.RUNNING, LLMJob.FAILED]).update(
        status=LLMJob.RUNNING, heartbeat_at=timezone.now()
    )
    LLMJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=timezone.now())
    return bool(updated)


def job_finish(*, job_id: int, error: str = "") -> LLMJob:
    """Recount the job from its items (the truth, whatever runners added) and close it."""
    counts = dict(LLMJobItem.objects.filter(job_id=job_id).values_list("status").annotate(n=Count("id")))
    unfinished = sum(n for s, n in counts.items() if s not in LLMJobItem.FINISHED)
    fields: dict[str, Any] = {
        "done": counts.get(LLMJobItem.DONE, 0),
        "invalid": counts.get(LLMJobItem.INVALID, 0),
        "failed": counts.get(LLMJobItem.FAILED, 0),
    }
    qs = LLMJob.objects.filter(pk=job_id)
    if error:
        fields.update(status=LLMJob.FAILED, error=error[:5000], finished_at=timezone.now())
    elif not unfinished:
        fields.update(finished_at=timezone.now())
        qs.exclude(status=LLMJob.CANCELLED).update(status=LLMJob.DONE)
    qs.update(**fields)
    return LLMJob.objects.get(pk=job_id)

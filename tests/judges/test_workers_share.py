"""One job over two real Celery workers on the Redis broker, one of them killed mid-job.

Two ``celery worker`` processes (each its own process group, named ``share-a@host`` and
``share-b@host``) take the two tasks of a job with ``runners=2``; both claim and finish
items (``claimed_by`` names the worker). ``kill -9`` of one mid-job: its leases expire
(3 s here), the other claims what it held, and the job ends with every pair judged
once, the job's counters equal to its items at every moment they were read, and no call
repeated but those in flight or answered since the dead worker's last flush.
"""
from __future__ import annotations

import time
import uuid

import pytest
from django.db.models import Count, Q, Sum

from analysis.models import Judgment
from judges import selectors, services
from judges.models import LLMCall, LLMJob, LLMJobItem
from tests.judges.conftest import load_dl19
from tests.judges.fake_llm import FakeConfig, FakeLLMProcess, prompt_hash
from tests.judges.test_worker import kill9, start_worker, wait_for

PAIRS = 600
LATENCY = 0.3  # seconds per call: two workers x 4 in flight take about 25 s for the job
CONCURRENCY = 8  # in flight over both runners: 4 each


@pytest.fixture
def broker(celery_worker_broker):
    """The run's Redis broker, its queue and unacknowledged messages emptied before and after
    (the killed worker's task message is never acknowledged)."""
    import redis

    client = redis.Redis.from_url(celery_worker_broker)
    keys = ("celery", "unacked", "unacked_index")
    client.delete(*keys)
    yield celery_worker_broker
    client.delete(*keys)


def counters_and_items(job_id: int) -> dict[str, int]:
    """The job's counters and its items' statuses, read in one statement (one snapshot)."""
    return LLMJob.objects.filter(pk=job_id).annotate(
        n_done=Count("items", filter=Q(items__status=LLMJobItem.DONE)),
        n_invalid=Count("items", filter=Q(items__status=LLMJobItem.INVALID)),
        n_failed=Count("items", filter=Q(items__status=LLMJobItem.FAILED)),
    ).values("done", "invalid", "failed", "n_done", "n_invalid", "n_failed").get()


def finished_by(job_id: int, name: str) -> int:
    return LLMJobItem.objects.filter(
        job_id=job_id, status__in=LLMJobItem.FINISHED, claimed_by__startswith=f"{name}@"
    ).count()


def workers_ready(names: list[str]) -> bool:
    from hardq_site.celery import app

    replies = app.control.ping(timeout=1.0)
    answered = {host.split("@", 1)[0] for reply in replies for host in reply}
    return set(names) <= answered


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_a_job_and_one_is_killed_mid_job(paper_data, broker):
    collection = load_dl19(paper_data, max_pairs=PAIRS)
    tag = uuid.uuid4().hex[:6]
    a, b = f"share-a-{tag}", f"share-b-{tag}"
    snapshots: list[dict[str, int]] = []

    def progress(predicate) -> bool:
        snapshots.append(counters_and_items(job.pk))
        return predicate()

    with FakeLLMProcess(FakeConfig(latency=LATENCY)) as server:
        endpoint = services.endpoint_get_or_create(base_url=server.base_url, model="fake-share", timeout=10)
        template = selectors.template_resolve(prompt="graded", kinds=["graded"])
        job = services.job_create_judge(
            collection=collection, endpoint=endpoint, template=template, concurrency=CONCURRENCY, runners=2
        )
        workers = {a: start_worker(broker, a), b: start_worker(broker, b)}
        try:
            wait_for(lambda: workers_ready([a, b]), timeout=120, what="two workers to answer a ping")
            started = time.monotonic()
            services.job_start(job=job)  # autocommit: on_commit sends both tasks at once
            # Both workers judge pairs; then one dies mid-job.
            wait_for(lambda: progress(lambda: finished_by(job.pk, a) >= 40 and finished_by(job.pk, b) >= 40),
                     timeout=180, what="both workers to finish 40 pairs each")
            kill9(workers.pop(a))
            by_a = finished_by(job.pk, a)
            finished_before = {
                prompt_hash(r["messages"][-1]["content"])
                for r in LLMCall.objects.filter(job=job, error="").values_list("request", flat=True)
            }
            assert LLMJob.objects.get(pk=job.pk).finished_items < PAIRS  # the kill was mid-job
            wait_for(lambda: progress(lambda: LLMJob.objects.get(pk=job.pk).status == LLMJob.DONE),
                     timeout=240, what="the job to finish on the surviving worker")
            elapsed = time.monotonic() - started
        finally:
            for worker in workers.values():
                kill9(worker)
        stats = server.stats()

    job.refresh_from_db()
    items = job.items.all()
    # Every pair judged, once: one finished item and one judgment per pair.
    assert job.total == PAIRS == items.count()
    assert items.filter(status=LLMJobItem.DONE).count() == PAIRS  # no faults injected
    assert Judgment.objects.filter(assessor=job.assessor).count() == PAIRS
    assert Judgment.objects.filter(assessor=job.assessor, valid=True).values("query", "passage").distinct().count() == PAIRS
    # Both workers did part of it; the dead one's pairs stay as it wrote them, the rest is the survivor's.
    assert by_a >= 40 and finished_by(job.pk, a) == by_a
    assert finished_by(job.pk, b) == PAIRS - by_a
    # The progress counters equal the items' statuses whenever they were read (the counters
    # move in the transaction that finishes the items), and at the end.
    assert len(snapshots) >= 5
    for snap in snapshots:
        assert (snap["done"], snap["invalid"], snap["failed"]) == (snap["n_done"], snap["n_invalid"], snap["n_failed"])
    assert (job.done, job.invalid, job.failed) == (PAIRS, 0, 0)
    calls = LLMCall.objects.filter(job=job)
    assert job.calls == calls.count() and job.calls + job.cached >= PAIRS
    assert job.tokens == calls.aggregate(t=Sum("prompt_tokens") + Sum("completion_tokens"))["t"]
    # No call written before the kill was made again; the repeats are the dead worker's
    # calls in flight (4) and those it had answered since its last flush (a flush every
    # 0.25 s: at 4 calls per 0.3 s about 3, allowed up to a second's worth, 13).
    per_prompt = stats["per_prompt_requests"]
    assert all(per_prompt[h] == 1 for h in finished_before)
    repeated = [h for h, n in per_prompt.items() if n > 1]
    assert all(per_prompt[h] == 2 for h in repeated)
    assert len(repeated) <= CONCURRENCY // 2 + 13
    assert sum(per_prompt.values()) == job.calls + len(repeated)
    # Shared, the job went faster than one worker could have taken it (4 in flight, 0.3 s a call).
    assert elapsed < PAIRS / (CONCURRENCY // 2 / LATENCY)

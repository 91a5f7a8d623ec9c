"""A real Celery worker on Redis: kill -9 mid-job, restart, no finished call is repeated.

The worker runs as a subprocess (``celery -A hardq_site worker --pool=solo``) against the
pytest database (``django_db(transaction=True)`` so that it sees committed rows) and the
run's Redis broker (``CELERY_BROKER_URL``, with ``CELERY_TASK_ALWAYS_EAGER=1`` for the
other tests, as ``./hardq test`` sets them).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from analysis.models import Judgment
from judges import selectors, services
from judges.models import LLMCall, LLMJob, LLMJobItem
from tests.judges.conftest import load_dl19
from tests.judges.fake_llm import FakeConfig, FakeLLMProcess, prompt_hash

REPO = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


test_database_url.__test__ = False  # a helper, not a test


def start_worker(broker: str, name: str = "") -> subprocess.Popen:
    """A ``celery worker`` subprocess (its own process group) named ``name@<host>``."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "HARDQ_LLM_LEASE_SECONDS": "3",
        "HARDQ_LLM_BACKOFF_BASE": "0.01",
        "HARDQ_LLM_BACKOFF_MAX": "0.05",
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hardq_site", "worker", "--pool=solo", "--loglevel=WARNING",
         "-n", f"{name or 'judges-test-' + uuid.uuid4().hex[:8]}@%h"],
        cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def kill9(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)


def wait_for(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def broker(celery_worker_broker):
    """The run's Redis broker (CELERY_BROKER_URL), its default queue emptied first."""
    import redis

    redis.Redis.from_url(celery_worker_broker).delete("celery")  # no job message left from an earlier run
    return celery_worker_broker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_job_resumes_without_repeating_finished_calls(paper_data, broker):
    collection = load_dl19(paper_data, max_pairs=1500)
    with FakeLLMProcess(FakeConfig(latency=0.05)) as server:
        endpoint = services.endpoint_get_or_create(base_url=server.base_url, model="fake-worker", timeout=10)
        template = selectors.template_resolve(prompt="graded", kinds=["graded"])
        job = services.job_create_judge(collection=collection, endpoint=endpoint, template=template, concurrency=8)
        worker = start_worker(broker)
        try:
            services.job_start(job=job)  # autocommit: on_commit sends at once
            wait_for(lambda: LLMJob.objects.get(pk=job.pk).done >= 300, timeout=180, what="300 judged pairs")
            kill9(worker)

            # What the dead worker committed: these calls must never be made again.
            finished = {
                prompt_hash(r["messages"][-1]["content"])
                for r in LLMCall.objects.filter(job=job, error="").values_list("request", flat=True)
            }
            before = LLMJob.objects.get(pk=job.pk)
            assert before.status == LLMJob.RUNNING
            assert 300 <= before.done < 1500
            assert len(finished) >= before.done - 50  # identical texts share a call

            worker = start_worker(broker)  # a starting worker resumes jobs left running
            wait_for(lambda: LLMJob.objects.get(pk=job.pk).status == LLMJob.DONE, timeout=240, what="the job to finish")
        finally:
            kill9(worker)
        stats = server.stats()

    job.refresh_from_db()
    assert job.total == 1500
    assert job.done + job.invalid + job.failed == 1500
    assert job.done == 1500  # no faults injected
    assert not job.items.exclude(status=LLMJobItem.DONE).exists()
    per_prompt = stats["per_prompt_requests"]
    # No call that was answered and written before the kill was made again.
    assert all(per_prompt[h] == 1 for h in finished)
    # Only calls in flight (or answered but unwritten) at the kill were repeated.
    repeated = [h for h, n in per_prompt.items() if n > 1]
    assert not set(repeated) & finished
    assert len(repeated) <= 8 + 100
    assert Judgment.objects.filter(assessor=job.assessor, valid=True).count() == 1500

"""``POST /api/analyses/`` with a real Celery worker: the request only queues the job.

The worker is a subprocess (``celery -A hardq_site worker --pool=solo``) on the pytest
database (``django_db(transaction=True)``: it must see committed rows) and the run's
Redis broker; it is started after the POST, so the answer is necessarily the pending
analysis, and the client polls ``GET /api/analyses/{id}/`` as the README's example does.
"""
from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command

from analysis import hardness_services
from analysis.models import Collection, HardnessAnalysis
from tests.conftest import FIXTURES
from tests.judges.test_worker import kill9, start_worker


@pytest.fixture
def broker(celery_worker_broker):
    """The run's Redis broker, its default queue emptied first (no message of an earlier run)."""
    import redis

    redis.Redis.from_url(celery_worker_broker).delete("celery")
    return celery_worker_broker


def poll(api, analysis_id: int, *, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        analysis = api.get(f"/api/analyses/{analysis_id}/").json()
        if analysis["status"] not in ("pending", "running"):
            return analysis
        time.sleep(0.3)
    pytest.fail(f"analysis {analysis_id} still {analysis['status']} after {timeout}s")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_h2r_posted_to_the_api_is_computed_by_the_worker(broker, admin_api):
    call_command("import_bundle", str(FIXTURES / "dl19"), collection="dl19", stdout=io.StringIO(), no_progress=True)

    response = admin_api.post("/api/analyses/", {"task": "h2r", "collection": "dl19", "subject": "bm25"})
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["status"] == "pending" and started["result"] is None and started["threshold"] is None

    worker = start_worker(broker)
    try:
        analysis = poll(admin_api, started["id"], timeout=180)
    finally:
        kill9(worker)
    assert analysis["status"] == "done", analysis["error"]
    assert analysis["n_labels"] > 0

    # the oracle: the synchronous computation on the same data, in this process
    sync, outcome = hardness_services.h2r_analysis_run(collection=Collection.objects.get(name="dl19"), system="bm25")
    assert analysis["threshold"] == sync.threshold == outcome.threshold
    assert sorted(analysis["result"]["hard"]) == sorted(outcome.hard)
    assert analysis["result"]["per_query"] == hardness_services.analysis_outcome(analysis=sync)["per_query"]
    assert HardnessAnalysis.objects.filter(task="h2r", status="done").count() == 2

"""A lara budget campaign with a real Celery worker: annotators submit the first round
through the API, the last submit sends the round check on commit, and the worker adds
the next round (the calibrated one) while the request has long answered.

The worker is a subprocess on the pytest database (``django_db(transaction=True)``) and
the run's Redis broker, as in test_analysis_worker.py.
"""
from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import call_command

from annotation.models import BudgetPlan, Campaign
from tests.annotation.test_budget_campaigns import world  # noqa: F401  (the fixture)
from tests.judges.test_worker import kill9, start_worker


@pytest.fixture
def broker(celery_worker_broker):
    import redis

    redis.Redis.from_url(celery_worker_broker).delete("celery")
    return celery_worker_broker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_adds_lara_s_next_round_when_the_api_submits_the_last_item(broker, world, alice_api):  # noqa: F811
    out = io.StringIO()
    call_command("create_campaign", "--collection", "budgetcoll", "--kind", "relevance", "--annotators", "alice",
                 "--from-assessor", "llm-probs", "--budget", "8", "--select", "lara", "--round-size", "4", "--json",
                 stdout=out)
    campaign = Campaign.objects.get(pk=json.loads(out.getvalue())["campaign"])
    plan = BudgetPlan.objects.get(campaign=campaign)
    worker = start_worker(broker)
    try:
        for _ in range(4):
            lease = alice_api.post(f"/api/campaigns/{campaign.pk}/next/")
            assert lease.status_code == 200, lease.content
            body = lease.json()
            grade = world["truth"][(body["item"]["qid"], body["item"]["docid"])]
            submitted = alice_api.post(f"/api/assignments/{body['assignment']}/submit/", {"grade": grade},
                                       format="json")
            assert submitted.status_code == 200, submitted.content
        deadline = time.monotonic() + 120
        while plan.rounds.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        kill9(worker)
    rounds = list(plan.rounds.order_by("number"))
    assert [(r.number, r.size, r.selection) for r in rounds] == [(1, 4, "random"), (2, 4, "calibrated")]
    assert rounds[1].n_labels == 4 and campaign.items.count() == 8
    assert alice_api.post(f"/api/campaigns/{campaign.pk}/next/").status_code == 200  # the new round is open to her

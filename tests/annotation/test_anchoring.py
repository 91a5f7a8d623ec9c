"""An anchoring control: the LLM's grade shown on most items, hidden on a control share
(issue 14, item 7). Simulated annotators copy the LLM's grade when they see it and give
the official grade otherwise; the gap that follows is computed here with scikit-learn."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient
from sklearn.metrics import cohen_kappa_score

from annotation import services
from annotation.models import Campaign
from tests.annotation import factories as f

pytestmark = pytest.mark.django_db

N = 40
SHARE = 0.25


@pytest.fixture
def graded_pairs():
    """40 pairs with an official grade and a different-enough LLM grade (fixed pattern)."""
    coll, pairs = f.pairs_collection(n=N, name="anch")
    official, llm = f.official(), f.AssessorFactory(name="llm-anchor")
    grades = {}
    for i, (q, p) in enumerate(pairs):
        g_off, g_llm = (i * 3) % 4, (i * 3 + (i % 3 == 0)) % 4  # agree on two pairs of three
        f.JudgmentFactory(query=q, passage=p, assessor=official, grade=g_off)
        f.JudgmentFactory(query=q, passage=p, assessor=llm, grade=g_llm)
        grades[(q.qid, p.docid)] = (g_off, g_llm)
    return coll, pairs, llm, grades


def test_the_command_prints_the_control_items(graded_pairs, alice):
    coll, pairs, llm, grades = graded_pairs
    out = io.StringIO()
    call_command("create_campaign", "--collection", coll.name, "--kind", "relevance", "--from-assessor", llm.name,
                 "--limit", "12", "--show-llm-grade", "--control-share", "0.25", "--annotators", "alice", "--json",
                 stdout=out)
    body = json.loads(out.getvalue())
    campaign = Campaign.objects.get(pk=body["campaign"])
    assert body["control_items"] == 3 == campaign.items.filter(is_control=True).count()
    assert body["items"] == 12 and campaign.show_llm_grade and campaign.blind


def test_copying_annotators_give_the_gap_that_follows_from_the_data(graded_pairs, alice, bob, client, admin_user):
    coll, pairs, llm, grades = graded_pairs
    campaign = services.campaign_create(
        name="anchoring", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice, bob], overlap=2,
        pairs=[(q.qid, p.docid) for q, p in pairs], from_assessor=llm, show_llm_grade=True, control_share=SHARE,
    )
    control = set(campaign.items.filter(is_control=True).values_list("pk", flat=True))
    assert len(control) == round(SHARE * N)

    labels = []  # (shown, human, llm, official)
    for user in (alice, bob):
        api = APIClient()
        api.force_authenticate(user)
        client.force_login(user)
        for _ in range(N):
            body = api.post(f"/api/campaigns/{campaign.pk}/next/").json()
            item = body["item"]
            g_off, g_llm = grades[(item["qid"], item["docid"])]
            page = client.get(f"/annotation/campaigns/{campaign.pk}/").content.decode()
            shown = item["id"] not in control
            if shown:
                assert item["llm_grade"] == g_llm and f"graded this pair <strong>{g_llm}</strong>" in page
            else:  # a control item holds no LLM grade anywhere, as a blind campaign
                assert "llm_grade" not in item and "The LLM graded" not in page
                assert "llm-anchor" not in json.dumps(body) and "llm-anchor" not in page
            assert item["known_grades"] == [] and "data-grade-source" not in page
            grade = g_llm if shown else g_off  # the anchored annotator
            r = api.post(f"/api/assignments/{body['assignment']}/submit/", {"grade": grade}, format="json")
            assert r.status_code == 200, r.content
            labels.append((shown, grade, g_llm, g_off))

    arr = np.array(labels)
    expected = {}
    for name, mask in (("shown", arr[:, 0] == 1), ("control", arr[:, 0] == 0)):
        human, llm_g, off = arr[mask, 1], arr[mask, 2], arr[mask, 3]
        expected[name] = {
            "n": int(mask.sum()),
            "agreement_with_llm": float(np.mean(human == llm_g)),
            "kappa_with_llm": cohen_kappa_score(human, llm_g),
            "kappa_with_reference": cohen_kappa_score(human, off),
        }
    gap = {k: expected["shown"][k] - expected["control"][k] for k in ("agreement_with_llm", "kappa_with_llm")}
    assert 0 < gap["agreement_with_llm"] < 1 and gap["kappa_with_llm"] > 0  # the data has a gap to find

    admin = APIClient()
    admin.force_authenticate(admin_user)
    review = admin.get(f"/api/campaigns/{campaign.pk}/review/").json()["anchoring"]
    for name in ("shown", "control"):
        for key, value in expected[name].items():
            assert review[name][key] == pytest.approx(value), (name, key)
        lo, hi = review[name]["agreement_with_llm_ci"]
        assert lo <= review[name]["agreement_with_llm"] <= hi
    for key, value in gap.items():
        assert review["gap"][key] == pytest.approx(value), key
    lo, hi = review["gap"]["agreement_with_llm_ci"]
    assert lo <= gap["agreement_with_llm"] <= hi

    client.force_login(admin_user)
    page = client.get(f"/annotation/campaigns/{campaign.pk}/review/").content.decode()
    assert 'id="anchoring"' in page and f"{gap['agreement_with_llm']:.2f}" in page

    from annotation.report_params import ReportParams
    from annotation.reports import build_report

    built = build_report(ReportParams(collection=coll.name), with_effect=False)
    [entry] = built["anchoring"]
    assert entry["campaign"] == campaign.pk
    assert entry["anchoring"]["gap"]["kappa_with_llm"] == pytest.approx(gap["kappa_with_llm"])

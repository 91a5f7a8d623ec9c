"""Bad submits are refused with a field message (API 400, web form 422), never a 500,
and change nothing; reading the annotation screen never takes a lease."""
from __future__ import annotations

import pytest

from analysis.models import Judgment
from annotation import selectors, services
from annotation.models import AddedReason, Assignment, LabelHistory, ReasonVerdict
from tests.annotation.test_views import HX, reasons

pytestmark = pytest.mark.django_db


def digest():
    return (ReasonVerdict.objects.count(), AddedReason.objects.count(), LabelHistory.objects.count(),
            Judgment.objects.filter(assessor__kind="human").count(),
            sorted(Assignment.objects.values_list("pk", "status")))


@pytest.fixture
def lease(alice):
    campaign = reasons([alice], n_reasons=1)
    a = services.assignment_next(campaign=campaign, user=alice)
    return a, selectors.item_reason_ids(item=a.item, task="h2r")


API_CASES = [
    ("verdicts a string", lambda ids: {"verdicts": "agree"}, "verdicts"),
    ("verdict not agree/disagree/unsure", lambda ids: {"verdicts": {str(ids[0]): "maybe"}}, "verdicts"),
    ("unknown reason id", lambda ids: {"verdicts": {**{str(i): "agree" for i in ids}, "999999": "agree"}}, "verdicts"),
    ("reason id not a number", lambda ids: {"verdicts": {"abc": "agree"}}, "verdicts"),
    ("category abc", lambda ids: {"verdicts": {str(i): {"verdict": "agree", "category": "abc"} for i in ids}}, "verdicts"),
    ("category 10**30", lambda ids: {"verdicts": {str(i): {"verdict": "agree", "category": 10**30} for i in ids}}, "verdicts"),
    ("unknown category", lambda ids: {"verdicts": {str(i): {"verdict": "agree", "category": 999999} for i in ids}}, "verdicts"),
    ("added reasons a number", lambda ids: {"verdicts": {str(i): "agree" for i in ids}, "added_reasons": 5}, "added_reasons"),
    ("added reason not an object", lambda ids: {"verdicts": {str(i): "agree" for i in ids}, "added_reasons": [5]}, "added_reasons"),
]


@pytest.mark.parametrize("name,body,field", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_refuses_bad_submits_with_a_field_message(client, alice, lease, name, body, field):
    a, ids = lease
    client.force_login(alice)
    before = digest()
    r = client.post(f"/api/assignments/{a.pk}/submit/", body(ids), content_type="application/json")
    assert r.status_code == 400, r.content
    assert field in r.json()["error"]["details"] and r.json()["error"]["details"][field]
    assert digest() == before


WEB_CASES = [
    ("category abc", lambda ids: {f"verdict_{ids[0]}": "agree", f"category_{ids[0]}": "abc"}, "not a known category"),
    ("category 10**30", lambda ids: {f"verdict_{ids[0]}": "agree", f"category_{ids[0]}": str(10**30)},
     "not a known category"),
    ("unknown category", lambda ids: {**{f"verdict_{i}": "agree" for i in ids}, f"category_{ids[0]}": "999999"},
     "not one of the failure categories"),
    ("bad verdict", lambda ids: {f"verdict_{ids[0]}": "maybe"}, "must be agree, disagree or unsure"),
    ("missing verdicts", lambda ids: {"comment": "x"}, "give a verdict for every proposed reason"),
]


@pytest.mark.parametrize("name,form,message", WEB_CASES, ids=[c[0] for c in WEB_CASES])
def test_web_form_refuses_bad_submits_with_a_message(client, alice, lease, name, form, message):
    a, ids = lease
    client.force_login(alice)
    before = digest()
    r = client.post(f"/annotation/assignments/{a.pk}/submit/", form(ids), **HX)
    assert r.status_code == 422
    assert message in r.content.decode()
    assert digest() == before


def test_get_of_the_screen_takes_no_lease(client, alice):
    campaign = reasons([alice])
    client.force_login(alice)
    before = digest()
    page = client.get(f"/annotation/campaigns/{campaign.pk}/")
    assert page.status_code == 200 and 'hx-trigger="load"' in page.content.decode()
    assert digest() == before and not Assignment.objects.exists()
    client.post(f"/annotation/campaigns/{campaign.pk}/next/", **HX)
    assert Assignment.objects.filter(user=alice, status=Assignment.LEASED).count() == 1

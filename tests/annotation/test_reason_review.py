"""Reviewers see the verdicts of a reasons campaign, per reason (issue 14, item 5)."""
from __future__ import annotations

import itertools
import re

import krippendorff
import numpy as np
import pytest

from analysis.models import FailureCategory, Reason
from annotation import selectors, services
from annotation.models import Campaign
from tests.annotation import factories as f

pytestmark = pytest.mark.django_db

# alice and bob on the three reasons of each of two queries
PLAN = {
    "alice": ["agree", "agree", "disagree", "agree", "unsure", "disagree"],
    "bob": ["agree", "disagree", "disagree", "agree", "agree", "disagree"],
}


@pytest.fixture
def done_campaign(alice, bob):
    coll, analysis, queries = f.h2r_setup(n_queries=2, n_reasons=3, models=("m-one",))
    categories = list(FailureCategory.objects.order_by("position")[:2])
    # the LLM's categories: the first two reasons of each list in one, the third in the other
    for proposal_reasons in (Reason.objects.filter(proposal__query=q).order_by("position") for q in queries):
        for n, r in enumerate(proposal_reasons):
            r.category = categories[0] if n < 2 else categories[1]
            r.save(update_fields=["category"])
    campaign = services.campaign_create(name="verdicts", kind=Campaign.REASONS, task="h2r", collection=coll,
                                        analysis=analysis, annotators=[alice, bob], overlap=2)
    order = [rid for item in campaign.items.order_by("position")
             for rid in selectors.item_reason_ids(item=item, task="h2r")]
    for user in (alice, bob):
        answers = dict(zip(order, PLAN[user.username]))
        for _ in range(2):
            a = services.assignment_next(campaign=campaign, user=user)
            ids = selectors.item_reason_ids(item=a.item, task="h2r")
            verdicts = {rid: {"verdict": answers[rid], "category": categories[1].pk if user.username == "bob" else None}
                        for rid in ids}
            services.assignment_submit(assignment=a, user=user, verdicts=verdicts)
    return campaign, order, categories


def _cells(html: str, reason_id: int) -> list[str]:
    row = re.search(rf'<tr class="reason-row[^"]*" data-reason="{reason_id}">(.*?)</tr>', html, re.S)
    assert row, reason_id
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_the_labels_page_shows_each_annotators_verdict_and_category_per_reason(client, admin_user, done_campaign):
    campaign, order, categories = done_campaign
    client.force_login(admin_user)
    html = client.get(f"/annotation/campaigns/{campaign.pk}/labels/").content.decode()
    assert "docid" not in html  # not the relevance-shaped table
    for n, rid in enumerate(order):
        cells = _cells(html, rid)
        a, b = PLAN["alice"][n], PLAN["bob"][n]
        assert cells[3] == a and cells[4] == f"{b} · {categories[1].name}"
        assert cells[5] == ("1.00" if a == b else "0.00")  # two annotators: the pair agrees or not


def test_an_annotator_sees_only_their_own_verdicts_while_the_campaign_is_open(client, alice, done_campaign):
    campaign, order, _ = done_campaign
    client.force_login(alice)
    html = client.get(f"/annotation/campaigns/{campaign.pk}/labels/").content.decode()
    assert 'data-annotator="alice"' in html and 'data-annotator="bob"' not in html


def test_the_review_page_gives_agreement_per_reason_and_category_and_adjudication(client, admin_user, done_campaign):
    campaign, order, categories = done_campaign
    # adjudicate the second reason of the first item
    item = campaign.items.order_by("position").first()
    services.item_adjudicate(item=item, user=admin_user, verdicts={str(order[1]): "disagree"})
    client.force_login(admin_user)
    html = client.get(f"/annotation/campaigns/{campaign.pk}/review/").content.decode()
    assert "see labels" not in html
    assert _cells(html, order[1])[-1] == "disagree" and _cells(html, order[0])[-1] == "–"
    # per category: Krippendorff's alpha of the verdicts, computed here with krippendorff itself
    codes = {"agree": 0, "disagree": 1, "unsure": 2}
    table = html.split('id="category-agreement"')[1].split("</table>")[0]
    for c, positions in ((categories[0], [0, 1, 3, 4]), (categories[1], [2, 5])):
        data = np.array([[codes[PLAN[u][i]] for i in positions] for u in ("alice", "bob")], dtype=float)
        row = re.search(rf"<td>{re.escape(c.name)}</td>(.*?)</tr>", table, re.S).group(1)
        cells = [re.sub(r"<[^>]+>", "", x).strip() for x in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert cells[0] == str(len(positions))
        pairs = np.mean([PLAN["alice"][i] == PLAN["bob"][i] for i in positions])
        assert cells[1] == f"{pairs:.2f}"
        if len({PLAN[u][i] for u, i in itertools.product(("alice", "bob"), positions)}) > 1:
            assert cells[2] == f"{krippendorff.alpha(reliability_data=data, level_of_measurement='nominal'):.2f}"


@pytest.mark.parametrize("blind", [False, True])
def test_the_screen_shows_each_reasons_list_label_to_reviewers_and_to_annotators_unless_blind(
    client, alice, admin_user, blind
):
    coll, analysis, _ = f.h2r_setup(n_queries=1, n_reasons=2, models=("m-one",))
    campaign = services.campaign_create(name="labels", kind=Campaign.REASONS, task="h2r", collection=coll,
                                        analysis=analysis, annotators=[alice, admin_user], blind=blind, overlap=2)
    label = campaign.reasons_label
    assert label == f"{coll.name}_bm25_bertscore_umbrela_0.3"
    pages = {}
    for user in (alice, admin_user):
        client.force_login(user)
        client.post(f"/annotation/campaigns/{campaign.pk}/next/", HTTP_HX_REQUEST="true")
        pages[user.username] = client.get(f"/annotation/campaigns/{campaign.pk}/").content.decode()
    assert (label in pages["alice"]) is (not blind)
    assert label in pages["admin"]  # a reviewer always sees which list a reason comes from

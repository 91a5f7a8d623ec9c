"""Every qid on the campaign pages leads to its query page (for staff, who may open it)."""
from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from annotation import services
from annotation.models import Campaign
from tests.annotation import factories as f

pytestmark = pytest.mark.django_db


def _graded_campaign(alice, bob):
    coll, pairs = f.pairs_collection(n=2)
    campaign = services.campaign_create(
        name="rel", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice, bob], overlap=2,
        pairs=[(q.qid, p.docid) for q, p in pairs],
    )
    for user, grade in ((alice, 0), (bob, 3)):
        for _ in pairs:
            a = services.assignment_next(campaign=campaign, user=user)
            services.assignment_submit(assignment=a, user=user, grade=grade)
    return campaign, sorted({q.qid for q, _ in pairs})


def _qid_links(html: str) -> dict[str, str]:
    return {a.get_text(): a["href"] for a in BeautifulSoup(html, "html.parser").select("a.qid")}


def test_review_and_labels_link_each_qid_to_its_query_page_for_staff(client, alice, bob, admin_user):
    campaign, qids = _graded_campaign(alice, bob)
    client.force_login(admin_user)
    for page in ("review", "labels"):
        html = client.get(f"/annotation/campaigns/{campaign.pk}/{page}/").content.decode()
        links = _qid_links(html)
        assert sorted(links) == qids, page
        for qid, href in links.items():
            assert href == reverse("analysis:query-detail", args=[campaign.collection.name, qid])
            answer = client.get(href)
            assert answer.status_code == 200
            assert qid in BeautifulSoup(answer.content, "html.parser").h1.get_text()


def test_annotators_see_bare_qids_on_their_labels_page(client, alice, bob):
    # The query page is staff only: a link there would lead an annotator to a 403.
    campaign, qids = _graded_campaign(alice, bob)
    client.force_login(alice)
    html = client.get(f"/annotation/campaigns/{campaign.pk}/labels/").content.decode()
    assert _qid_links(html) == {}
    assert all(qid in html for qid in qids)

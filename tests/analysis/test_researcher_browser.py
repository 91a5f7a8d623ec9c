"""The researcher's pages in Chromium at 1280x800, as a researcher uses them: the query
page of 1063750 and of a query hard in all three tasks, the query list filtered, an
analysis, the overlap of three chosen sets, the pairwise page, the agreement page and a
campaign's review and labels; a screenshot of each in artifacts/, and every qid link on
them followed to its query page."""
from __future__ import annotations

import re

import pytest

from tests.analysis.researcher_data import DEMO_ADMIN, demo_admin, demo_dl19, dl19_demo  # noqa: F401
from tests.conftest import ARTIFACTS, browser_login


# A float printed with its machine digits (0.33333333333333337) rather than for reading.
RAW_FLOAT = re.compile(r"\d\.\d{5,}")


def readable(page) -> None:
    """What a reader would notice: raw floats, empty intervals, a None, content off screen."""
    text = page.locator("main").inner_text()
    assert not RAW_FLOAT.search(text), RAW_FLOAT.search(text)
    assert "[, ]" not in text and "None" not in text and "Fleiss' kappa -" not in text
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"researcher-{name}.png"), full_page=True)


def follow_qid_links(page, live_server) -> int:
    """Open every qid link of the current page; each must be that query's page."""
    links = page.eval_on_selector_all("a.qid", "els => els.map(e => [e.getAttribute('href'), e.textContent.trim()])")
    seen = {}
    for href, qid in links:
        seen.setdefault(href, qid)
    back = page.url
    for href, qid in seen.items():
        response = page.goto(f"{live_server.url}{href}")
        assert response.status == 200, href
        assert page.locator("#query-title code").inner_text() == qid, href
    page.goto(back)
    return len(seen)


@pytest.mark.browser
@pytest.mark.django_db
def test_the_researchers_pages_in_the_browser(page, live_server, dl19_demo):
    from analysis.models import HardnessAnalysis

    browser_login(page, live_server, *DEMO_ADMIN)
    base = live_server.url

    # the query page of 1063750: BM25's nDCG@10 0.0 against its threshold, the reasons
    page.goto(f"{base}/analysis/collections/dl19/queries/1063750/")
    assert page.locator("#run-bm25 .ndcg-judged").inner_text() == "0.0000"
    assert "below the 0.25 quantile" in page.locator("#hardness").inner_text()
    assert page.locator("#reasons article.reason-list").count() == 3
    shoot(page, "query-1063750")
    page.locator("#h2g details summary").first.click()  # the folded reasoning opens
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#h2g").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "researcher-query-1063750-h2g.png"))

    # a query hard in all three tasks
    page.goto(f"{base}/analysis/collections/dl19/queries/443396/")
    verdicts = page.locator("#hardness tbody tr.hard td:first-child").all_inner_texts()
    assert {"H2R", "H2G", "H2J"} <= set(verdicts)
    shoot(page, "query-443396")

    # the query list, filtered to the queries hard in all of three analyses, by the form
    bm25 = HardnessAnalysis.objects.get(collection__name="dl19", task="h2r", subject="bm25")
    h2g = HardnessAnalysis.objects.get(collection__name="dl19", task="h2g", subject="qwen3_8b")
    h2j = HardnessAnalysis.objects.get(collection__name="dl19", task="h2j", subject="qwen3_8b-graded")
    page.goto(f"{base}/analysis/collections/dl19/queries/")
    for a in (bm25, h2g, h2j):
        page.check(f"#query-filters input[name=hard][value='{a.id}']")
    page.check("#query-filters input[name=mode][value=all]")
    page.click("#query-filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    shown = page.locator("#queries tbody a.qid").all_inner_texts()
    assert "443396" in shown and "1063750" not in shown
    shoot(page, "query-list-hard-in-all")
    assert follow_qid_links(page, live_server) == len(shown)
    page.goto(f"{base}/analysis/collections/dl19/queries/")
    shoot(page, "query-list")
    assert follow_qid_links(page, live_server) == 10

    # an analysis
    page.goto(f"{base}/analysis/hardness/{bm25.id}/")
    assert page.locator("#rule").inner_text() == f"hard: nDCG@10 (judged only) below the 0.25 quantile, {bm25.threshold:.4f}"
    assert page.locator("#overlap-picture, img").first.evaluate("img => img.naturalWidth") > 0
    shoot(page, "analysis-bm25")
    assert follow_qid_links(page, live_server) == 10

    # the overlap of three chosen sets, chosen in the form
    page.goto(f"{base}/analysis/dl19/overlap/")
    for box in page.locator("#overlap-choose input[name=analyses]").all():
        box.uncheck()
    for a in (bm25, h2g, h2j):
        page.check(f"#overlap-choose input[value='{a.id}']")
    page.click("#overlap-choose button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#sets tbody tr").count() == 3
    assert page.locator("#overlap-picture").evaluate("img => img.naturalWidth") > 0
    assert "443396" in page.locator("#regions").inner_text()
    shoot(page, "overlap-three-sets")
    assert follow_qid_links(page, live_server) >= 3

    # the pairwise page
    page.goto(f"{base}/analysis/collections/dl19/pairwise/")
    assert "comparisons" in page.locator("section.generator p.overall").inner_text()
    shoot(page, "pairwise")
    assert follow_qid_links(page, live_server) >= 1

    agreement_page(page, live_server)
    campaign_pages(page, live_server)


def agreement_page(page, live_server) -> None:
    """The default set leaves out a 6-pair annotator and an LLM on 200 pairs, shows their
    coverage, adds them with one click; tau-b with its coverage; qids linked."""
    from analysis.models import Assessor
    from tests.annotation.test_agreement_coverage import official_pairs, partial_llm_pairs, write_assessor

    write_assessor("llm-200", Assessor.LLM, partial_llm_pairs())
    write_assessor("annotator-6", Assessor.HUMAN, official_pairs()[:6])
    page.goto(f"{live_server.url}/agreement/?collection=dl19")
    coverage = {row.locator("td").first.inner_text(): row.locator("td.coverage").inner_text()
                for row in page.locator("#coverage tbody tr").all()}
    assert coverage["llm-200"] == "9.7%" and coverage["annotator-6"] == "0.3%"
    assert page.locator("#coverage tr.excluded").count() == 2
    assert page.locator(".agreement-set td").first.inner_text().startswith("2063 (10 queries)")
    assert "on the pairs both assessors judged" in page.locator(".ndcg-used").inner_text()
    readable(page)
    shoot(page, "agreement-default")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#effect").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "researcher-agreement-effect.png"))
    assert follow_qid_links(page, live_server) >= 10

    page.click("#add-the-rest")
    page.wait_for_load_state("networkidle")
    assert page.locator("#coverage tr.excluded").count() == 0
    effect = page.locator("article.effect[data-assessor=llm-200]")
    assert "on 200 shared pairs of 2063, coverage 9.7%" in effect.locator(".effect-coverage").inner_text()
    assert "cannot fall below 0.333" in effect.locator(".p-note").inner_text()
    readable(page)
    shoot(page, "agreement-all-assessors")


def campaign_pages(page, live_server) -> None:
    """A relevance campaign where alice and bob disagree: its review and labels pages link the qids."""
    from django.contrib.auth import get_user_model

    from analysis.models import Collection, Judgment
    from annotation import services
    from annotation.models import Campaign

    users = get_user_model().objects.filter(username__in=["alice", "bob"]).order_by("username")
    pairs = list(
        Judgment.objects.filter(query__collection__name="dl19", assessor__name="official")
        .order_by("query__qid", "passage__docid").values_list("query__qid", "passage__docid")[:2]
    )
    campaign = services.campaign_create(
        name="dl19 relevance (browser)", kind=Campaign.RELEVANCE, collection=Collection.objects.get(name="dl19"),
        annotators=list(users), overlap=2, pairs=pairs,
    )
    for user, grade in zip(users, (0, 3)):
        for _ in pairs:
            services.assignment_submit(assignment=services.assignment_next(campaign=campaign, user=user), user=user,
                                       grade=grade)
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/review/")
    assert page.locator(".disagreement a.qid").count() == len(pairs)
    shoot(page, "campaign-review")
    assert follow_qid_links(page, live_server) == len({q for q, _ in pairs})
    page.goto(f"{live_server.url}/annotation/campaigns/{campaign.pk}/labels/")
    assert page.locator("a.qid").count() == 2 * len(pairs)
    shoot(page, "campaign-labels")
    assert follow_qid_links(page, live_server) == len({q for q, _ in pairs})

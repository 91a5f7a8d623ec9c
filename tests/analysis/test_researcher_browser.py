"""The researcher's pages in Chromium at 1280x800, as a researcher uses them: the query
page of 1063750 and of a query hard in all three tasks, the query list filtered, an
analysis, the overlap of three chosen sets and the pairwise page; a screenshot of each
in artifacts/, and every qid link on them followed to its query page."""
from __future__ import annotations

import pytest

from tests.analysis.researcher_data import DEMO_ADMIN, demo_admin, demo_dl19, dl19_demo  # noqa: F401
from tests.conftest import ARTIFACTS, browser_login


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

"""The exported HTML report opens in Chromium and shows its heatmaps (screenshot in artifacts/)."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.analysis.qrels_loading import import_dl21

LLAMA = "qrels.dl21-passage_llama3.2_latest_0123_0_1.txt"


@pytest.mark.browser
@pytest.mark.django_db
def test_html_report_opens_in_chromium_and_shows_the_heatmap(page, paper_data, tmp_path):
    import_dl21(paper_data / "dl21", (LLAMA, "llama3.2", "graded"))
    output = tmp_path / "agreement-dl21.html"
    call_command("export_agreement", "--collection", "dl21", "--format", "html", "--output", str(output), "--n-boot", "200")
    page.goto(output.as_uri())
    heatmap = page.locator("img.heatmap").first
    heatmap.wait_for()
    assert page.evaluate("() => document.querySelectorAll('img.heatmap').length") == 2
    widths = page.evaluate("() => [...document.querySelectorAll('img')].map(i => i.complete ? i.naturalWidth : 0)")
    assert widths and all(w > 0 for w in widths)
    assert "1215" in page.locator("table.confusion").first.inner_text()
    assert page.title() == "Agreement report: dl21"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_sees_the_dashboard_heatmaps_and_downloads_the_report(page, live_server, admin_user):
    from analysis.models import Assessor, Collection, Judgment, Passage, Query
    from tests.conftest import browser_login

    coll = Collection.objects.create(name="study")
    queries = Query.objects.bulk_create([Query(collection=coll, qid=str(i)) for i in range(4)])
    passages = Passage.objects.bulk_create([Passage(collection=coll, docid=f"p{i}") for i in range(40)])
    official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    llm = Assessor.objects.create(name="llama3.2", kind=Assessor.LLM, model="llama3.2:latest")
    Judgment.objects.bulk_create(
        [Judgment(query=queries[i // 10], passage=passages[i], assessor=official, grade=i % 4) for i in range(40)]
        + [Judgment(query=queries[i // 10], passage=passages[i], assessor=llm, grade=(i * 7) % 4) for i in range(40)]
    )
    browser_login(page, live_server, "admin", "admin-pass-123")
    page.goto(f"{live_server.url}/agreement/?collection=study")
    page.locator("img.heatmap").first.wait_for()
    widths = page.evaluate("() => [...document.querySelectorAll('img.heatmap, img.kappa-chart')].map(i => i.naturalWidth)")
    assert len(widths) == 3 and all(w > 0 for w in widths)
    with page.expect_download() as download:
        page.click("a.download:text('CSV')")
    assert download.value.suggested_filename == "agreement-study.csv"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_refused_seed_is_shown_on_the_dashboard_as_the_forms_error(page, live_server, admin_user):
    from analysis.models import Collection
    from tests.conftest import browser_login

    Collection.objects.create(name="study")
    browser_login(page, live_server, "admin", "admin-pass-123")
    response = page.goto(f"{live_server.url}/agreement/?collection=study&seed=-1")
    assert response.status == 400
    error = page.locator("p.error")
    assert "seed: Ensure this value is greater than or equal to 0." in error.inner_text()
    assert error.is_visible() and error.bounding_box()["y"] < 800  # on screen without scrolling

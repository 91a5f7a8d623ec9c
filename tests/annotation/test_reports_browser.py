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

"""Pairwise results: per generator, how often the generated passage is preferred, overall
and per query, on a page and in the API, counted from the fixture file itself."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from bs4 import BeautifulSoup

from tests.analysis.researcher_data import demo_admin, demo_alice, demo_dl19, dl19_demo, fixture_lines  # noqa: F401


def expected() -> tuple[Counter, Counter]:
    rows = [json.loads(line) for line in fixture_lines("dl19.json")]
    return Counter(str(r["qid"]) for r in rows), Counter(str(r["qid"]) for r in rows if r["label"] == 2)


@pytest.mark.django_db
def test_pairwise_page_counts_per_query_and_overall(client, demo_admin, django_assert_num_queries):
    n, generated = expected()
    client.force_login(demo_admin)
    # session, user, collection, the generators compared, the preferences grouped by assessor, generator and query
    with django_assert_num_queries(5):
        response = client.get("/analysis/collections/dl19/pairwise/")
    page = BeautifulSoup(response.content, "lxml")
    overall = page.select_one("section.generator p.overall").get_text(" ", strip=True)
    total, won = sum(n.values()), sum(generated.values())
    assert f"{won} of {total}" in overall and f"share {won / total:.3f}" in overall
    assert "ties: 0" in overall  # the file names a winner for every pair
    assert "one order only" in page.select_one("section.generator p.consistency").get_text()
    rows = {tr.select("td")[0].get_text(): [td.get_text() for td in tr.select("td")[2:8]]
            for tr in page.select("table.per-query tbody tr")}
    assert rows == {q: [str(n[q]), str(generated[q]), str(n[q] - generated[q]), "0", f"{generated[q] / n[q]:.3f}", "–"]
                    for q in n}


@pytest.mark.django_db
def test_pairwise_api_gives_full_precision_shares(client, demo_admin, demo_alice):
    n, generated = expected()
    client.force_login(demo_admin)
    data = client.get("/api/collections/dl19/pairwise/").json()
    (group,) = data["generators"]
    assert group["assessor"] == "pairwise_llm" and group["comparisons"] == sum(n.values())
    assert {q["qid"]: q["share"] for q in group["queries"]} == {q: generated[q] / n[q] for q in n}
    assert client.get("/api/collections/nope/pairwise/").status_code == 404
    client.force_login(demo_alice)
    assert client.get("/api/collections/dl19/pairwise/").status_code == 403
    assert client.get("/analysis/collections/dl19/pairwise/").status_code == 403

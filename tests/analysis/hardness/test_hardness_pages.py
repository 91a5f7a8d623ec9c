"""Hardness pages: login, escaped text, constant query counts, picture and exports."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from analysis.models import Collection, HardnessAnalysis, HardnessLabel, Query


def _analysis(collection: Collection, subject: str, task: str, values: dict[str, float], hard: set[str],
              threshold: float) -> HardnessAnalysis:
    a = HardnessAnalysis.objects.create(task=task, collection=collection, subject=subject, measure="m",
                                        threshold=threshold, status="done", parameters={"notes": ["<b>note</b>"]})
    queries = {q.qid: q for q in Query.objects.filter(collection=collection)}
    HardnessLabel.objects.bulk_create([HardnessLabel(analysis=a, query=queries[q], value=v, hard=q in hard)
                                       for q, v in values.items()])
    return a


@pytest.fixture
def small(db):
    c = Collection.objects.create(name="tiny")
    Query.objects.bulk_create([Query(collection=c, qid=str(i), text=f"query {i}") for i in range(1, 7)])
    Query.objects.filter(collection=c, qid="1").update(text="<script>alert('x')</script>")
    return c


def test_pages_require_login(client, small):
    _analysis(small, "bm25", "h2r", {"1": 0.1, "2": 0.5}, {"1"}, 0.3)
    for url in [reverse("analysis:hardness_list"), reverse("analysis:hardness_overlap", args=["tiny"]),
                reverse("analysis:hardness_overlap_csv", args=["tiny"])]:
        resp = client.get(url)
        assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_detail_escapes_text_and_highlights_hard_queries(client, admin_user, small):
    a = _analysis(small, "<i>bm25</i>", "h2r", {"1": 0.1, "2": 0.5, "3": 0.9}, {"1"}, 0.3)
    client.force_login(admin_user)
    html = client.get(reverse("analysis:hardness_detail", args=[a.id])).content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<i>bm25</i>" not in html and "<b>note</b>" not in html
    assert 'class="hard"' in html and "hard: m below the 0.25 quantile, 0.3000" in html
    assert html.index("0.1000") < html.index("0.5000") < html.index("0.9000")  # sorted by value
    svg = client.get(reverse("analysis:hardness_distribution", args=[a.id]))
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content


def test_list_and_detail_query_counts_do_not_grow(client, admin_user, small, django_assert_max_num_queries):
    client.force_login(admin_user)
    a = _analysis(small, "bm25", "h2r", {"1": 0.1, "2": 0.5}, {"1"}, 0.3)
    # session, user, analyses with aggregates, collections
    with django_assert_max_num_queries(4) as few:
        client.get(reverse("analysis:hardness_list"))
    for i in range(5):
        _analysis(small, f"sys{i}", "h2r", {str(q): q / 10 for q in range(1, 7)}, {"1", "2"}, 0.2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(reverse("analysis:hardness_list")).content.decode()
    assert "sys4" in html
    # session, user, analysis + collection, labels + queries
    with django_assert_max_num_queries(4):
        client.get(reverse("analysis:hardness_detail", args=[a.id]))


def test_overlap_page_picture_and_exports(client, admin_user, small, django_assert_max_num_queries):
    _analysis(small, "bm25", "h2r", {"1": 0.1, "2": 0.2, "3": 0.9}, {"1", "2"}, 0.3)
    _analysis(small, "qwen3", "h2g", {"2": 0.1, "3": 0.2, "4": 0.9}, {"2", "3"}, 0.3)
    _analysis(small, "llama", "h2j", {"2": 9, "5": 8, "6": 1}, {"2", "5"}, 3)
    client.force_login(admin_user)
    # session, user, collection, analyses, hard labels
    with django_assert_max_num_queries(5):
        html = client.get(reverse("analysis:hardness_overlap", args=["tiny"])).content.decode()
    assert "overlap.svg?analyses=" in html and "H2R bm25" in html
    svg = client.get(reverse("analysis:hardness_overlap_svg", args=["tiny"]))
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    data = json.loads(client.get(reverse("analysis:hardness_overlap_json", args=["tiny"])).content)
    regions = {tuple(r["sets"]): r for r in data["regions"]}
    assert regions[("H2R bm25", "H2G qwen3", "H2J llama")]["intersection"] == ["2"]
    assert regions[("H2R bm25",)]["exclusive"] == ["1"]
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("analysis:hardness_overlap_csv", args=["tiny"])).content.decode())))
    assert {r["sets"]: r["exclusive"] for r in rows}["H2J llama"] == "5"


def test_home_links_each_collection_to_its_hardness(client, admin_user, small):
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    assert reverse("analysis:hardness_overlap", args=["tiny"]) in html
    assert reverse("analysis:hardness_list") + "#collection-tiny" in html

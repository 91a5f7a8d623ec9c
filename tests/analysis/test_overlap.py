"""Overlap of the hard sets a researcher chooses: the default (one per task), the choice
by ids on the page, in the API and on the command line, the Venn picture of
matplotlib-venn, names drawn as plain text, and too many sets answered with a message."""
from __future__ import annotations

import csv
import io
import json

import pytest
from bs4 import BeautifulSoup
from django.core.management import CommandError, call_command
from django.urls import reverse

from analysis.models import Collection, HardnessAnalysis, HardnessLabel, Query


def _analysis(collection, task, subject, hard: set[str], variant: str = "") -> HardnessAnalysis:
    a = HardnessAnalysis.objects.create(task=task, collection=collection, subject=subject, variant=variant,
                                        measure="ndcg_cut_10", threshold=0.3, status="done")
    HardnessLabel.objects.bulk_create([
        HardnessLabel(analysis=a, query=q, value=0.1 if q.qid in hard else 0.9, hard=q.qid in hard)
        for q in Query.objects.filter(collection=collection)
    ])
    return a


@pytest.fixture
def tiny(db):
    c = Collection.objects.create(name="tiny")
    Query.objects.bulk_create([Query(collection=c, qid=str(i), text=f"query {i}") for i in range(1, 13)])
    return c


@pytest.fixture
def four(tiny):
    """Two H2R analyses, one H2G, one H2J."""
    return {
        "bm25": _analysis(tiny, "h2r", "bm25", {"1", "2", "3"}),
        "tasb": _analysis(tiny, "h2r", "tas-b", {"3", "4"}),
        "h2g": _analysis(tiny, "h2g", "qwen3", {"2", "3", "5"}),
        "h2j": _analysis(tiny, "h2j", "llama", {"3", "6"}, variant="graded"),
    }


def page_url(**params) -> str:
    from urllib.parse import urlencode

    return reverse("analysis:hardness_overlap", args=["tiny"]) + ("?" + urlencode(params) if params else "")


def test_default_is_one_set_per_task_and_the_page_lists_only_non_empty_regions_linked(client, admin_user, four):
    client.force_login(admin_user)
    html = client.get(page_url()).content.decode()
    page = BeautifulSoup(html, "lxml")
    assert [td.get_text() for td in page.select("#sets tbody tr td:first-child")] == [
        "H2R bm25", "H2G qwen3", "H2J llama (graded)"]
    checked = {int(i["value"]) for i in page.select("#overlap-choose input[checked]")}
    assert checked == {four["bm25"].id, four["h2g"].id, four["h2j"].id}
    regions = {tr.select("td")[0].get_text(): [a.get_text() for a in tr.select("a.qid")]
               for tr in page.select("#regions tbody tr")}
    assert regions == {"H2R bm25": ["1"], "H2R bm25 ∩ H2G qwen3": ["2"], "H2G qwen3": ["5"],
                       "H2J llama (graded)": ["6"], "H2R bm25 ∩ H2G qwen3 ∩ H2J llama (graded)": ["3"]}
    for link in page.select("#regions a.qid"):
        assert link["href"] == reverse("analysis:query-detail", args=["tiny", link.get_text()])


def test_chosen_sets_reach_the_picture_and_the_exports(client, admin_user, four):
    client.force_login(admin_user)
    ids = f"{four['bm25'].id},{four['tasb'].id}"
    page = BeautifulSoup(client.get(page_url(analyses=ids)).content, "lxml")
    assert page.select_one("#overlap-picture")["src"].endswith(f"?analyses={ids}")
    data = json.loads(client.get(reverse("analysis:hardness_overlap_json", args=["tiny"]), {"analyses": ids}).content)
    assert data["sets"] == {"H2R bm25": ["1", "2", "3"], "H2R tas-b": ["3", "4"]}
    rows = list(csv.DictReader(io.StringIO(
        client.get(reverse("analysis:hardness_overlap_csv", args=["tiny"]), {"analyses": ids}).content.decode())))
    assert {r["sets"]: r["exclusive"] for r in rows} == {"H2R bm25": "1 2", "H2R tas-b": "4",
                                                          "H2R bm25 & H2R tas-b": "3"}
    # the same choice through repeated checkboxes
    again = client.get(page_url(), {"analyses": [four["bm25"].id, four["tasb"].id]})
    assert again.context["query"] == f"analyses={ids}"


def test_two_and_three_sets_are_drawn_by_matplotlib_venn_area_proportional(four, monkeypatch):
    import matplotlib_venn

    from analysis.hardness import overlap

    calls = []
    for name in ("venn2", "venn3"):
        real = getattr(matplotlib_venn, name)
        monkeypatch.setattr(matplotlib_venn, name, lambda *a, _real=real, _n=name, **k: calls.append((_n, k["subsets"])) or _real(*a, **k))
    overlap.overlap_svg({"A": {"1", "2", "3"}, "B": {"3", "4"}})
    overlap.overlap_svg({"A": {"1", "2", "3"}, "B": {"2", "3", "5"}, "C": {"3", "6"}})
    # subsets in matplotlib-venn's order: (A only, B only, A&B) and (Abc, aBc, ABc, abC, AbC, aBC, ABC)
    assert calls == [("venn2", [2, 1, 1]), ("venn3", [1, 1, 1, 1, 0, 0, 1])]


def test_names_with_dollar_signs_are_drawn_as_plain_text(client, admin_user, tiny):
    a = _analysis(tiny, "h2r", "run$\\foo$", {"1", "2"})
    b = _analysis(tiny, "h2j", "x$^2$", {"2"})
    client.force_login(admin_user)
    for ids in (f"{a.id},{b.id}", f"{a.id}"):
        response = client.get(reverse("analysis:hardness_overlap_svg", args=["tiny"]), {"analyses": ids})
        assert response.status_code == 200 and b"<svg" in response.content
    assert client.get(reverse("analysis:hardness_distribution", args=[a.id])).status_code == 200
    html = client.get(page_url(analyses=f"{a.id},{b.id}")).content.decode()
    assert "run$\\foo$" in html


def test_more_sets_than_can_be_drawn_answer_200_with_the_message_and_the_choice(client, admin_user, tiny):
    many = [_analysis(tiny, "h2r", f"sys{i:02d}", {str(i)}) for i in range(1, 13)]
    ids = ",".join(str(a.id) for a in many)
    client.force_login(admin_user)
    response = client.get(page_url(analyses=ids))
    assert response.status_code == 200
    page = BeautifulSoup(response.content, "lxml")
    assert "at most 10 can be overlapped" in page.select_one("#overlap-message").get_text()
    assert len(page.select("#overlap-choose input[name=analyses]")) == 12  # the way to choose fewer
    for name in ("svg", "csv", "json"):
        r = client.get(reverse(f"analysis:hardness_overlap_{name}", args=["tiny"]), {"analyses": ids})
        assert r.status_code == 200, name
        assert b"at most 10 can be overlapped" in r.content or name == "svg"
    assert client.get(page_url(analyses="1,x")).status_code == 400


def test_command_line_takes_analyses_and_refuses_unknown_ones(four):
    out = io.StringIO()
    ids = f"{four['tasb'].id},{four['h2j'].id}"
    call_command("hardness", "overlap", "--collection", "tiny", "--analyses", ids, "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["analyses"] == [four["tasb"].id, four["h2j"].id]
    assert data["sets"] == {"H2R tas-b": ["3", "4"], "H2J llama (graded)": ["3", "6"]}
    with pytest.raises(CommandError, match="no finished analysis of tiny with id 999999"):
        call_command("hardness", "overlap", "--collection", "tiny", "--analyses", "999999")
    with pytest.raises(CommandError, match="is not an analysis id"):
        call_command("hardness", "overlap", "--collection", "tiny", "--analyses", "1,abc")


def test_api_takes_analyses(four, admin_user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(admin_user)
    url = "/api/collections/tiny/overlap/"
    default = api.get(url).json()
    assert list(default["sets"]) == ["H2R bm25", "H2G qwen3", "H2J llama (graded)"]
    chosen = api.get(url, {"analyses": f"{four['h2g'].id},{four['tasb'].id}"}).json()
    assert chosen["sets"] == {"H2G qwen3": ["2", "3", "5"], "H2R tas-b": ["3", "4"]}
    bad = api.get(url, {"analyses": "nope"})
    assert bad.status_code == 400 and "not an analysis id" in bad.json()["error"]["message"]

"""Agreement a reader can trust, on the DL19 fixtures (issue #15, item 5).

An LLM assessor that judged 200 of the official pairs and an annotator with 6 pairs:
the default set leaves both out (their coverage is shown, one click adds them), and
the LLM's Kendall's tau-b is computed on the 200 pairs both qrels share, equal to
scipy's ``kendalltau`` on pytrec_eval's nDCG@10 from the fixture files themselves.
"""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
import pytrec_eval
from bs4 import BeautifulSoup
from scipy.stats import kendalltau

from analysis.judgments import JudgmentRow, judgments_write
from analysis.models import Assessor, Passage, Query
from tests.analysis.researcher_data import demo_admin, demo_dl19, dl19_demo, fixture_lines  # noqa: F401

pytestmark = pytest.mark.django_db
RUN_FILES = ("run.msmarco-v1-passage.bm25-default.dl19.txt", "run.msmarco-v1-passage-distilbert-base-tas-b-dl19.txt",
             "run.msmarco-v1-passage.unicoil-otf.dl19.txt")


def official_pairs() -> list[tuple[str, str, int]]:
    """The official qrels of the fixture file, sorted by (qid, docid)."""
    rows = [line.split() for line in fixture_lines("qrels.dl19-passage.txt") if line.strip()]
    return sorted((qid, docid, int(grade)) for qid, _, docid, grade in rows)


def partial_llm_pairs() -> list[tuple[str, str, int]]:
    """200 of the official pairs (every tenth), graded by an LLM that disagrees on every
    other one (grade + 2 mod 4), so the two rankings of the runs can differ."""
    chosen = official_pairs()[::10][:200]
    return [(q, d, g if i % 2 == 0 else (g + 2) % 4) for i, (q, d, g) in enumerate(chosen)]


def write_assessor(name: str, kind: str, pairs: list[tuple[str, str, int]]) -> Assessor:
    assessor = Assessor.objects.create(name=name, kind=kind, model="partial-model" if kind == Assessor.LLM else "")
    queries = dict(Query.objects.filter(collection__name="dl19").values_list("qid", "pk"))
    passages = dict(Passage.objects.filter(docid__in={d for _, d, _ in pairs}).values_list("docid", "pk"))
    judgments_write(assessor=assessor, rows=[JudgmentRow(queries[q], passages[d], g) for q, d, g in pairs])
    return assessor


@pytest.fixture
def partial_assessors(dl19_demo):
    write_assessor("llm-200", Assessor.LLM, partial_llm_pairs())
    write_assessor("annotator-6", Assessor.HUMAN, official_pairs()[:6])


def expected_effect() -> dict:
    """Per run, mean nDCG@10 (pytrec_eval ndcg_cut_10, every run row) under each qrels cut
    to the shared pairs, and scipy's tau-b on them: computed from the files, not the database."""
    llm = partial_llm_pairs()
    shared = {(q, d) for q, d, _ in llm}
    qrels_official: dict = defaultdict(dict)
    for q, d, g in official_pairs():
        if (q, d) in shared:
            qrels_official[q][d] = g
    qrels_llm: dict = defaultdict(dict)
    for q, d, g in llm:
        qrels_llm[q][d] = g
    means = {}
    for name in RUN_FILES:
        run: dict = defaultdict(dict)
        for line in fixture_lines(name):
            qid, _, docid, _, score, _ = line.split()
            run[qid][docid] = float(score)
        means[name] = [
            float(np.mean([m["ndcg_cut_10"] for m in pytrec_eval.RelevanceEvaluator(dict(qrels), {"ndcg_cut_10"})
                           .evaluate(dict(run)).values()]))
            for qrels in (qrels_official, qrels_llm)
        ]
    tau = kendalltau([m[0] for m in means.values()], [m[1] for m in means.values()])
    return {"means": sorted(means.values()), "tau": float(tau.statistic), "p": float(tau.pvalue)}


def page(client, **query) -> BeautifulSoup:
    response = client.get("/agreement/", query)
    assert response.status_code == 200
    return BeautifulSoup(response.content, "html.parser")


def coverage_rows(soup: BeautifulSoup) -> dict[str, list[str]]:
    return {tr.td.get_text(): [td.get_text(" ", strip=True) for td in tr.find_all("td")]
            for tr in soup.select("#coverage tbody tr")}


def test_the_default_set_holds_the_assessors_that_cover_the_reference(client, demo_admin, partial_assessors):
    client.force_login(demo_admin)
    soup = page(client, collection="dl19", n_boot="0")
    rows = coverage_rows(soup)
    # every assessor has its coverage; the four LLM judges cover all 2063 official pairs
    assert rows["llm-200"][3:6] == ["200 of 2063", "9.7%", "no"]
    assert rows["annotator-6"][3:6] == ["6 of 2063", "0.3%", "no"]
    assert all(rows[name][3:6] == ["2063 of 2063", "100.0%", "yes"] for name in rows if name.endswith(("binary", "graded")))
    # the 6-pair annotator does not collapse the statistics among the assessors
    assert soup.select_one(".agreement-set td").get_text(" ", strip=True) == "2063 (10 queries) on the binary split"
    assert "no interval: n_boot=0 (bootstrap off)" in soup.select_one(".agreement-set").get_text()
    # one click adds the rest
    link = soup.select_one("#add-the-rest")
    assert "llm-200" in link.get_text() and "annotator-6" in link.get_text()
    added = BeautifulSoup(client.get("/agreement/" + link["href"]).content, "html.parser")
    assert {name: r[5] for name, r in coverage_rows(added).items()} == {name: "yes" for name in rows}
    # with everyone, the pairs all judged are the one pair the annotator and the LLM share
    assert added.select_one(".agreement-set td").get_text(" ", strip=True).startswith("1 (1 query)")
    # or one assessor at a time
    one = BeautifulSoup(client.get("/agreement/" + soup.select_one("#coverage tr.excluded a.add-assessor")["href"]).content,
                        "html.parser")
    assert {name for name, r in coverage_rows(one).items() if r[5] == "yes"} == {
        name for name in rows if name.endswith(("binary", "graded"))} | {"annotator-6"}


def test_partial_coverage_tau_is_computed_on_the_shared_pairs(client, demo_admin, partial_assessors):
    expected = expected_effect()
    assert expected["tau"] != pytest.approx(1.0)  # the LLM's labels change the ranking of the runs
    client.force_login(demo_admin)

    # the API's report (full precision)
    response = client.get("/api/agreement/report/", {"collection": "dl19", "reference": "official",
                                                     "assessor": "llm-200", "n_boot": "0"})
    assert response.status_code == 200
    report = json.loads(response.content)
    (effect,) = report["evaluation_effect"]
    assert effect["kendall_tau_b"] == pytest.approx(expected["tau"], abs=1e-12)
    assert effect["kendall_tau_b_p"] == pytest.approx(expected["p"], abs=1e-12)
    assert sorted([r["ndcg_cut_10_reference"], r["ndcg_cut_10_assessor"]] for r in effect["runs"]) == [
        pytest.approx(m, abs=1e-12) for m in expected["means"]
    ]
    assert (effect["shared_pairs"], effect["reference_pairs"]) == (200, 2063)
    assert effect["coverage"] == pytest.approx(200 / 2063)
    assert "only 3 runs" in effect["p_value_note"]
    assert "on the pairs both assessors judged" in effect["ndcg"]
    # the reference's nDCG@10 is on the shared pairs, not on all of its 2063 judgments
    full = {r["run"]: r["ndcg_cut_10_reference"] for r in report_effect(client, "llm-200-twin")}
    assert all(full[r["run"]] != pytest.approx(r["ndcg_cut_10_reference"]) for r in effect["runs"])

    # the pair API names the coverage too
    pair = client.get("/api/agreement/", {"collection": "dl19", "reference": "official", "assessor": "llm-200",
                                          "n_boot": "0"}).json()
    assert (pair["shared_pairs"], pair["reference_pairs"], pair["n"]) == (200, 2063, 200)
    assert pair["ci_note"] == "no interval: n_boot=0 (bootstrap off)"

    # the page: tau-b rounded, its coverage beside it, the p-value note, the nDCG used
    soup = page(client, collection="dl19", reference="official", assessor="llm-200", n_boot="0")
    article = soup.select_one("article.effect[data-assessor=llm-200]")
    assert article.select_one(".tau-b").get_text() == f"{expected['tau']:.3f}"
    assert article.select_one(".effect-coverage").get_text(" ", strip=True) == "on 200 shared pairs of 2063, coverage 9.7%"
    assert "cannot fall below 0.333" in article.select_one(".p-note").get_text()
    assert "unjudged = 0, on the pairs both assessors judged" in soup.select_one(".ndcg-used").get_text()


def report_effect(client, name: str) -> list[dict]:
    """The effect of an assessor that judged every official pair like the reference."""
    write_assessor(name, Assessor.LLM, official_pairs())
    report = client.get("/api/agreement/report/", {"collection": "dl19", "reference": "official",
                                                   "assessor": name, "n_boot": "0"}).json()
    (effect,) = report["evaluation_effect"]
    assert effect["coverage"] == 1.0 and effect["kendall_tau_b"] == pytest.approx(1.0)
    return effect["runs"]

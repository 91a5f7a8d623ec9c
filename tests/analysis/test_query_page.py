"""The query page: every failure of one query with its evidence, checked against the
fixture files themselves (pytrec_eval as the oracle for nDCG@10), staff only, and a
constant number of SQL queries whatever the number of runs and judges."""
from __future__ import annotations

import ast

import pandas as pd
import pytest
import pytrec_eval
from bs4 import BeautifulSoup
from django.urls import reverse

from tests.analysis.researcher_data import demo_admin, demo_alice, demo_dl19, dl19_demo, fixture_lines  # noqa: F401
from tests.conftest import FIXTURES

QID = "1063750"
RUNS = {
    "bm25": "run.msmarco-v1-passage.bm25-default.dl19.txt",
    "tas-b": "run.msmarco-v1-passage-distilbert-base-tas-b-dl19.txt",
    "unicoil": "run.msmarco-v1-passage.unicoil-otf.dl19.txt",
}


def url(qid: str = QID) -> str:
    return reverse("analysis:query-detail", args=["dl19", qid])


def official_qrels(qid: str) -> dict[str, int]:
    rows = [line.split() for line in fixture_lines("qrels.dl19-passage.txt")]
    return {d: int(g) for q, _, d, g in rows if q == qid}


def run_rows(system: str, qid: str) -> list[tuple[str, float]]:
    rows = [line.split() for line in fixture_lines(RUNS[system])]
    return [(d, float(s)) for q, _, d, _, s, _ in rows if q == qid]


def oracle_ndcg(system: str, qid: str, judged_only: bool) -> float:
    """pytrec_eval on the fixture files, unjudged rows removed first for judged-only (trec_eval -J)."""
    qrels = official_qrels(qid)
    run = {d: s for d, s in run_rows(system, qid) if not judged_only or d in qrels}
    result = pytrec_eval.RelevanceEvaluator({qid: qrels}, {"ndcg_cut.10"}).evaluate({qid: run})
    return result.get(qid, {}).get("ndcg_cut_10", 0.0)


def trec_eval_top10(system: str, qid: str) -> list[str]:
    """trec_eval's order: score descending, ties by docid descending."""
    rows = sorted(run_rows(system, qid), key=lambda r: r[0], reverse=True)
    return [d for d, _ in sorted(rows, key=lambda r: -r[1])[:10]]


def soup(client, qid: str = QID) -> BeautifulSoup:
    response = client.get(url(qid))
    assert response.status_code == 200
    return BeautifulSoup(response.content, "lxml")


@pytest.mark.django_db
def test_query_page_is_for_staff_only(client, demo_alice):
    assert "/accounts/login/" in client.get(url())["Location"]
    client.force_login(demo_alice)
    assert client.get(url()).status_code == 403


@pytest.mark.django_db
def test_unknown_query_is_404(client, demo_admin):
    client.force_login(demo_admin)
    assert client.get(url("no-such-qid")).status_code == 404


@pytest.mark.django_db
def test_1063750_shows_bm25_ndcg_zero_against_the_threshold_and_each_runs_top_10(client, demo_admin):
    from analysis.models import HardnessAnalysis

    client.force_login(demo_admin)
    page = soup(client)
    bm25 = HardnessAnalysis.objects.get(collection__name="dl19", task="h2r", subject="bm25")
    row = next(tr for tr in page.select("#hardness tbody tr") if "bm25" in tr.get_text())
    cells = [td.get_text(" ", strip=True) for td in row.select("td")]
    assert cells[2] == "0.0000"
    assert cells[3] == f"hard: nDCG@10 (judged only) below the 0.25 quantile, {bm25.threshold:.4f}"
    assert cells[4] == "hard"

    qrels = official_qrels(QID)
    for system in RUNS:
        run = page.select_one(f"#run-{system}")
        assert run.select_one(".ndcg-judged").get_text() == f"{oracle_ndcg(system, QID, True):.4f}"
        assert run.select_one(".ndcg-all").get_text() == f"{oracle_ndcg(system, QID, False):.4f}"
        shown = [[td.get_text(" ", strip=True) for td in tr.select("td")] for tr in run.select("table.top10 tbody tr")]
        assert [r[1] for r in shown] == trec_eval_top10(system, QID)
        assert [r[3] for r in shown] == [str(qrels[d]) if d in qrels else "unjudged" for d in trec_eval_top10(system, QID)]
    assert page.select_one("#run-bm25 .ndcg-judged").get_text() == "0.0000"
    # each LLM judge's grade beside the official one, from the judges' own files
    header = [th.get_text() for th in page.select("#run-tas-b table.top10 thead th")]
    judge_files = {"llama3.2_latest-graded": "qrels.dl19-passage_llama3.2_latest_0123_0_1.txt",
                   "qwen3_8b-binary": "binary_qwen3_8b_dl19.txt"}
    first = page.select("#run-tas-b table.top10 tbody tr")[0].select("td")
    for judge, name in judge_files.items():
        grades = {d: g for q, _, d, g in (line.split() for line in fixture_lines(name)) if q == QID}
        assert first[header.index(judge)].get_text() == grades.get(first[1].get_text(strip=True), "–")


@pytest.mark.django_db
def test_1063750_shows_every_reason_list_of_the_fixtures_with_its_label(client, demo_admin):
    client.force_login(demo_admin)
    page = soup(client)
    lists = page.select("#reasons article.reason-list")
    expected = []
    for path in sorted((FIXTURES / "reasons").glob("*.txt")):
        task = path.name.split(".")[-3]
        for line in path.read_text(encoding="utf-8").splitlines():
            label, qid, _, raw = line.split("\t", 3)
            if qid == QID:
                expected.append((task.upper(), label, [r.strip() for r in ast.literal_eval(raw)]))
    assert len(expected) == 3 and len(lists) == len(expected)
    shown = []
    for article in lists:
        task = article.select_one("h3").get_text(" ", strip=True)
        label = article.select_one(".label code").get_text()
        reasons = [li.contents[0].strip() for li in article.select("ol li")]
        shown.append((task, label, reasons))
    names = {"H2R": "Hard to Retrieve", "H2G": "Hard to Generate", "H2J": "Hard to Judge"}
    for task, label, reasons in expected:
        assert any(t.startswith(names[task]) and "qwen3_8b" in t and lab == label and rs == reasons
                   for t, lab, rs in shown), (task, label)


@pytest.mark.django_db
def test_generations_are_shown_with_reasoning_folded_and_bertscore_per_reference(client, demo_admin):
    import json

    client.force_login(demo_admin)
    page = soup(client)
    generations = {a.select_one("h3").get_text(" ", strip=True): a for a in page.select("#h2g article.generation")}
    qwen = generations["qwen3_8b (zero_shot)"]
    raw = next(json.loads(line) for line in fixture_lines("DL19_D2Q_ZS_qwen3_8b.json")
               if str(json.loads(line)["query_id"]) == QID)["response"]
    assert "<think>" in raw
    shown = qwen.select_one("blockquote.generated").get_text()
    assert "<think>" not in shown and shown.strip() == raw.split("</think>")[-1].strip()
    folded = qwen.select("details")
    assert folded[0].select_one("summary").get_text().startswith("reasoning block")
    raw_shown = next(d for d in folded if d.select_one("summary").get_text() == "raw response")
    assert raw_shown.select_one("pre").get_text() == raw  # the raw response kept
    scores = next(json.loads(line) for line in fixture_lines("dl19_bert_score_qwen3.json")
                  if str(json.loads(line)["qid"]) == QID)
    rows = {tr.select("td")[0].get_text(): tr.select("td")[1].get_text() for tr in qwen.select("tbody tr")}
    for did, f1 in zip(scores["dids"], scores["scores"]["f1"]):
        assert rows[str(did)] == f"{f1:.4f}"


@pytest.mark.django_db
def test_judge_disagreements_are_sorted_by_the_size_of_the_difference(client, demo_admin):
    client.force_login(demo_admin)
    page = soup(client)
    judge = next(a for a in page.select("#h2j article.judge") if a.select_one("h3").get_text().startswith("llama3.2_latest-graded"))
    official = official_qrels(QID)
    llm = {d: int(g) for q, _, d, g in (line.split() for line in fixture_lines("qrels.dl19-passage_llama3.2_latest_0123_0_1.txt")) if q == QID}
    expected = sorted(((abs(llm[d] - official[d]), d) for d in official if d in llm and llm[d] != official[d]),
                      key=lambda t: (-t[0], t[1]))
    rows = [[td.get_text() for td in tr.select("td")] for tr in judge.select("tbody tr")]
    assert [(int(r[3]), r[0]) for r in rows] == expected
    assert all(int(r[1]) == official[r[0]] and int(r[2]) == llm[r[0]] for r in rows)


@pytest.mark.django_db
def test_human_verdicts_grades_and_pairwise_outcomes_are_shown(client, demo_admin, demo_alice,
                                                               django_assert_num_queries):
    from django.utils import timezone

    from analysis.models import Assessor, Judgment, Passage, Query, ReasonProposal
    from annotation.models import Assignment, Campaign, Item, ReasonVerdict

    alice = demo_alice
    query = Query.objects.get(collection__name="dl19", qid="104861")
    proposal = ReasonProposal.objects.filter(query=query, task="h2r").first()
    reason = proposal.reasons.order_by("position").first()
    campaign = Campaign.objects.create(name="c", kind=Campaign.REASONS, task="h2r", collection=query.collection)
    item = Item.objects.create(campaign=campaign, query=query)
    now = timezone.now()
    assignment = Assignment.objects.create(item=item, user=alice, status=Assignment.DONE, leased_at=now, expires_at=now)
    ReasonVerdict.objects.create(assignment=assignment, reason=reason, verdict=ReasonVerdict.DISAGREE)
    annotator, _ = Assessor.objects.get_or_create(name="alice", defaults={"kind": Assessor.HUMAN})
    annotator.user = alice
    annotator.save(update_fields=["user"])
    passage = Passage.objects.filter(judgments__query=query).first()
    Judgment.objects.update_or_create(query=query, passage=passage, assessor=annotator, defaults={"grade": 3})

    client.force_login(demo_admin)
    # the 13 of the query-count test below, and the verdicts' assignments + annotators and categories
    with django_assert_num_queries(15):
        page = soup(client, "104861")
    item_html = next(li for li in page.select("#reasons li") if li.contents[0].strip() == reason.text)
    assert "alice: disagree" in item_html.get_text()
    human = [[td.get_text() for td in tr.select("td")] for tr in page.select("#human tbody tr")]
    assert ["alice", passage.docid, "3"] == human[0][:3]
    prefs = [line for line in fixture_lines("dl19.json") if '"qid":104861,' in line]
    generated = sum('"label":2' in line for line in prefs)
    assert page.select_one("#generated-preferred").get_text() == f"{generated} of {len(prefs)}"


@pytest.mark.django_db
def test_query_count_is_the_same_for_one_run_and_one_judge_as_for_three_and_four(
        client, demo_admin, django_assert_num_queries):
    from analysis.models import Assessor, Judgment, Run

    client.force_login(demo_admin)
    judges = list(Assessor.objects.filter(kind=Assessor.LLM, judgments__query__qid=QID).distinct())
    assert Run.objects.filter(collection__name="dl19").count() == 3 and len(judges) == 4
    # session, user, collection, query; then query_evidence: labels + analyses, run rows +
    # systems + passages, judgments + assessors + users + passages, generations + generators,
    # BERTScore rows + generators + passages, reason lists + assessors, reasons + categories,
    # verdicts (none here, so their assignments and categories are not read), pairwise
    # preferences + assessors + passages + generations
    expected = 13
    with django_assert_num_queries(expected):
        client.get(url())
    Run.objects.filter(collection__name="dl19").exclude(system__name="bm25").delete()
    Judgment.objects.filter(assessor__in=judges[1:]).delete()
    with django_assert_num_queries(expected):
        page = BeautifulSoup(client.get(url()).content, "lxml")
    assert len(page.select("#h2r article.run")) == 1 and len(page.select("#h2j article.judge")) == 1

"""BERTScore and reasons files are merged set-based from their staging table: a new version
creates, updates and leaves alone row by row, ``--replace`` drops the earlier import's rows,
and the repeats only the whole file shows (a qid given on two lines) are refused."""
from __future__ import annotations

import json

import pytest

from analysis.importers import services
from analysis.importers.errors import ImportFileError
from analysis.models import BertScore, Reason, ReasonProposal
from tests.analysis.importing import database_digest, write_lines

pytestmark = pytest.mark.django_db

LABEL = "dl19_bm25_bertscore_umbrela_0.3"


@pytest.fixture
def dl19(tmp_path):
    queries = write_lines(tmp_path / "queries.tsv", ["q1\tfirst query", "q2\tsecond query", "q3\tthird query"])
    services.queries_import(collection="dl19", path=queries)
    return tmp_path


def reasons_file(path, lists: dict[str, list[str]], *, extra: list[str] = ()) -> object:
    return write_lines(path, [f"{LABEL}\t{qid}\tthe query\t{reasons!r}" for qid, reasons in lists.items()] + list(extra))


def stored_reasons() -> dict[str, list[str]]:
    return {
        p.query.qid: [r.text for r in p.reasons.all()]
        for p in ReasonProposal.objects.select_related("query").prefetch_related("reasons")
    }


def test_a_new_reasons_file_updates_the_changed_lists_in_order_and_leaves_the_others_alone(dl19):
    first = reasons_file(dl19 / "v1.txt", {"q1": ["a", "b"], "q2": ["c"]}, extra=["dl20_bm25_x_0.3\tq9\tq\t['z']"])
    report = services.reasons_import(task="h2r", assessor="qwen3_8b", path=first)
    assert (report.rows, report.created, report.skipped) == (3, 2, 1)
    kept = set(Reason.objects.filter(proposal__query__qid="q2").values_list("id", flat=True))

    longer = reasons_file(dl19 / "v2.txt", {"q1": ["a", " B ", "c"], "q2": ["c"], "q3": ["d"]})
    report = services.reasons_import(task="h2r", assessor="qwen3_8b", path=longer)
    assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
    assert stored_reasons() == {"q1": ["a", "B", "c"], "q2": ["c"], "q3": ["d"]}
    assert set(Reason.objects.filter(proposal__query__qid="q2").values_list("id", flat=True)) == kept

    shorter = reasons_file(dl19 / "v3.txt", {"q1": ["a"], "q2": ["c"], "q3": ["d"]})
    report = services.reasons_import(task="h2r", assessor="qwen3_8b", path=shorter)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    assert stored_reasons()["q1"] == ["a"]

    only_q2 = reasons_file(dl19 / "v4.txt", {"q2": ["c"]})
    report = services.reasons_import(task="h2r", assessor="qwen3_8b", path=only_q2, replace=True)
    assert report.deleted == 3 and report.created == 1
    assert stored_reasons() == {"q2": ["c"]}


def test_a_label_and_qid_given_twice_or_an_unknown_qid_is_refused_naming_its_line(dl19):
    before = database_digest()
    twice = reasons_file(dl19 / "twice.txt", {"q1": ["a"], "q2": ["b"]}, extra=[f"{LABEL}\tq1\tq\t[]"])
    with pytest.raises(ImportFileError) as refused:
        services.reasons_import(task="h2r", assessor="qwen3_8b", path=twice)
    assert str(refused.value) == f"{twice}:3: duplicate reasons for ({LABEL}, q1) (first on line 1)"
    unknown = reasons_file(dl19 / "unknown.txt", {"q1": ["a"], "q7": ["b"]})
    with pytest.raises(ImportFileError) as refused:
        services.reasons_import(task="h2r", assessor="qwen3_8b", path=unknown)
    assert str(refused.value) == f"{unknown}:2: unknown qid q7: not a query of collection dl19"
    assert database_digest() == before


def bertscore_file(path, rows: dict[str, dict[str, float]]) -> object:
    lines = []
    for qid, scores in rows.items():
        dids = list(scores)
        values = [scores[d] for d in dids]
        lines.append(json.dumps({"qid": qid, "dids": dids, "main_performance": "generated",
                                 "scores": {"precision": values, "recall": values, "f1": values,
                                            "hashcode": "roberta-large_L17"}}))
    return write_lines(path, lines)


def stored_scores() -> dict[tuple[str, str], tuple[int, float, bool]]:
    return {
        (b.query.qid, b.passage.docid): (b.position, b.f1, b.generation_id is not None)
        for b in BertScore.objects.select_related("query", "passage")
    }


def test_a_new_bertscore_file_updates_the_changed_scores_and_replace_drops_the_earlier_rows(dl19):
    generations = write_lines(dl19 / "gens.json", [json.dumps({"query_id": "q1", "response": "a passage"})])
    services.generations_import(collection="dl19", generator="qwen3_8b", path=generations)
    first = bertscore_file(dl19 / "v1.json", {"q1": {"d1": 0.5, "d2": 0.25}, "q2": {"d3": 0.75}})
    report = services.bertscore_import(collection="dl19", generator="qwen3_8b", path=first)
    assert (report.rows, report.created, report.new_passages) == (3, 3, 3)
    assert report.notes == ["1 queries have no imported generation of qwen3_8b/zero_shot: their rows are not linked to one"]
    assert stored_scores() == {("q1", "d1"): (0, 0.5, True), ("q1", "d2"): (1, 0.25, True),
                               ("q2", "d3"): (0, 0.75, False)}
    untouched = BertScore.objects.get(passage__docid="d3").pk

    second = bertscore_file(dl19 / "v2.json", {"q1": {"d2": 0.25, "d1": 0.125}, "q2": {"d3": 0.75}})
    report = services.bertscore_import(collection="dl19", generator="qwen3_8b", path=second)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 1)
    assert stored_scores() == {("q1", "d1"): (1, 0.125, True), ("q1", "d2"): (0, 0.25, True),
                               ("q2", "d3"): (0, 0.75, False)}
    assert BertScore.objects.get(passage__docid="d3").pk == untouched

    only_q2 = bertscore_file(dl19 / "v3.json", {"q2": {"d3": 0.75}})
    report = services.bertscore_import(collection="dl19", generator="qwen3_8b", path=only_q2, replace=True)
    assert (report.deleted, report.created) == (3, 1)
    assert stored_scores() == {("q2", "d3"): (0, 0.75, False)}


def test_a_bertscore_qid_given_twice_is_refused_even_on_a_line_without_dids(dl19):
    before = database_digest()
    path = bertscore_file(dl19 / "twice.json", {"q1": {"d1": 0.5}, "q2": {"d2": 0.5}})
    path.write_text(path.read_text() + json.dumps({"qid": "q1", "dids": [], "scores": {
        "precision": [], "recall": [], "f1": [], "hashcode": "roberta-large_L17"}}) + "\n")
    with pytest.raises(ImportFileError) as refused:
        services.bertscore_import(collection="dl19", generator="qwen3_8b", path=path)
    assert str(refused.value) == f"{path}:3: duplicate BERTScore row for query q1 (first on line 1)"
    assert database_digest() == before

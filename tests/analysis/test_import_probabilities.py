"""import_qrels --probabilities FILE (LARA's CSV) and its way back out (issue 16, item 1).

The qrels give the grades, the CSV the assessor's probability of each grade for pairs of
those qrels; they are stored on the import's judgments (``Judgment.probabilities``, index =
grade), the format the ensemble writes and the budget methods read. The refusals are in
the refusal table (tests/analysis/test_import_refusals.py, ids ``probabilities-*``).
"""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from analysis.importers import services
from analysis.models import Judgment
from tests.analysis.importing import database_digest
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

QRELS = "1 Q0 d1 2\n1 Q0 d2 0\n2 Q0 d3 3\n"
CSV = (
    "topic_id,doc_id,annotation,prob_0,prob_1,prob_2,prob_3\n"
    "1,d1,2,0.1,0.2,0.6,0.1\n"
    "2,d3,,0.0,0.05,0.15,0.8\n"  # an empty annotation: the qrels' grade stands
)


@pytest.fixture
def mini(tmp_path):
    services.queries_import(collection="mini", data=b"1\tfirst query\n2\tsecond query\n", filename="q.tsv")
    (tmp_path / "qrels.txt").write_text(QRELS)
    (tmp_path / "probs.csv").write_text(CSV)
    return tmp_path


def stored(assessor: str) -> dict[tuple[str, str], tuple[int, list[float] | None]]:
    rows = Judgment.objects.filter(assessor__name=assessor).values_list("query__qid", "passage__docid", "grade", "probabilities")
    return {(q, d): (g, p) for q, d, g, p in rows}


def import_qrels(path, *args: str) -> str:
    out = io.StringIO()
    call_command("import_qrels", str(path), "--collection", "mini", "--no-progress", *args, stdout=out)
    return out.getvalue()


def test_the_probabilities_are_stored_on_the_judgments_of_the_import(mini):
    summary = import_qrels(mini / "qrels.txt", "--assessor", "lara-llm", "--probabilities", str(mini / "probs.csv"))
    assert "2 of 3 judgments with probabilities" in summary
    assert stored("lara-llm") == {
        ("1", "d1"): (2, [0.1, 0.2, 0.6, 0.1]),
        ("1", "d2"): (0, None),  # not in the CSV: unknown
        ("2", "d3"): (3, [0.0, 0.05, 0.15, 0.8]),
    }
    # The same two files again: unchanged. Another CSV: the probabilities follow it.
    assert "unchanged" in import_qrels(mini / "qrels.txt", "--assessor", "lara-llm", "--probabilities", str(mini / "probs.csv"))
    (mini / "probs2.csv").write_text("topic_id,doc_id,prob_0,prob_1,prob_2,prob_3\n1,d2,0.7,0.3,0,0\n")
    import_qrels(mini / "qrels.txt", "--assessor", "lara-llm", "--probabilities", str(mini / "probs2.csv"))
    assert {k: v[1] for k, v in stored("lara-llm").items()} == {
        ("1", "d1"): None, ("1", "d2"): [0.7, 0.3, 0.0, 0.0], ("2", "d3"): None,
    }


def test_a_re_import_compares_the_stored_probabilities(mini):
    import_qrels(mini / "qrels.txt", "--assessor", "lara-llm", "--probabilities", str(mini / "probs.csv"))
    # --replace reads both files again: the same probabilities leave every judgment alone.
    again = import_qrels(mini / "qrels.txt", "--assessor", "lara-llm", "--probabilities", str(mini / "probs.csv"),
                         "--replace")
    assert "0 created, 0 updated, 3 unchanged" in again
    # One probability changed: that judgment only. The qrels without the CSV: none left.
    (mini / "probs3.csv").write_text(CSV.replace("0.0,0.05,0.15,0.8", "0.0,0.05,0.25,0.7"))
    changed = import_qrels(mini / "qrels.txt", "--assessor", "lara-llm", "--probabilities", str(mini / "probs3.csv"))
    assert "0 created, 1 updated, 2 unchanged" in changed
    assert stored("lara-llm")[("2", "d3")] == (3, [0.0, 0.05, 0.25, 0.7])
    without = import_qrels(mini / "qrels.txt", "--assessor", "lara-llm", "--replace")
    assert "0 created, 2 updated, 1 unchanged" in without
    assert "with probabilities" not in without
    assert all(p is None for _, p in stored("lara-llm").values())


def test_binary_probabilities_by_answer(mini):
    (mini / "binary.txt").write_text("1 Q0 d1 1\n1 Q0 d2 0\n")
    (mini / "binary.csv").write_text("topic_id,doc_id,annotation,prob_yes,prob_no\n1,d1,1,0.75,0.25\n1,d2,0,0.125,0.875\n")
    import_qrels(mini / "binary.txt", "--assessor", "yesno", "--scale", "binary", "--probabilities", str(mini / "binary.csv"))
    assert stored("yesno") == {("1", "d1"): (1, [0.25, 0.75]), ("1", "d2"): (0, [0.875, 0.125])}


@pytest.mark.parametrize("scale", ["graded", "binary"])
def test_export_with_probabilities_imports_back_to_the_same_floats(mini, scale):
    if scale == "graded":
        qrels, csv = "1 Q0 d1 2\n2 Q0 d3 3\n", "topic_id,doc_id,annotation,prob_0,prob_1,prob_2,prob_3\n1,d1,2,0.1,0.2,0.6,0.1\n2,d3,3,0.0,0.05,0.15,0.8\n"
    else:
        qrels, csv = "1 Q0 d1 1\n2 Q0 d3 0\n", "topic_id,doc_id,prob_no,prob_yes\n1,d1,0.3,0.7\n2,d3,0.9,0.1\n"
    (mini / "a.txt").write_text(qrels)
    (mini / "a.csv").write_text(csv)
    import_qrels(mini / "a.txt", "--assessor", "judge-a", "--scale", scale, "--probabilities", str(mini / "a.csv"))
    call_command("export", kind="qrels", collection="mini", assessor="judge-a", output=str(mini / "out.txt"),
                 probabilities=str(mini / "out.csv"), stderr=io.StringIO())
    assert (mini / "out.txt").read_text() == qrels  # the qrels stay TREC's four columns
    import_qrels(mini / "out.txt", "--assessor", "judge-b", "--scale", scale, "--probabilities", str(mini / "out.csv"))
    assert stored("judge-b") == stored("judge-a")
    assert all(p is not None for _, p in stored("judge-b").values())


def test_the_upload_api_takes_the_probabilities_file(mini, admin_user):
    api = token_client(admin_user)
    with open(mini / "qrels.txt", "rb") as qrels, open(mini / "probs.csv", "rb") as probabilities:
        response = api.post("/api/imports/", {"kind": "qrels", "collection": "mini", "assessor": "uploaded",
                                              "file": qrels, "probabilities": probabilities}, format="multipart")
    assert response.status_code == 201, response.content
    assert stored("uploaded") == stored_after_command(mini)

    (mini / "bad.csv").write_text(CSV + "2,d9,0,1,0,0,0\n")
    before = database_digest()
    with open(mini / "qrels.txt", "rb") as qrels, open(mini / "bad.csv", "rb") as probabilities:
        response = api.post("/api/imports/", {"kind": "qrels", "collection": "mini", "assessor": "uploaded2",
                                              "file": qrels, "probabilities": probabilities}, format="multipart")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_line"
    assert error["details"] == {"file": "bad.csv", "line": 4, "message": "unknown pair (2, d9): not in qrels.txt"}
    assert database_digest() == before


def stored_after_command(mini):
    import_qrels(mini / "qrels.txt", "--assessor", "by-command", "--probabilities", str(mini / "probs.csv"))
    return stored("by-command")

"""The ensemble assessor: vote shares as probabilities, one grade per pair, ties to the lower grade."""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.budget_ensemble import NO_VOTE, ensemble_labels
from analysis.budget_selectors import ensemble_rows, llm_grade_probabilities
from analysis.models import Assessor, Collection, Judgment, Passage, Query

X = NO_VOTE


def test_majority_with_ties_to_the_lower_grade():
    grades = np.array([[3, 3, 2, 1], [2, 3, 2, 3], [0, 1, X, X], [1, X, X, X]])
    labels = ensemble_labels(grades, n_grades=4)
    assert labels.grades.tolist() == [3, 2, 0, 1]
    assert labels.probabilities.tolist() == [
        [0, 0.25, 0.25, 0.5], [0, 0, 0.5, 0.5], [0.5, 0.5, 0, 0], [0, 1, 0, 0],
    ]
    assert labels.votes.tolist() == [4, 4, 2, 1]


def test_mean_rule_rounds_halves_down():
    grades = np.array([[1, 2], [1, 3], [2, 3], [0, 1]])
    labels = ensemble_labels(grades, n_grades=4, rule="mean")
    assert labels.grades.tolist() == [1, 2, 2, 0]  # 1.5 -> 1, 2.0, 2.5 -> 2, 0.5 -> 0


def test_pairs_no_judge_graded_are_left_out_and_bad_grades_refused():
    labels = ensemble_labels(np.array([[X, X], [2, X]]), n_grades=4)
    assert labels.rows.tolist() == [1] and labels.grades.tolist() == [2]
    with pytest.raises(ValueError, match="outside 0..1"):
        ensemble_labels(np.array([[0, 2]]), n_grades=2)
    with pytest.raises(ValueError, match="unknown rule"):
        ensemble_labels(np.array([[0, 1]]), n_grades=2, rule="median")


@pytest.fixture
def three_judges(db):
    collection = Collection.objects.create(name="c1")
    queries = [Query.objects.create(collection=collection, qid=q) for q in ("q1", "q2")]
    passages = [Passage.objects.create(collection=collection, docid=d) for d in ("d1", "d2")]
    judges = [Assessor.objects.create(name=n, kind=Assessor.LLM) for n in ("a", "b", "c")]
    votes = {  # (query, passage): grades of a, b, c (None: no valid grade)
        (0, 0): (3, 3, 1), (0, 1): (0, 1, None), (1, 0): (2, 2, 2),
    }
    for (qi, pi), grades in votes.items():
        for judge, grade in zip(judges, grades):
            Judgment.objects.create(query=queries[qi], passage=passages[pi], assessor=judge, grade=grade,
                                    valid=grade is not None)
    return collection, judges, queries, passages


def test_ensemble_rows_read_from_the_database(three_judges):
    collection, judges, queries, passages = three_judges
    rows = ensemble_rows(collection=collection, members=judges)
    assert [(r.query_id, r.passage_id, r.grade) for r in rows] == [
        (queries[0].id, passages[0].id, 3), (queries[0].id, passages[1].id, 0), (queries[1].id, passages[0].id, 2),
    ]
    assert rows[1].probabilities == [0.5, 0.5, 0.0, 0.0]
    single = llm_grade_probabilities(collection=collection, assessors=[judges[0]])
    assert single.probabilities.tolist() == [[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]]  # one-hot of a's grades


def test_dry_run_reports_and_writes_nothing(three_judges):
    out = io.StringIO()
    before = Judgment.objects.count()
    call_command("ensemble", collection="c1", assessors="a,b,c", name="abc", dry_run=True, stdout=out)
    assert "3 pairs, 2 with split votes; grades 0: 1, 2: 1, 3: 1" in out.getvalue()
    assert Judgment.objects.count() == before and not Assessor.objects.filter(name="abc").exists()


@pytest.mark.parametrize("options, message", [
    ({"assessors": "a"}, "at least two different assessors"),
    ({"assessors": "a,a"}, "at least two different assessors"),
    ({"assessors": "a,zz"}, "unknown member assessor 'zz'"),
    ({"name": "a"}, "cannot be named after one of its members"),
    ({"collection": "c9"}, "unknown collection 'c9'"),
])
def test_bad_input_is_refused(three_judges, options, message):
    args = {"collection": "c1", "assessors": "a,b,c", "name": "abc", **options}
    with pytest.raises(CommandError, match=message):
        call_command("ensemble", **args, stdout=io.StringIO())


def test_the_ensemble_is_stored_as_an_assessor_with_its_vote_shares(three_judges):
    collection, judges, queries, passages = three_judges
    before = Judgment.objects.count()
    call_command("ensemble", collection="c1", assessors="a,b,c", name="abc", stdout=io.StringIO())
    ensemble = Assessor.objects.get(name="abc")
    assert ensemble.parameters == {"ensemble": {"members": ["a", "b", "c"], "rule": "majority"}}
    stored = dict(((j.query_id, j.passage_id), j.grade) for j in Judgment.objects.filter(assessor=ensemble))
    assert stored == {(queries[0].id, passages[0].id): 3, (queries[0].id, passages[1].id): 0,
                      (queries[1].id, passages[0].id): 2}
    assert Judgment.objects.count() == before + 3
    shares = [j.probabilities for j in Judgment.objects.filter(assessor=ensemble)]
    assert all(p is not None and abs(sum(p) - 1) < 1e-9 for p in shares)

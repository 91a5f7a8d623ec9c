"""Relevance agreement on the real DL21 data and on a three-annotator fixture.

Oracles: the confusion matrix printed in the paper-data README, scikit-learn's
``cohen_kappa_score``, statsmodels' ``fleiss_kappa`` and the ``krippendorff`` package,
all on arrays the tests read themselves from the raw files.
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis import agreement
from analysis.agreement_selectors import AgreementInputError, aligned_labels
from analysis.models import Assessor
from tests.analysis.qrels_loading import import_dl21, read_qrels

PAPER_DL21_LLAMA = [[1215, 1260, 859, 1004], [258, 987, 662, 1156], [126, 720, 439, 1056], [37, 344, 212, 493]]
LLAMA_GRADED = "qrels.dl21-passage_llama3.2_latest_0123_0_1.txt"


@pytest.fixture
def dl21(paper_data, db):
    base = paper_data / "dl21"
    import_dl21(
        base,
        (LLAMA_GRADED, "llama3.2", "graded"),
        ("binary_llama3.2_latest_dl21.txt", "llama3.2-binary", "binary"),
    )
    return base


def _raw_arrays(base, other_file):
    official = read_qrels(base / "qrels.dl21-passage.txt")
    other = read_qrels(base / other_file)
    keys = sorted(set(official) & set(other))
    return np.array([official[k] for k in keys]), np.array([other[k] for k in keys])


def test_dl21_llama_graded_reproduces_the_paper_confusion_matrix_and_sklearn_kappas(dl21):
    data = aligned_labels(collection="dl21", assessors=["official", "llama3.2"])
    result = agreement.pair_agreement(data.grades[:, 0], data.grades[:, 1], data.query_ids, n_boot=200)
    assert result.confusion_matrix == PAPER_DL21_LLAMA
    ref, llm = _raw_arrays(dl21, LLAMA_GRADED)
    assert result.n == len(ref) == 10828
    assert result.kappa == pytest.approx(cohen_kappa_score(ref, llm), abs=1e-12)
    assert result.kappa_linear == pytest.approx(cohen_kappa_score(ref, llm, weights="linear"), abs=1e-12)
    assert result.kappa_quadratic == pytest.approx(cohen_kappa_score(ref, llm, weights="quadratic"), abs=1e-12)
    assert result.percent_agreement == pytest.approx(np.mean(ref == llm))
    assert result.kappa_ci[0] < result.kappa < result.kappa_ci[1]
    # Per-grade accuracy is the diagonal over the row (the human grade).
    assert result.per_grade_accuracy[3] == pytest.approx(493 / (37 + 344 + 212 + 493))


def test_binary_judge_is_compared_on_the_grade_2_split(dl21):
    data = aligned_labels(collection="dl21", assessors=["official", "llama3.2-binary"])
    assert data.binary_scale == [False, True]
    result = agreement.pair_agreement(
        data.grades[:, 0], data.grades[:, 1], data.query_ids, other_is_binary=True, n_boot=0
    )
    ref, llm = _raw_arrays(dl21, "binary_llama3.2_latest_dl21.txt")
    ref_bin = (ref >= 2).astype(int)
    assert result.binary and result.labels == [0, 1]
    assert result.kappa == pytest.approx(cohen_kappa_score(ref_bin, llm), abs=1e-12)
    assert np.array_equal(result.confusion_matrix, [[np.sum((ref_bin == a) & (llm == b)) for b in (0, 1)] for a in (0, 1)])


def test_graded_judge_on_the_binary_split(dl21):
    data = aligned_labels(collection="dl21", assessors=["official", "llama3.2"])
    result = agreement.pair_agreement(data.grades[:, 0], data.grades[:, 1], data.query_ids, binary=True, n_boot=0)
    m = np.array(PAPER_DL21_LLAMA)
    # Collapse the paper's matrix: grades 0-1 -> 0, 2-3 -> 1.
    collapsed = [[m[:2, :2].sum(), m[:2, 2:].sum()], [m[2:, :2].sum(), m[2:, 2:].sum()]]
    assert result.confusion_matrix == collapsed


def test_bootstrap_is_reproducible_with_a_seed_and_resamples_queries():
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 4, 3000)
    other = np.clip(ref + rng.integers(-1, 2, 3000), 0, 3)
    queries = np.repeat(np.arange(30), 100)
    a = agreement.pair_agreement(ref, other, queries, n_boot=300, seed=11)
    b = agreement.pair_agreement(ref, other, queries, n_boot=300, seed=11)
    c = agreement.pair_agreement(ref, other, queries, n_boot=300, seed=12)
    assert a.kappa_ci == b.kappa_ci and a.kappa_ci != c.kappa_ci
    # Replicate by hand: draw queries with the same weights, recompute with sklearn.
    weights = agreement.bootstrap_query_weights(30, n_boot=300, seed=11)
    manual = []
    for w in weights:
        rows = np.concatenate([np.flatnonzero(queries == q) for q in np.repeat(np.arange(30), w)])
        manual.append(cohen_kappa_score(ref[rows], other[rows]))
    assert a.kappa_ci == pytest.approx(list(np.quantile(manual, [0.025, 0.975])))


def three_annotators():
    """150 pairs over 15 queries, three annotators with different habits, grades 0..3."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, 150)
    a = truth
    b = np.clip(truth + rng.choice([-1, 0, 0, 1], 150), 0, 3)
    c = np.where(rng.random(150) < 0.3, rng.integers(0, 4, 150), truth)
    return np.column_stack([a, b, c]), np.repeat(np.arange(15), 10)


def test_fleiss_and_krippendorff_equal_statsmodels_and_krippendorff_on_three_annotators():
    import krippendorff
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    labels, queries = three_annotators()
    result = agreement.set_agreement(labels, queries, assessors=["alice", "bob", "carol"], n_boot=200)
    table, _ = aggregate_raters(labels)
    assert result.fleiss_kappa == pytest.approx(fleiss_kappa(table, method="fleiss"), abs=1e-12)
    assert result.alpha_nominal == pytest.approx(krippendorff.alpha(labels.T, level_of_measurement="nominal"), abs=1e-12)
    assert result.alpha_ordinal == pytest.approx(krippendorff.alpha(labels.T, level_of_measurement="ordinal"), abs=1e-12)
    for name in ("fleiss_kappa", "alpha_nominal", "alpha_ordinal"):
        lo, hi = getattr(result, f"{name}_ci")
        assert lo <= getattr(result, name) <= hi


def test_vectorised_bootstrap_formulas_equal_the_libraries_on_a_resample():
    """The CI path uses per-query sums; on one resample it must equal the libraries."""
    import krippendorff
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    labels, queries = three_annotators()
    weights = agreement.bootstrap_query_weights(15, n_boot=1, seed=5)[0]
    rows = np.concatenate([np.flatnonzero(queries == q) for q in np.repeat(np.arange(15), weights)])
    sample = labels[rows]
    counts = agreement.category_counts(labels, n_categories=4)
    tables = agreement.per_query_set_tables(counts, queries, n_queries=15)
    boot = {k: weights @ v for k, v in tables.items()}
    fk = agreement.fleiss_kappa_from_sums(boot["fleiss_p"], boot["items"], boot["totals"], 3)
    assert fk == pytest.approx(fleiss_kappa(aggregate_raters(sample)[0]), abs=1e-12)
    co = boot["coincidence"].reshape(4, 4)
    for level in ("nominal", "ordinal"):
        expected = krippendorff.alpha(sample.T, level_of_measurement=level, value_domain=[0, 1, 2, 3])
        assert agreement.alpha_from_coincidence(co, level=level) == pytest.approx(expected, abs=1e-12)


@pytest.mark.django_db
def test_three_assessors_read_from_the_database_on_pairs_all_judged():
    from analysis.models import Collection, Judgment, Passage, Query

    labels, queries = three_annotators()
    coll = Collection.objects.create(name="fixture")
    qs = Query.objects.bulk_create([Query(collection=coll, qid=f"q{i}") for i in range(15)])
    ps = Passage.objects.bulk_create([Passage(collection=coll, docid=f"d{i}") for i in range(151)])
    people = [Assessor.objects.create(name=n, kind=Assessor.HUMAN) for n in ("alice", "bob", "carol")]
    rows = []
    for i, (q, grades) in enumerate(zip(queries, labels)):
        for who, g in zip(people, grades):
            rows.append(Judgment(query=qs[q], passage=ps[i], assessor=who, grade=int(g)))
    # A pair only two of them judged, and an invalid answer: both must be left out.
    rows.append(Judgment(query=qs[0], passage=ps[150], assessor=people[0], grade=1))
    rows.append(Judgment(query=qs[0], passage=ps[150], assessor=people[1], grade=1))
    Judgment.objects.bulk_create(rows)
    Judgment.objects.filter(assessor=people[2], passage=ps[0]).update(valid=False, grade=None)
    data = aligned_labels(collection="fixture", assessors=["alice", "bob", "carol"])
    assert data.n == 149
    assert np.array_equal(data.grades, labels[1:])
    with pytest.raises(AgreementInputError):
        aligned_labels(collection="fixture", assessors=["alice", "nobody"])


def test_kappa_from_matrix_equals_sklearn_on_random_labels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        ref = rng.integers(0, 4, 500)
        other = np.where(rng.random(500) < 0.5, ref, rng.integers(0, 4, 500))
        cm = agreement.confusion_matrix(ref, other, labels=agreement.GRADED_LABELS)
        for weights in agreement.WEIGHTINGS:
            assert agreement.kappa_from_matrix(cm, weights=weights) == pytest.approx(
                cohen_kappa_score(ref, other, weights=weights), abs=1e-12
            )


def test_evaluation_effect_ranks_systems_under_each_qrels_and_gives_kendall_tau():
    import math

    official = {"q1": {"d1": 3, "d2": 0}}
    llm = {"q1": {"d1": 0, "d2": 3}}
    runs = {"A": {"q1": {"d1": 2.0, "d2": 1.0}}, "B": {"q1": {"d1": 1.0, "d2": 2.0}}}
    effect = agreement.evaluation_effect(runs, reference=official, assessor=llm)
    by_run = {r["run"]: r for r in effect["runs"]}
    second_place = (3 / math.log2(3)) / 3  # the relevant passage at rank 2, linear gain
    assert by_run["A"]["ndcg_cut_10_reference"] == pytest.approx(1.0)
    assert by_run["B"]["ndcg_cut_10_reference"] == pytest.approx(second_place)
    assert by_run["A"]["ndcg_cut_10_assessor"] == pytest.approx(second_place)
    assert by_run["B"]["ndcg_cut_10_assessor"] == pytest.approx(1.0)
    assert effect["kendall_tau_b"] == pytest.approx(-1.0)


def test_two_binary_judges_are_compared_as_they_answered(dl21):
    """A binary reference keeps its 0/1 answers (never re-thresholded at grade 2)."""
    from annotation.reports import pair_report

    result = pair_report(collection="dl21", reference="llama3.2-binary", assessor="official", n_boot=0)
    binary = read_qrels(dl21 / "binary_llama3.2_latest_dl21.txt")
    official = read_qrels(dl21 / "qrels.dl21-passage.txt")
    keys = sorted(binary)
    ref = np.array([binary[k] for k in keys])
    other = np.array([int(official[k] >= 2) for k in keys])
    assert result["confusion_matrix"] == [[int(np.sum((ref == a) & (other == b))) for b in (0, 1)] for a in (0, 1)]
    assert result["kappa"] == pytest.approx(cohen_kappa_score(ref, other), abs=1e-12)

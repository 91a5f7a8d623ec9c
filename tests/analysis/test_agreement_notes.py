"""What the agreement statistics say when a figure is missing or means little, and the
coverage and shared-pairs rules behind Kendall's tau-b (issue #15, item 5)."""
from __future__ import annotations

import numpy as np
import pytest
import pytrec_eval
from scipy.stats import kendalltau

from analysis import agreement


def test_a_missing_interval_says_why():
    ref, other = np.array([0, 1, 2, 3]), np.array([0, 1, 3, 3])
    off = agreement.pair_agreement(ref, other, np.array([1, 1, 2, 2]), n_boot=0)
    assert off.kappa_ci is None and off.ci_note == "no interval: n_boot=0 (bootstrap off)"
    one_query = agreement.pair_agreement(ref, other, np.array([1, 1, 1, 1]), n_boot=50)
    assert one_query.kappa_ci is None and one_query.ci_note == "no interval: fewer than 2 queries (1)"
    both = agreement.pair_agreement(ref, other, np.array([1, 1, 2, 2]), n_boot=50)
    assert both.kappa_ci is not None and both.ci_note is None


def test_an_undefined_kappa_says_why():
    same = agreement.pair_agreement(np.zeros(6, int), np.zeros(6, int), np.arange(6), n_boot=0)
    assert same.kappa != same.kappa  # NaN: chance agreement is 1
    assert same.undefined_note.startswith("undefined: both assessors gave every shared pair the same grade")
    assert agreement.pair_agreement(np.array([0, 1]), np.array([0, 1]), np.arange(2), n_boot=0).undefined_note is None


def test_coverage_is_the_share_of_the_reference_pairs_the_assessor_judged():
    reference, assessor = np.arange(10, dtype=np.int64), np.array([2, 3, 11, 12], dtype=np.int64)
    assert agreement.pair_coverage(reference, assessor) == {
        "shared_pairs": 2, "reference_pairs": 10, "assessor_pairs": 4, "coverage": 0.2,
    }


@pytest.mark.parametrize("n_runs", [2, 3, 4])
def test_fewer_than_five_runs_say_the_p_value_cannot_be_small(n_runs):
    smallest = kendalltau(range(n_runs), range(n_runs)).pvalue
    assert f"cannot fall below {smallest:.3f}" in agreement.p_value_note(n_runs)
    assert agreement.p_value_note(5) is None


def test_tau_b_is_on_the_pairs_both_qrels_share():
    """The reference judged d1..d4, the assessor only d3 and d4 (and d9, unjudged by the
    reference): both rankings come from d3 and d4 alone, as pytrec_eval gives them."""
    reference = {"q": {"d1": 3, "d2": 2, "d3": 1, "d4": 0}}
    assessor = {"q": {"d3": 0, "d4": 2, "d9": 3}}
    runs = {
        "A": {"q": {"d1": 5.0, "d3": 4.0, "d4": 3.0}},
        "B": {"q": {"d3": 5.0, "d4": 4.0, "d2": 3.0}},
        "C": {"q": {"d9": 5.0, "d1": 4.5, "d3": 4.0, "d4": 2.0}},
    }
    effect = agreement.evaluation_effect(runs, reference=reference, assessor=assessor)
    shared_ref, shared_asr = {"q": {"d3": 1, "d4": 0}}, {"q": {"d3": 0, "d4": 2}}

    def ndcg(qrels, run):
        return pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(run)["q"]["ndcg_cut_10"]

    under_ref = [ndcg(shared_ref, runs[r]) for r in "ABC"]
    under_asr = [ndcg(shared_asr, runs[r]) for r in "ABC"]
    assert [r["ndcg_cut_10_reference"] for r in effect["runs"]] == pytest.approx(under_ref)
    assert [r["ndcg_cut_10_assessor"] for r in effect["runs"]] == pytest.approx(under_asr)
    expected = kendalltau(under_ref, under_asr, variant="b")
    assert effect["kendall_tau_b"] == pytest.approx(expected.statistic)
    assert effect["kendall_tau_b_p"] == pytest.approx(expected.pvalue)
    assert (effect["shared_pairs"], effect["reference_pairs"], effect["coverage"]) == (2, 4, 0.5)
    # on all of the reference's pairs run A would be perfect; on the shared ones it is not
    assert ndcg(reference, runs["A"]) != pytest.approx(effect["runs"][0]["ndcg_cut_10_reference"])
    assert len(set(under_ref)) == 3 and len(set(under_asr)) == 3  # tau-b is defined
    assert "only 3 runs" in effect["p_value_note"]


def test_tau_without_two_runs_says_so():
    effect = agreement.evaluation_effect({"A": {"q": {"d1": 1.0}}}, reference={"q": {"d1": 1}}, assessor={"q": {"d1": 2}})
    assert effect["kendall_tau_b"] is None and effect["kendall_tau_b_note"] == "no tau: needs two runs with a shared pair (1)"


def test_the_queries_with_the_most_differing_pairs_come_first():
    ref = np.array([0, 0, 1, 1, 2, 3, 3])
    other = np.array([0, 1, 1, 1, 0, 0, 0])
    queries = np.array([7, 7, 8, 8, 9, 9, 9])
    assert agreement.pair_agreement(ref, other, queries, n_boot=0, by_query=True).disagreement_by_query == [
        {"query_id": 9, "pairs": 3, "differing": 3},
        {"query_id": 7, "pairs": 2, "differing": 1},
    ]

"""H2J hard sets against an independent pandas computation over the raw files."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis.hardness.h2j import h2j_analysis
from analysis.hardness.h2r import read_qrels_file

COLLECTIONS = ["dl19", "dl21"]


def _raw(path) -> pd.DataFrame:
    df = pd.read_csv(path, sep=" ", header=None, names=["qid", "it", "docid", "grade"], dtype=str)
    df["grade"] = df["grade"].astype(int)
    return df[["qid", "docid", "grade"]]


def reference_graded(human: pd.DataFrame, llm: pd.DataFrame, q: float = 0.25, margin: int = 2,
                     include_zero: bool = False) -> set[str]:
    """The reference's counting: group-by over the disagreeing pairs only."""
    m = human.merge(llm, on=["qid", "docid"], suffixes=("_h", "_l"))
    bad = m[(m["grade_l"] - m["grade_h"]).abs() > margin]
    counts = bad.groupby("qid").size()
    if include_zero:
        counts = counts.reindex(m["qid"].unique(), fill_value=0)
    t = counts.quantile(1 - q)
    return set(counts[counts > t].index)


def reference_binary(human: pd.DataFrame, llm: pd.DataFrame, q: float = 0.25) -> set[str]:
    m = human.merge(llm, on=["qid", "docid"], suffixes=("_h", "_l"))
    m["diff"] = (m["grade_l"] - (m["grade_h"] > 1).astype(int)).abs()
    sums = m.groupby("qid")["diff"].sum()
    return set(sums[sums > sums.quantile(1 - q)].index)


def _judges(paper_data, coll):
    d = paper_data / coll
    graded = sorted(d.glob(f"qrels.{coll}-passage_*_0123_0_1.txt"))
    binary = sorted(d.glob("binary_*.txt"))
    assert graded and binary
    return d / f"qrels.{coll}-passage.txt", graded, binary


@pytest.mark.parametrize("coll", COLLECTIONS)
def test_graded_and_binary_hard_sets_equal_independent_pandas(paper_data, coll):
    human_path, graded, binary = _judges(paper_data, coll)
    human, human_raw = read_qrels_file(human_path), _raw(human_path)
    for path in graded:
        llm = read_qrels_file(path)
        got = h2j_analysis(human, llm, variant="graded")
        assert set(got.hard) == reference_graded(human_raw, _raw(path)), path.name
        with_zero = h2j_analysis(human, llm, variant="graded", include_zero=True)
        assert set(with_zero.hard) == reference_graded(human_raw, _raw(path), include_zero=True), path.name
    for path in binary:
        got = h2j_analysis(human, read_qrels_file(path), variant="binary")
        assert set(got.hard) == reference_binary(human_raw, _raw(path)), path.name
        assert got.hard


def test_include_zero_lowers_the_threshold_and_says_so(paper_data):
    human_path, graded, _ = _judges(paper_data, "dl21")
    human = read_qrels_file(human_path)
    llm = read_qrels_file(next(p for p in graded if "qwen3" in p.name))
    ref = h2j_analysis(human, llm)
    zero = h2j_analysis(human, llm, include_zero=True)
    assert zero.n_queries > ref.n_queries  # qwen3 on DL21 has a query without any pair beyond 2
    assert zero.threshold <= ref.threshold
    assert "left out" in ref.notes[0] and "counted as 0" in zero.notes[0]

"""Hard to Judge: where an LLM judge disagrees with the human (official) qrels.

Graded finder: per query, the number of judged pairs with |LLM grade - human grade| >
``margin`` (2 in the paper); hard when the count is strictly above the (1 - q)
quantile of the counts. The reference counted with a group-by over the disagreeing
pairs only, so a query without such a pair is left out of the distribution (which
raises the quantile). That is the default here, to reproduce the paper;
``include_zero=True`` counts those queries as 0 instead.

Binary finder: a human grade > 1 counts as relevant; per query, the sum of
|LLM label - human label| over the judged pairs; hard above the (1 - q) quantile.
"""
from __future__ import annotations

import pandas as pd

from analysis.hardness.thresholds import ABOVE, HardnessOutcome, label_hard

GRADED = "graded"
BINARY = "binary"


def _pairs(human: pd.DataFrame, llm: pd.DataFrame) -> pd.DataFrame:
    """Pairs both assessors labelled (invalid LLM answers, grade NaN/None, are dropped)."""
    h = human[["qid", "docid", "grade"]].dropna(subset=["grade"])
    j = llm[["qid", "docid", "grade"]].dropna(subset=["grade"])
    pairs = h.merge(j, on=["qid", "docid"], how="inner", suffixes=("_human", "_llm"))
    pairs["grade_human"] = pairs["grade_human"].astype("int64")
    pairs["grade_llm"] = pairs["grade_llm"].astype("int64")
    return pairs


def graded_counts(
    human: pd.DataFrame, llm: pd.DataFrame, *, margin: int = 2, include_zero: bool = False
) -> tuple[dict[str, float], dict[str, str], dict[str, dict]]:
    """Per-query count of pairs with |LLM - human| > margin, and each query's status."""
    pairs = _pairs(human, llm)
    pairs["disagree"] = (pairs["grade_llm"] - pairs["grade_human"]).abs() > margin
    per_q = pairs.groupby("qid").agg(n_pairs=("disagree", "size"), count=("disagree", "sum"))
    values: dict[str, float] = {}
    status: dict[str, str] = {}
    details: dict[str, dict] = {}
    for qid, row in per_q.iterrows():
        count = int(row["count"])
        values[str(qid)] = float(count)
        status[str(qid)] = "ok" if (count > 0 or include_zero) else "excluded"
        details[str(qid)] = {"pairs": int(row["n_pairs"]), "disagreeing": count}
        if status[str(qid)] == "excluded":
            details[str(qid)]["reason"] = f"no pair with |LLM - human| > {margin} (reference counting)"
    return values, status, details


def binary_sums(human: pd.DataFrame, llm: pd.DataFrame) -> tuple[dict[str, float], dict[str, str], dict[str, dict]]:
    """Per-query sum of |LLM label - (human grade > 1)| over the judged pairs."""
    pairs = _pairs(human, llm)
    pairs["human_relevant"] = (pairs["grade_human"] > 1).astype("int64")
    pairs["diff"] = (pairs["grade_llm"] - pairs["human_relevant"]).abs()
    per_q = pairs.groupby("qid").agg(n_pairs=("diff", "size"), total=("diff", "sum"))
    values = {str(q): float(r["total"]) for q, r in per_q.iterrows()}
    status = {q: "ok" for q in values}
    details = {str(q): {"pairs": int(r["n_pairs"]), "disagreeing": int(r["total"])} for q, r in per_q.iterrows()}
    return values, status, details


def h2j_analysis(
    human: pd.DataFrame,
    llm: pd.DataFrame,
    *,
    variant: str = GRADED,
    quantile: float = 0.25,
    margin: int = 2,
    include_zero: bool = False,
) -> HardnessOutcome:
    """Hard-to-judge queries of one LLM judge against the human qrels."""
    if variant == GRADED:
        values, status, details = graded_counts(human, llm, margin=margin, include_zero=include_zero)
    elif variant == BINARY:
        values, status, details = binary_sums(human, llm)
    else:
        raise ValueError(f"unknown H2J variant {variant!r} (graded or binary)")
    outcome = label_hard(values, quantile=quantile, direction=ABOVE, status=status)
    outcome.details = details
    if variant == GRADED:
        outcome.notes.append(
            "queries without a pair beyond the margin are counted as 0"
            if include_zero
            else "queries without a pair beyond the margin are left out of the distribution (as the reference)"
        )
    return outcome

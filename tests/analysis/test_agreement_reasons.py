"""Reason agreement: do humans accept the failure reasons LLMs propose?

Hand-countable verdicts; the inter-annotator statistics are checked against
statsmodels and krippendorff on the matrix built here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import agreement

VERDICTS = [
    # reason, task, model, LLM category, annotator, verdict, human category
    (1, "h2r", "llama", "A", "alice", "agree", ""),
    (1, "h2r", "llama", "A", "bob", "agree", "B"),
    (2, "h2r", "llama", "B", "alice", "disagree", ""),
    (2, "h2r", "llama", "B", "bob", "agree", ""),
    (3, "h2r", "qwen", "A", "alice", "disagree", ""),
    (3, "h2r", "qwen", "A", "bob", "disagree", ""),
    (3, "h2r", "qwen", "A", "carol", "agree", ""),
    (4, "h2j", "qwen", "C", "alice", "unsure", ""),
    (4, "h2j", "qwen", "C", "bob", "agree", "C"),
]


@pytest.fixture
def frame():
    return pd.DataFrame(VERDICTS, columns=list(agreement.REASON_COLUMNS))


def test_acceptance_per_model_and_task_counts_majorities(frame):
    table = agreement.reason_acceptance(frame, by=("model", "task")).set_index(["model", "task"])
    # reason 1 accepted (2 agree), reason 2 a tie (undecided), reason 3 rejected (2 of 3 disagree),
    # reason 4 accepted ("unsure" abstains).
    assert table.loc[("llama", "h2r"), ["reasons", "accepted", "rejected", "undecided"]].tolist() == [2, 1, 0, 1]
    assert table.loc[("llama", "h2r"), "acceptance"] == 1.0
    assert table.loc[("llama", "h2r"), "verdict_agree_share"] == 0.75
    assert table.loc[("qwen", "h2r"), "acceptance"] == 0.0
    assert table.loc[("qwen", "h2j"), "acceptance"] == 1.0


def test_acceptance_per_category(frame):
    table = agreement.reason_acceptance(frame, by=("category_llm",)).set_index("category_llm")
    assert table.loc["A", ["reasons", "accepted", "rejected"]].tolist() == [2, 1, 1]
    assert table.loc["A", "acceptance"] == 0.5


def test_verdict_agreement_equals_statsmodels_and_krippendorff(frame):
    import krippendorff
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    result = agreement.verdict_agreement(frame)
    codes = {"agree": 0, "disagree": 1, "unsure": 2}
    annotators = ["alice", "bob", "carol"]
    matrix = np.full((3, 4), np.nan)  # annotators x reasons
    for reason, _, _, _, who, verdict, _ in VERDICTS:
        matrix[annotators.index(who), reason - 1] = codes[verdict]
    assert result["alpha_nominal"] == pytest.approx(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"), abs=1e-12
    )
    # Fleiss on the reasons with the usual number of verdicts (two): reasons 1, 2, 4.
    two = matrix[:2, [0, 1, 3]].T.astype(int)
    table, _ = aggregate_raters(two, n_cat=3)
    assert result["fleiss_reasons"] == 3
    assert result["fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-12)


def test_category_confusion_rows_are_llm_columns_human(frame):
    table = agreement.category_confusion(frame)
    # bob moved reason 1 from A to B; every other verdict kept the LLM's category.
    assert table.loc["A", "B"] == 1
    assert table.loc["A", "A"] == 4
    assert table.loc["B", "B"] == 2
    assert table.loc["C", "C"] == 2
    assert int(table.to_numpy().sum()) == len(VERDICTS)


def test_most_accepted_reasons_per_task(frame):
    texts = {1: "rare entity", 2: "ambiguous", 3: "rare entity again", 4: "judge confused"}
    table = agreement.most_accepted_reasons(frame, texts=texts)
    h2r = table[table["task"] == "h2r"]
    # A: reason 1 (alice agree) + reason 3 (carol agree) = 2 accepting of 4 verdicts;
    # B: reason 1 (bob, recategorised) + reason 2 (bob) = 2 accepting of 3 verdicts.
    assert h2r["category"].tolist() == ["A", "B"]
    assert h2r["accepting_verdicts"].tolist() == [2, 2]
    assert h2r["acceptance"].tolist() == pytest.approx([0.5, 2 / 3])
    assert h2r.iloc[0]["example"] == "rare entity"
    h2j = table[table["task"] == "h2j"]
    assert h2j["category"].tolist() == ["C"] and h2j.iloc[0]["reasons_accepted"] == 1


def test_missing_columns_are_refused():
    with pytest.raises(ValueError, match="lack columns"):
        agreement.reason_acceptance(pd.DataFrame({"reason_id": [1]}))

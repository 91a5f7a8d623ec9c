"""Coverage of the prediction-powered intervals on the whole of DL19 (the issue's acceptance).

The oracle (official qrels) stands in for people who judge whole queries drawn at
random; llama3.2's graded judgments are the LLM. 200 repeats per budget.
"""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from tests.analysis.test_estimate import LLM
from tests.analysis.test_estimate_dl19 import dl19_full  # noqa: F401  (the module's DL19 fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def coverage_row(budget: int, interval: str) -> dict:
    out = io.StringIO()
    call_command("simulate_budget", collection="dl19", llm=LLM, oracle="official", budgets=str(budget),
                 select="random", unit="query", repeats=200, seed=0, interval=interval, fill="llm", json=True,
                 stdout=out)
    (row,) = json.loads(out.getvalue())["results"]
    return row


def test_default_intervals_cover_at_20_queries_and_are_narrower_than_human_only(dl19_full):  # noqa: F811
    row = coverage_row(20, "ppi")
    assert row["coverage"]["mean"] >= 0.95
    assert row["half_width"]["mean"] < row["human_only_half_width"]["mean"]


def test_t_intervals_cover_at_10_queries(dl19_full):  # noqa: F811
    row = coverage_row(10, "t")
    assert row["coverage"]["mean"] >= 0.93
    assert row["half_width"]["mean"] < row["human_only_half_width"]["mean"]

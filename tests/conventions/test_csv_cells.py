"""The one CSV cell rule (conventions.csv_cells): formula-like text neutralised, numbers kept."""
from __future__ import annotations

import csv
import io

import pytest

from conventions.csv_cells import CsvDictWriter, CsvWriter, csv_cell


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1 apples", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_formula_like_text_gets_one_leading_apostrophe(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-0.3333, -1, 0, 2.5, True, None, "plain", "a=b", "", "'already quoted"])
def test_numbers_and_plain_text_are_unchanged(value):
    assert csv_cell(value) is value or csv_cell(value) == value


def test_writers_round_trip_negative_numbers_as_numbers():
    out = io.StringIO()
    CsvWriter(out).writerow(["kendall_tau", -0.3333, "-0.3333"])
    CsvDictWriter(out, fieldnames=["a", "b"]).writerow({"a": -2, "b": "=x", "ignored": 1})
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["kendall_tau", "-0.3333", "'-0.3333"], ["-2", "'=x"]]

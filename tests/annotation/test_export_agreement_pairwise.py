"""``export_agreement`` carries the pairwise preferences per generator, overall and per
query (issue #15, item 6), counted here from the DL19 fixture file itself."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from django.core.management import call_command

from tests.analysis.researcher_data import demo_dl19, dl19_demo, fixture_lines  # noqa: F401

pytestmark = pytest.mark.django_db


def expected() -> tuple[Counter, Counter]:
    rows = [json.loads(line) for line in fixture_lines("dl19.json")]
    return Counter(str(r["qid"]) for r in rows), Counter(str(r["qid"]) for r in rows if r["label"] == 2)


def export(tmp_path, fmt: str) -> str:
    out = tmp_path / f"agreement.{fmt}"
    call_command("export_agreement", "--collection", "dl19", "--format", fmt, "--output", str(out), "--n-boot", "0",
                 stdout=io.StringIO())
    return out.read_text(encoding="utf-8")


def test_export_agreement_json_has_the_pairwise_section(dl19_demo, tmp_path):
    n, generated = expected()
    report = json.loads(export(tmp_path, "json"))
    (group,) = report["pairwise"]["generators"]
    assert (group["comparisons"], group["generated_preferred"]) == (sum(n.values()), sum(generated.values()))
    assert group["judged_preferred"] == sum(n.values()) - sum(generated.values())
    assert group["share"] == sum(generated.values()) / sum(n.values())  # full precision
    per_query = {q["qid"]: (q["comparisons"], q["generated_preferred"], q["judged_preferred"], q["share"])
                 for q in group["queries"]}
    assert per_query == {q: (n[q], generated[q], n[q] - generated[q], generated[q] / n[q]) for q in n}


def test_export_agreement_csv_has_one_pairwise_row_per_query_and_one_overall(dl19_demo, tmp_path):
    n, generated = expected()
    rows = list(csv.reader(io.StringIO(export(tmp_path, "csv"))))
    start = next(i for i, r in enumerate(rows) if r and r[0] == "pairwise: judging assessor")
    head, body = rows[start], [r for r in rows[start + 1:] if r]
    by_qid = {r[head.index("qid")]: r for r in body}
    overall = by_qid.pop("(all)")
    assert int(overall[head.index("comparisons")]) == sum(n.values())
    assert float(overall[head.index("share_generated")]) == sum(generated.values()) / sum(n.values())
    assert {q: (int(r[head.index("comparisons")]), int(r[head.index("generated_preferred")])) for q, r in by_qid.items()} \
        == {q: (n[q], generated[q]) for q in n}

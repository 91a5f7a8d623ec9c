"""The estimates section of export_agreement: the `estimate` JSON for --llm/--human, or one
per budget campaign of the collection (its LLM against the campaign's human grades).

On the demo's ten DL19 queries; a budget campaign's estimate is checked against
`manage.py estimate` run on an assessor imported from a qrels file holding the same
human grades (another path to the same numbers).
"""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation import services
from annotation.models import Campaign
from tests.analysis.test_estimate import LLM, OFFICIAL_FILE, dl19_small, estimate_json, import_human, read_qrels  # noqa: F401

pytestmark = pytest.mark.django_db


def export(tmp_path, fmt: str, *args: str) -> bytes:
    output = tmp_path / f"report.{fmt}"
    call_command("export_agreement", "--collection", "dl19", "--format", fmt, "--output", str(output),
                 "--n-boot", "0", *args, stdout=io.StringIO())
    return output.read_bytes()


def test_estimates_for_named_assessors_are_the_estimate_json(dl19_small, tmp_path):
    body = json.loads(export(tmp_path, "json", "--llm", LLM, "--human", "alice-grades"))
    [entry] = body["estimates"]
    assert entry.pop("source") == "assessors"
    assert entry == estimate_json(collection="dl19", llm=LLM, human="alice-grades")
    rows = list(csv.reader(io.StringIO(export(tmp_path, "csv", "--llm", LLM, "--human", "alice-grades").decode())))
    start = rows.index(["# estimates"])
    header, first = rows[start + 1], dict(zip(rows[start + 1], rows[start + 2]))
    assert header[:3] == ["source", "llm", "human"]
    best = entry["runs"][0]
    assert first["run"] == best["run"] and float(first["ppi"]) == best["ppi"]["estimate"]  # every digit kept
    html = export(tmp_path, "html", "--llm", LLM, "--human", "alice-grades").decode()
    assert 'id="estimates"' in html and f"{best['ppi']['estimate']:.4f}" in html


def test_estimates_of_a_budget_campaign_by_query_match_estimate_on_the_same_grades(dl19_small, tmp_path, alice):
    official = read_qrels(dl19_small / OFFICIAL_FILE)
    out = io.StringIO()
    call_command("create_campaign", "--collection", "dl19", "--kind", "relevance", "--annotators", "alice",
                 "--from-assessor", LLM, "--budget", "4", "--select", "random", "--unit", "query", "--seed", "5",
                 "--json", stdout=out)
    campaign = Campaign.objects.get(pk=json.loads(out.getvalue())["campaign"])
    call_command("create_campaign", "--collection", "dl19", "--kind", "relevance", "--annotators", "alice",
                 "--from-assessor", LLM, "--budget", "5", "--select", "random", "--name", "by pair",
                 stdout=io.StringIO())
    given = []
    while (assignment := services.assignment_next(campaign=campaign, user=alice)) is not None:
        qid, docid = assignment.item.query.qid, assignment.item.passage.docid
        grade = official.get(qid, {}).get(docid, 0)  # alice grades as NIST did
        services.assignment_submit(assignment=assignment, user=alice, grade=grade)
        given.append(f"{qid} 0 {docid} {grade}")
    import_human(tmp_path / "campaign-grades.txt", given, "campaign-grades")

    body = json.loads(export(tmp_path, "json", "--estimates"))
    by_query, by_pair = body["estimates"]
    assert by_query["campaign"] == campaign.pk and by_query["unit"] == "query"
    expected = estimate_json(collection="dl19", llm=LLM, human="campaign-grades")
    assert by_query["runs"] == expected["runs"] and by_query["ranking"] == expected["ranking"]
    assert {r["n_labeled"] for r in by_query["runs"]} == {4}
    assert by_pair["unit"] == "pair" and "whole queries (--unit query)" in by_pair["error"]


def test_estimates_need_both_assessors_and_fail_as_estimate_does(dl19_small, tmp_path):
    with pytest.raises(CommandError, match="both an LLM and a human assessor"):
        export(tmp_path, "json", "--llm", LLM)
    with pytest.raises(CommandError, match="unknown human assessor 'nobody'"):
        export(tmp_path, "json", "--llm", LLM, "--human", "nobody")
    assert not (tmp_path / "report.json").exists()

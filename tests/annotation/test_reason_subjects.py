"""Reasons campaigns show the lists proposed for their analysis's subject (issue 14, item 1).

Built on the real DL19 files and the published reasons files: the BM25 and uniCOIL H2R
analyses each get a campaign, and every item, read through the annotation API as an
annotator gets it, shows exactly the lists the file proposed for that system and query.
"""
from __future__ import annotations

import ast
import io
import json
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from analysis.hardness_computations import h2j_analysis_run, h2r_analysis_run
from analysis.importers import services as import_services
from analysis.importers.naming import reasons_label_parts
from analysis.models import Collection, ReasonProposal
from annotation.models import Campaign

pytestmark = pytest.mark.django_db

QUIET = {"stdout": io.StringIO(), "no_progress": True}
RUNS = {"bm25": "run.msmarco-v1-passage.bm25-default.dl19.txt", "unicoil": "run.msmarco-v1-passage.unicoil-otf.dl19.txt"}


def file_lists(path, *, collection: str) -> dict[tuple[str, str], dict[str, list[str]]]:
    """(label, qid) -> reasons, read from the file here (not through the importer): the oracle."""
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for line in path.read_text(encoding="utf-8").splitlines():
        label, qid, _query, raw = line.split("\t", 3)
        if label.startswith(f"{collection}_"):
            out[label][qid] = [r.strip() for r in ast.literal_eval(raw)]
    return out


@pytest.fixture
def dl19(paper_data):
    """DL19 queries, qrels, the BM25 and uniCOIL runs and the published H2R and H2J reasons."""
    d = paper_data / "dl19"
    call_command("import_queries", str(d / "test2019-queries-filterd.tsv"), collection="dl19", **QUIET)
    call_command("import_qrels", str(d / "qrels.dl19-passage.txt"), collection="dl19", **QUIET)
    for system, name in RUNS.items():
        call_command("import_run", str(d / name), collection="dl19", system=system, **QUIET)
    reports = {task: import_services.reasons_import(
        task=task, assessor="qwen3_8b", path=paper_data / "reasons" / f"original.reasons.qwen3_8b.{task}.all.txt")
        for task in ("h2r", "h2j")}
    return Collection.objects.get(name="dl19"), reports


def test_label_parts_resolve_the_system_as_run_files_do():
    parts = reasons_label_parts("dl19_distilbert-tas-b_bertscore_umbrela_0.3")
    assert (parts.collection, parts.subject, parts.settings, parts.quantile) == ("dl19", "tas-b", "bertscore_umbrela", 0.3)
    assert parts.raw == "dl19_distilbert-tas-b_bertscore_umbrela_0.3"
    assert reasons_label_parts("dl20_bm25_binary_umbrela_0.3").subject == "bm25"
    assert reasons_label_parts("dl19_unicoil").quantile is None


def test_import_stores_each_lists_subject(dl19, paper_data):
    collection, _ = dl19
    stored = set(ReasonProposal.objects.filter(query__collection=collection, task="h2r")
                 .values_list("label", "subject", "label_collection", "quantile"))
    assert stored == {
        ("dl19_bm25_bertscore_umbrela_0.3", "bm25", "dl19", 0.3),
        ("dl19_distilbert-tas-b_bertscore_umbrela_0.3", "tas-b", "dl19", 0.3),
        ("dl19_unicoil_bertscore_umbrela_0.3", "unicoil", "dl19", 0.3),
    }


def _every_item_through_the_api(campaign: Campaign, user) -> dict[str, list[dict]]:
    """qid -> the reasons of its lease payload, for every item, as an annotator goes through them."""
    client = APIClient()
    client.force_authenticate(user)
    seen: dict[str, list[dict]] = {}
    for _ in range(campaign.items.count()):
        body = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
        seen[body["item"]["qid"]] = body["item"]["reasons"]
        verdicts = {str(r["id"]): "agree" for r in body["item"]["reasons"]}
        answer = client.post(f"/api/assignments/{body['assignment']}/submit/", {"verdicts": verdicts}, format="json")
        assert answer.status_code == 200, answer.content
    return seen


@pytest.mark.parametrize("system", ["bm25", "unicoil"])
def test_a_reasons_campaign_shows_only_the_lists_proposed_for_its_system(dl19, paper_data, alice, system):
    collection, _ = dl19
    analysis, _ = h2r_analysis_run(collection=collection, system=system, quantile=0.3)
    out = io.StringIO()
    call_command("create_campaign", collection="dl19", kind="reasons", task="h2r", analysis=analysis.pk,
                 annotators="alice", json=True, stdout=out)
    campaign = Campaign.objects.get(pk=json.loads(out.getvalue())["campaign"])
    lists = file_lists(paper_data / "reasons" / "original.reasons.qwen3_8b.h2r.all.txt", collection="dl19")
    # the labels that name this system, by the file's own spelling (tas-b is 'distilbert-tas-b')
    own = [label for label in lists if label.split("_")[1] == system]
    assert len(own) == 1 and campaign.reasons_label == own[0]

    seen = _every_item_through_the_api(campaign, alice)
    assert set(seen) == set(campaign.items.values_list("query__qid", flat=True))
    for qid, reasons in seen.items():
        assert {r["label"] for r in reasons} <= {own[0]}, qid
        assert [r["text"] for r in reasons] == lists[own[0]].get(qid, []), qid
    # the campaign is not vacuous: some of its items have the system's reasons, and a
    # query with another system's list shows none of it
    assert any(seen.values())
    others = {qid for label, rows in lists.items() if label != own[0] for qid in rows}
    for qid in others & set(seen):
        other_texts = {t for label, rows in lists.items() if label != own[0] for t in rows.get(qid, [])}
        own_texts = set(lists[own[0]].get(qid, []))
        assert not ({r["text"] for r in seen[qid]} & (other_texts - own_texts)), qid


def _run_command(argv: list[str]) -> tuple[int, str]:
    """The command's exit status (Django exits with a CommandError's ``returncode``) and
    its message; nothing else may escape (a traceback would)."""
    with pytest.raises(CommandError) as refused:
        call_command(*argv, stdout=io.StringIO())
    return refused.value.returncode, str(refused.value)


def test_create_campaign_refuses_when_no_list_was_proposed_for_the_subject(dl19, paper_data, alice):
    collection, _ = dl19
    call_command("import_qrels", str(paper_data / "dl19" / "qrels.dl19-passage_llama3.2_latest_0123_0_1.txt"),
                 collection="dl19", assessor="llama3.2_latest-graded", kind="llm", scale="graded", **QUIET)
    analysis, _ = h2j_analysis_run(collection=collection, judge="llama3.2_latest-graded", quantile=0.3)
    before = Campaign.objects.count()
    argv = ["create_campaign", "--collection", "dl19", "--kind", "reasons", "--task", "h2j",
            "--analysis", str(analysis.pk), "--annotators", "alice"]
    code, err = _run_command(argv)
    assert code == 1
    assert "llama3.2_latest-graded" in err and "--reasons-label" in err
    for label in ("dl19_bm25_bertscore_umbrela_0.3", "dl19_distilbert-tas-b_bertscore_umbrela_0.3",
                  "dl19_unicoil_bertscore_umbrela_0.3"):
        assert label in err
    assert Campaign.objects.count() == before
    # a label that does not exist is refused the same way
    code, err = _run_command(argv + ["--reasons-label", "dl19_nosuch_0.3"])
    assert code == 1 and "dl19_nosuch_0.3" in err and "dl19_bm25_bertscore_umbrela_0.3" in err
    # choosing one explicitly works
    out = io.StringIO()
    call_command(*argv, "--reasons-label", "dl19_bm25_bertscore_umbrela_0.3", "--json", stdout=out)
    assert Campaign.objects.get(pk=json.loads(out.getvalue())["campaign"]).reasons_label == (
        "dl19_bm25_bertscore_umbrela_0.3")


# --- carried-over lists (item 2) ------------------------------------------------------

def repeated_in_file(path, *, collection: str) -> dict[str, list[set[str]]]:
    """label -> the groups of qids that share one list, from the file itself."""
    out: dict[str, list[set[str]]] = defaultdict(list)
    for label, rows in file_lists(path, collection=collection).items():
        by_list: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for qid, reasons in rows.items():
            if reasons:
                by_list[tuple(reasons)].add(qid)
        out[label] = [qids for qids in by_list.values() if len(qids) > 1]
    return out


def test_the_import_and_the_inventory_report_lists_repeated_for_several_queries(dl19, paper_data):
    collection, reports = dl19
    path = paper_data / "reasons" / "original.reasons.qwen3_8b.h2r.all.txt"
    expected = repeated_in_file(path, collection="dl19")
    # the case of the issue: 19335 holds the list of 1063750
    assert any({"19335", "1063750"} <= qids for qids in expected["dl19_bm25_bertscore_umbrela_0.3"])

    report = reports["h2r"]
    got = {(g["label"], frozenset(g["qids"])) for g in report.repeated_reason_lists}
    want = {(label, frozenset(q)) for label, groups in expected.items() for q in groups}
    assert got == want
    warning = next(n for n in report.notes if n.startswith("warning:"))
    assert f"{len(want)} reason lists appear for several queries" in warning and "19335" in warning
    assert "19335" in report.summary()

    out = io.StringIO()
    call_command("inventory", collection="dl19", json=True, stdout=out)
    inventory = json.loads(out.getvalue())["collections"]["dl19"]["repeated_reason_lists"]
    h2r = {(g["label"], frozenset(g["qids"])) for g in inventory if g["task"] == "h2r" and g["assessor"] == "qwen3_8b"}
    assert h2r == want


def test_the_review_page_flags_items_whose_list_is_carried_over(dl19, paper_data, client, admin_user):
    collection, _ = dl19
    analysis, _ = h2r_analysis_run(collection=collection, system="bm25", quantile=0.3)
    from annotation import services

    campaign = services.campaign_create(name="bm25 reasons", kind="reasons", task="h2r", collection=collection,
                                        analysis=analysis, annotators=[admin_user])
    groups = repeated_in_file(paper_data / "reasons" / "original.reasons.qwen3_8b.h2r.all.txt",
                              collection="dl19")[campaign.reasons_label]
    shared = {qid for g in groups for qid in g}
    items = set(campaign.items.values_list("query__qid", flat=True))
    assert items & shared, "the campaign holds a carried-over list (else this test shows nothing)"
    client.force_login(admin_user)
    page = client.get(f"/annotation/campaigns/{campaign.pk}/review/").content.decode()
    table = page.split('id="carried-over"')[1].split("</table>")[0]
    for qid in items:
        assert (f">{qid}<" in table) == (qid in shared), qid

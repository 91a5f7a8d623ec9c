"""Every CSV HardQ writes for a spreadsheet, from every door (command, page, API): text a
spreadsheet would run as a formula comes out behind an apostrophe, numbers stay numbers.

One world holds the hostile text in each place a CSV can carry it: an annotator's
comment, an LLM assessor's name, a query's text and a hard query's qid are all
``=HYPERLINK("x")``; the assessor grades every passage the other way round from the
official qrels, so Cohen's kappa is -1/3 (written at full precision in the report), and
an analysis value is -0.3333. Pipeline formats (TREC qrels and runs, the hard-queries CSV that
``import_hard_queries`` reads back) are written byte for byte and are not in this table.
"""
from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from sklearn.metrics import cohen_kappa_score

from analysis.models import Assessor, HardnessAnalysis, HardnessLabel, Judgment, Passage, Query
from annotation import services
from annotation.models import Campaign
from tests.annotation.factories import CollectionFactory, official

FORMULA = '=HYPERLINK("x")'
NEUTRALISED = "'" + FORMULA
STARTS = ("=", "+", "-", "@", "\t", "\r")

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(alice, admin_user):
    coll = CollectionFactory(name="csvx")
    queries = [Query.objects.create(collection=coll, qid=f"q{i}", text=f"query {i}") for i in range(4)]
    queries[0].text = FORMULA
    queries[0].save()
    hard_qid = Query.objects.create(collection=coll, qid=FORMULA, text="a qid like a formula")
    passages = [Passage.objects.create(collection=coll, docid=f"d{i}", text=f"passage {i}") for i in range(4)]
    ref, evil = official(), Assessor.objects.create(name=FORMULA, kind=Assessor.LLM)
    grades = [0, 1, 2, 3]
    Judgment.objects.bulk_create(
        [Judgment(query=queries[i], passage=passages[i], assessor=ref, grade=g) for i, g in enumerate(grades)]
        + [Judgment(query=queries[i], passage=passages[i], assessor=evil, grade=3 - g) for i, g in enumerate(grades)]
    )
    kappa = cohen_kappa_score(grades, [3 - g for g in grades])
    analysis = HardnessAnalysis.objects.create(collection=coll, task="h2r", subject="bm25", measure="ndcg_cut_10",
                                               quantile=0.25, threshold=0.3, status=HardnessAnalysis.DONE)
    HardnessLabel.objects.create(analysis=analysis, query=queries[0], value=-0.3333, hard=True)
    HardnessLabel.objects.create(analysis=analysis, query=hard_qid, value=0.1, hard=True)
    campaign = services.campaign_create(name="formulas", kind=Campaign.RELEVANCE, collection=coll, annotators=[alice],
                                        pairs=[(queries[1].qid, passages[1].docid)])
    lease = services.assignment_next(campaign=campaign, user=alice)
    services.assignment_submit(assignment=lease, user=alice, grade=2, comment=FORMULA)
    return {"collection": coll, "campaign": campaign, "analysis": analysis, "kappa": kappa, "admin": admin_user}


def _download(client, world, url: str) -> str:
    client.force_login(world["admin"])
    response = client.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode("utf-8")


def _command(tmp_path, name: str, *args: str) -> str:
    if "--output" in args:
        call_command(name, *args, stdout=io.StringIO())
        return (tmp_path / "out.csv").read_text(encoding="utf-8")
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


AGREEMENT = "collection=csvx&n_boot=0"
KAPPA = "kappa"  # the report's kappa cell: -1/3 as scikit-learn computes it, as a number

# (door, how to get the CSV, the negative number it must carry as a number, or None)
SOURCES = {
    "campaign-command": (lambda c, w, t: _command(t, "export_campaign", "--campaign", str(w["campaign"].pk)), None),
    "campaign-page": (lambda c, w, t: _download(c, w, f"/annotation/campaigns/{w['campaign'].pk}/export/?format=csv"), None),
    "campaign-api": (lambda c, w, t: _download(c, w, f"/api/campaigns/{w['campaign'].pk}/export/?format=csv"), None),
    "agreement-command": (lambda c, w, t: _command(t, "export_agreement", "--collection", "csvx", "--format", "csv",
                                                   "--n-boot", "0", "--output", str(t / "out.csv")), KAPPA),
    "agreement-page": (lambda c, w, t: _download(c, w, f"/agreement/export.csv?{AGREEMENT}"), KAPPA),
    "agreement-api": (lambda c, w, t: _download(c, w, f"/api/agreement/report/?{AGREEMENT}&format=csv"), KAPPA),
    "queries-page": (lambda c, w, t: _download(c, w, "/analysis/collections/csvx/queries.csv"), "-0.3333"),
    "overlap-page": (lambda c, w, t: _download(c, w, f"/analysis/csvx/overlap.csv?analyses={w['analysis'].pk}"), None),
    "overlap-command": (lambda c, w, t: _command(t, "hardness", "overlap", "--collection", "csvx", "--analyses",
                                                 str(w["analysis"].pk), "--csv"), None),
}


@pytest.mark.parametrize("door", list(SOURCES))
def test_formulas_are_neutralised_and_numbers_stay_numbers(client, world, tmp_path, door):
    fetch, negative = SOURCES[door]
    text = fetch(client, world, tmp_path)
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert NEUTRALISED in cells or any(c.startswith(NEUTRALISED) for c in cells), text[:500]
    # no cell a spreadsheet would run, except a number
    for cell in cells:
        if cell.startswith(STARTS):
            float(cell)  # raises if it is text: text starting like that must have been quoted
    if negative == KAPPA:
        kappa = world["kappa"]
        assert kappa < 0
        numbers = [float(c) for c in cells if c.startswith("-") and c[1:2].isdigit()]
        assert any(abs(v - kappa) < 1e-9 for v in numbers), text[:800]  # scikit-learn's kappa, unquoted
        assert not any(c.startswith("'-") for c in cells)
    elif negative is not None:
        assert negative in cells, text[:800]
        assert "'" + negative not in cells

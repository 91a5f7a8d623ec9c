"""Agreement through the API: the agreement command's JSON, report downloads, ETags."""
from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from django.core.management import call_command
from sklearn.metrics import cohen_kappa_score

from analysis.models import Judgment

pytestmark = pytest.mark.django_db

PAIR = {"collection": "dl19", "reference": "official", "assessor": "llama3.2", "n_boot": 50, "seed": 3}


def command_json(**options) -> dict:
    out = io.StringIO()
    call_command("agreement", json=True, stdout=out, **options)
    return json.loads(out.getvalue())


def test_pair_agreement_is_the_commands_json(corpus, admin_api):
    response = admin_api.get("/api/agreement/", PAIR)
    assert response.status_code == 200
    body = response.json()
    assert body == command_json(**PAIR)
    # and the kappa is scikit-learn's on the same pairs
    pairs = {(j.query_id, j.passage_id): j.grade for j in Judgment.objects.filter(assessor=corpus.official)}
    llm = {(j.query_id, j.passage_id): j.grade for j in Judgment.objects.filter(assessor=corpus.llm)}
    keys = sorted(pairs)
    assert body["n"] == len(keys) == 18
    assert body["kappa"] == pytest.approx(cohen_kappa_score([pairs[k] for k in keys], [llm[k] for k in keys]))


def test_set_agreement_is_the_commands_json(corpus, admin_api):
    from analysis.models import Assessor

    third = Assessor.objects.create(name="qwen3", kind=Assessor.LLM)
    Judgment.objects.bulk_create(
        Judgment(query=j.query, passage=j.passage, assessor=third, grade=(j.grade + 1) % 4)
        for j in Judgment.objects.filter(assessor=corpus.official)
    )
    params = {"collection": "dl19", "assessors": "official,llama3.2,qwen3", "n_boot": 20}
    body = admin_api.get("/api/agreement/", params).json()
    assert body == command_json(**params)
    assert {"n", "fleiss_kappa", "alpha_nominal", "alpha_ordinal"} <= set(body)


def test_agreement_answers_304_until_a_judgment_changes(corpus, admin_api):
    first = admin_api.get("/api/agreement/", PAIR)
    etag = first["ETag"]
    assert first["Last-Modified"]
    assert admin_api.get("/api/agreement/", PAIR, HTTP_IF_NONE_MATCH=etag).status_code == 304
    judgment = Judgment.objects.filter(assessor=corpus.llm).first()
    judgment.grade = (judgment.grade + 1) % 4
    judgment.save(update_fields=["grade", "updated_at"])
    again = admin_api.get("/api/agreement/", PAIR, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200
    assert again["ETag"] != etag


def test_pair_or_set_parameters_are_required(corpus, admin_api):
    response = admin_api.get("/api/agreement/", {"collection": "dl19", "reference": "official"})
    assert response.status_code == 400
    response = admin_api.get("/api/agreement/", {"collection": "dl19", "reference": "official", "assessor": "nobody"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx", "html"])
def test_report_downloads_in_every_format_with_validators(corpus, admin_api, fmt):
    params = {"collection": "dl19", "format": fmt, "n_boot": 20}
    response = admin_api.get("/api/agreement/report/", params)
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'.{fmt}"')
    content = response.content
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(content.decode())))
        assert any("llama3.2" in cell for row in rows for cell in row)
    elif fmt == "json":
        assert "llama3.2" in json.dumps(json.loads(content))
    elif fmt == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(content))
        assert book.sheetnames
    else:
        assert b"<html" in content.lower() and b"llama3.2" in content
    assert admin_api.get("/api/agreement/report/", params, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_reports_are_for_admins_only(corpus, alice_api):
    assert alice_api.get("/api/agreement/", PAIR).status_code == 403
    assert alice_api.get("/api/agreement/report/", {"collection": "dl19", "format": "csv"}).status_code == 403

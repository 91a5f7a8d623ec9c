"""``manage.py estimate`` and ``GET /api/estimate/``: prediction-powered estimates of run scores.

The oracle is ppi-python called directly on per-query values that pytrec_eval computes
here from the raw paper-data files (read by this test, not by the project's importers).
"""
from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from ppi_py import classical_mean_ci, ppi_mean_ci, ppi_mean_pointestimate
from rest_framework.test import APIClient

from analysis.models import Assessor, Judgment, Passage, Query
from tests.conftest import FIXTURES

LLM = "llama3.2_latest-graded"
RUN_FILES = {
    "bm25": "run.msmarco-v1-passage.bm25-default.dl19.txt",
    "tas-b": "run.msmarco-v1-passage-distilbert-base-tas-b-dl19.txt",
    "unicoil": "run.msmarco-v1-passage.unicoil-otf.dl19.txt",
}
OFFICIAL_FILE = "qrels.dl19-passage.txt"
LLM_FILE = "qrels.dl19-passage_llama3.2_latest_0123_0_1.txt"


def _quiet(command: str, *args, **kwargs) -> None:
    call_command(command, *args, no_progress=True, stdout=io.StringIO(), stderr=io.StringIO(), **kwargs)


def load_dl19(base: Path) -> None:
    """Queries, official qrels, the llama3.2 graded judge and the three runs, through the import commands."""
    _quiet("import_queries", str(base / "test2019-queries-filterd.tsv"), collection="dl19")
    _quiet("import_qrels", str(base / OFFICIAL_FILE), collection="dl19")
    _quiet("import_qrels", str(base / LLM_FILE), collection="dl19", assessor=LLM, scale="graded")
    for system, name in RUN_FILES.items():
        _quiet("import_run", str(base / name), collection="dl19", system=system)


def unload(collection_name: str = "dl19") -> None:
    from analysis.models import Collection, System
    from tests.analysis.hardness.loaders import delete_collection

    delete_collection(Collection.objects.get(name=collection_name))
    System.objects.filter(name__in=list(RUN_FILES)).delete()
    Assessor.objects.all().delete()


# --- independent reading of the raw files -------------------------------------------


def read_qrels(path: Path, qids: set[str] | None = None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines():
        qid, _, docid, grade = line.split()
        if qids is None or qid in qids:
            out.setdefault(qid, {})[docid] = int(grade)
    return out


def read_run(path: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        qid, _, docid, _rank, score, _tag = line.split()
        out.setdefault(qid, {})[docid] = float(score)
    return out


def ndcg10(run, qrels) -> dict[str, float]:
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    return {q: v["ndcg_cut_10"] for q, v in evaluator.evaluate({q: d for q, d in run.items() if q in qrels}).items()}


def import_human(path: Path, lines: list[str], name: str, collection: str = "dl19") -> None:
    path.write_text("".join(line + "\n" for line in lines))
    _quiet("import_qrels", str(path), collection=collection, assessor=name, kind="human")


def estimate_json(**options) -> dict:
    out = io.StringIO()
    call_command("estimate", json=True, stdout=out, **options)
    return json.loads(out.getvalue())


# --- small data from fixtures/: bad input, the API, the page ---------------------------


@pytest.fixture
def dl19_small(db, tmp_path):
    """The demo's ten DL19 queries with the llama3.2 judge, three runs and a human who judged five queries."""
    base = FIXTURES / "dl19"
    load_dl19(base)
    official_lines = (base / OFFICIAL_FILE).read_text().splitlines()
    qids = sorted({line.split()[0] for line in official_lines})
    import_human(tmp_path / "human.txt", [line for line in official_lines if line.split()[0] in qids[:5]], "alice-grades")
    return base


@pytest.mark.django_db
def test_human_assessor_sharing_no_query_with_the_runs_exits_1_with_a_message(dl19_small, capsys, monkeypatch):
    collection = Query.objects.get(collection__name="dl19", qid=sorted(Query.objects.values_list("qid", flat=True))[0]).collection
    lonely = Query.objects.create(collection=collection, qid="999001", text="a query no run retrieved for")
    passage = Passage.objects.create(collection=collection, docid="p-999001")
    human = Assessor.objects.create(name="bob-grades", kind=Assessor.HUMAN)
    Judgment.objects.create(query=lonely, passage=passage, assessor=human, grade=2)
    before = Judgment.objects.count()

    # run_from_argv closes the connections when it ends: keep the test's transaction open
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "estimate", "--collection", "dl19", "--llm", LLM, "--human", "bob-grades"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "human assessor judged no query that the runs retrieved for" in err
    assert "Traceback" not in err
    assert Judgment.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "options, message",
    [
        ({"llm": "nobody"}, "unknown LLM assessor 'nobody'"),
        ({"human": "nobody"}, "unknown human assessor 'nobody'"),
        ({"collection": "dl99"}, "unknown collection 'dl99'"),
        ({"measure": "ndcg_at_ten"}, "unknown measure 'ndcg_at_ten'"),
        ({"level": 1.5}, "the level must be between 0 and 1"),
    ],
)
def test_bad_options_are_refused_with_a_message(dl19_small, options, message):
    args = {"collection": "dl19", "llm": LLM, "human": "alice-grades", **options}
    with pytest.raises(CommandError, match=message):
        call_command("estimate", **args, stdout=io.StringIO())


@pytest.mark.django_db
def test_human_with_a_single_query_gets_a_message_not_a_nan_interval(dl19_small, tmp_path):
    official_lines = (dl19_small / OFFICIAL_FILE).read_text().splitlines()
    first = official_lines[0].split()[0]
    import_human(tmp_path / "one.txt", [line for line in official_lines if line.split()[0] == first], "one-query")
    with pytest.raises(CommandError, match="at least two labeled queries"):
        call_command("estimate", collection="dl19", llm=LLM, human="one-query", stdout=io.StringIO())


@pytest.mark.django_db
def test_text_output_names_the_interval_and_every_run(dl19_small):
    out = io.StringIO()
    call_command("estimate", collection="dl19", llm=LLM, human="alice-grades", interval="t", stdout=out)
    text = out.getvalue()
    assert "Student's t" in text
    for run in RUN_FILES:
        assert run in text


@pytest.fixture
def admin_client_api(admin_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.mark.django_db
def test_api_answers_what_the_command_prints(dl19_small, admin_client_api):
    params = {"collection": "dl19", "llm": LLM, "human": "alice-grades"}
    response = admin_client_api.get("/api/estimate/", params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == estimate_json(**params)
    assert set(body) >= {"measure", "level", "llm", "human", "runs", "ranking"}
    assert set(body["runs"][0]) == {"run", "n_labeled", "n_unlabeled", "llm_only", "human_only", "ppi"}
    assert body["runs"][0]["n_labeled"] == 5 and body["runs"][0]["n_unlabeled"] == 5


@pytest.mark.django_db
def test_api_refuses_annotators_and_bad_input_with_the_error_body(dl19_small, admin_client_api, alice):
    annotator = APIClient()
    annotator.force_authenticate(alice)
    assert annotator.get("/api/estimate/", {"collection": "dl19", "llm": LLM, "human": "alice-grades"}).status_code == 403
    missing = admin_client_api.get("/api/estimate/", {"collection": "dl19"})
    assert missing.status_code == 400 and set(missing.json()["error"]["details"]) == {"llm", "human"}
    # a name that names nothing: 400 with the message under its field, as the other APIs
    for field, params, message in [
        ("llm", {"collection": "dl19", "llm": "nobody", "human": "alice-grades"}, "unknown LLM assessor 'nobody'"),
        ("human", {"collection": "dl19", "llm": LLM, "human": "nobody"}, "unknown human assessor 'nobody'"),
        ("collection", {"collection": "dl99", "llm": LLM, "human": "alice-grades"}, "unknown collection 'dl99'"),
    ]:
        unknown = admin_client_api.get("/api/estimate/", params)
        assert unknown.status_code == 400, field
        assert unknown.json()["error"]["details"] == {field: [message]}
    collection = Query.objects.filter(collection__name="dl19").first().collection
    lonely = Query.objects.create(collection=collection, qid="999001")
    human = Assessor.objects.create(name="bob-grades", kind=Assessor.HUMAN)
    Judgment.objects.create(query=lonely, passage=Passage.objects.create(collection=collection, docid="x"),
                            assessor=human, grade=1)
    none_shared = admin_client_api.get("/api/estimate/", {"collection": "dl19", "llm": LLM, "human": "bob-grades"})
    assert none_shared.status_code == 400
    assert none_shared.json()["error"]["message"] == "the human assessor judged no query that the runs retrieved for"
    assert none_shared.json()["error"]["code"] == "no_estimate"
    with pytest.raises(CommandError, match="the human assessor judged no query that the runs retrieved for"):
        call_command("estimate", "--collection", "dl19", "--llm", LLM, "--human", "bob-grades", stdout=io.StringIO())


@pytest.mark.django_db
def test_the_page_is_for_staff_only(dl19_small, client, alice):
    url = "/analysis/budget/estimate/"
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(alice)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_page_shows_the_same_estimates_and_says_which_interval(dl19_small, client, admin_user):
    client.force_login(admin_user)
    response = client.get("/analysis/budget/estimate/", {
        "collection": "dl19", "llm": LLM, "human": "alice-grades", "interval": "t", "level": "0.95"})
    assert response.status_code == 200
    html = response.content.decode()
    report = estimate_json(collection="dl19", llm=LLM, human="alice-grades", interval="t")
    assert 'src="data:image/svg+xml;base64,' in html and "Student&#x27;s t" in html
    for row in report["runs"]:
        assert f"{row['ppi']['estimate']:.4f}" in html
    assert "<script" not in html.split("</head>")[1]
    assert " onclick=" not in html and " onload=" not in html


@pytest.mark.django_db
def test_page_with_no_shared_query_shows_the_message_with_400(dl19_small, client, admin_user):
    collection = Query.objects.filter(collection__name="dl19").first().collection
    lonely = Query.objects.create(collection=collection, qid="999001")
    human = Assessor.objects.create(name="bob-grades", kind=Assessor.HUMAN)
    Judgment.objects.create(query=lonely, passage=Passage.objects.create(collection=collection, docid="x"),
                            assessor=human, grade=1)
    client.force_login(admin_user)
    response = client.get("/analysis/budget/estimate/", {"collection": "dl19", "llm": LLM, "human": "bob-grades",
                                                         "interval": "ppi", "level": "0.95"})
    assert response.status_code == 400
    assert "the human assessor judged no query that the runs retrieved for" in response.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_estimate_page_in_the_browser(dl19_small, live_server, page, admin_user):
    from tests.conftest import browser_login

    browser_login(page, live_server, "admin", "admin-pass-123")
    # an inline SVG's styles refused by the site's CSP draw a black picture: none may be refused
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server.url}/analysis/budget/estimate/")
    page.select_option("select[name=collection]", "dl19")
    page.select_option("select[name=llm]", LLM)
    page.select_option("select[name=human]", "alice-grades")
    page.select_option("select[name=interval]", "t")
    page.click("#estimate-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#forest-plot img").count() == 1
    assert page.locator("#forest-plot img").evaluate("i => i.complete && i.naturalWidth") > 300
    assert "Student's t" in page.locator("#interval-shown").inner_text()
    assert page.locator("#estimates tbody tr").count() == 3
    # the three estimates side by side, rounded for reading; the forest plot on screen
    assert page.locator("#estimates thead th").all_inner_texts()[3:] == [
        "LLM only", "Human only", "Human-only interval", "PPI++", "PPI++ interval"]
    cells = page.locator("#estimates tbody td").all_inner_texts()
    assert not [c for c in cells if re.search(r"\d\.\d{5}", c)]
    box = page.locator("#forest-plot img").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1280
    assert refused == []

"""Hardness analyses and LLM jobs through the API (the analyzers' and judges' own services)."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from judges.models import LLMCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def dl19_bm25(paper_data):
    dl19 = paper_data / "dl19"
    quiet = {"stdout": io.StringIO(), "no_progress": True}
    call_command("import_queries", str(dl19 / "test2019-queries-filterd.tsv"), collection="dl19", **quiet)
    call_command("import_qrels", str(dl19 / "qrels.dl19-passage.txt"), collection="dl19", **quiet)
    call_command("import_run", str(dl19 / "run.msmarco-v1-passage.bm25-default.dl19.txt"), collection="dl19",
                 system="bm25", **quiet)


@pytest.fixture
def start_analysis(admin_api, django_capture_on_commit_callbacks):
    """POST an analysis, let its job run, then read it back as a polling client does.

    Inside the test's transaction the job is sent when the block ends (the request's
    commit, outside a test), i.e. after the answer: 202 with the pending analysis.
    """

    def start(body: dict) -> dict:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = admin_api.post("/api/analyses/", body)
            assert response.status_code == 202, response.content
            assert response.json()["status"] == "pending" and response.json()["result"] is None
        assert len(callbacks) == 1  # one job per analysis
        polled = admin_api.get(f"/api/analyses/{response.json()['id']}/")
        assert polled.status_code == 200
        return polled.json()

    return start


def test_h2r_default_and_trectools_compat_give_the_papers_figures(dl19_bm25, admin_api, start_analysis):
    # figures from the paper-data README (DL19 BM25)
    default = start_analysis({"task": "h2r", "collection": "dl19", "subject": "bm25"})
    assert default["status"] == "done", default
    result = default["result"]
    assert round(result["threshold"], 6) == 0.376102
    assert round(result["hard_mean"], 6) == 0.182705
    assert len(result["hard"]) == 11 and "1063750" in result["hard"]

    compat = start_analysis({"task": "h2r", "collection": "dl19", "subject": "bm25", "compat": "trectools"})
    assert round(compat["result"]["threshold"], 6) == 0.381432
    assert round(compat["result"]["hard_mean"], 6) == 0.217202
    assert "1063750" not in compat["result"]["hard"]
    assert compat["variant"] == "compat-trectools" and compat["parameters"]["engine"] == "trectools semantics"

    labels = admin_api.get(f"/api/analyses/{default['id']}/labels/", {"hard": "true", "page_size": 100}).json()
    assert sorted(lab["qid"] for lab in labels["results"]) == sorted(result["hard"])

    listed = admin_api.get("/api/analyses/", {"collection": "dl19", "task": "h2r"}).json()["results"]
    assert {a["id"] for a in listed} == {default["id"], compat["id"]}
    assert all(a["hard_count"] == 11 for a in listed)


def test_overlap_names_the_latest_hard_set_of_each_subject(dl19_bm25, admin_api, start_analysis):
    first = start_analysis({"task": "h2r", "collection": "dl19", "subject": "bm25"})
    overlap = admin_api.get("/api/collections/dl19/overlap/").json()
    assert overlap["sets"] == {"H2R bm25": sorted(first["result"]["hard"])}
    assert overlap["regions"][0]["intersection_size"] == 11


def test_analysis_of_an_unknown_system_is_an_error_body_not_a_crash(corpus, admin_api):
    response = admin_api.post("/api/analyses/", {"task": "h2r", "collection": "dl19", "subject": "no-such-system"})
    assert response.status_code == 400
    assert "subject" in response.json()["error"]["details"]
    response = admin_api.post("/api/analyses/", {"task": "h2x", "collection": "dl19", "subject": "bm25"})
    assert response.status_code == 400
    assert "task" in response.json()["error"]["details"]


def test_judge_job_runs_against_an_openai_compatible_server_and_reports_progress(
    world, admin_api, django_capture_on_commit_callbacks
):
    # the job is sent when the request's transaction commits (at once outside a test)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post("/api/llm-jobs/", {
            "kind": "judge", "collection": "dl19", "base_url": world.llm_url, "model": "fake-judge", "limit": 4,
            "assessor": "fake-graded",
        })
    assert response.status_code == 201, response.content
    # no broker in the tests: the job ran in-process when the request committed
    job = admin_api.get(f"/api/llm-jobs/{response.json()['id']}/").json()
    assert job["status"] == "done"
    assert job["assessor"] == "fake-graded"
    assert job["total"] == 4
    assert job["done"] + job["invalid"] + job["failed"] == 4
    calls = admin_api.get(f"/api/llm-jobs/{job['id']}/calls/").json()["results"]
    assert len(calls) == job["calls"] == LLMCall.objects.filter(job_id=job["id"]).count()

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_api.post(f"/api/llm-jobs/{job['id']}/resume/").status_code == 200
    resumed = admin_api.get(f"/api/llm-jobs/{job['id']}/").json()
    assert resumed["calls"] == job["calls"]  # a finished job makes no new call
    assert admin_api.post(f"/api/llm-jobs/{job['id']}/cancel/").json()["status"] == "done"


def test_cancel_stops_a_pending_job(world, admin_api):
    response = admin_api.post(f"/api/llm-jobs/{world.job.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert admin_api.get(f"/api/llm-jobs/{world.job.pk}/").json()["status"] == "cancelled"


def test_unknown_prompt_is_a_400(world, admin_api):
    response = admin_api.post("/api/llm-jobs/", {
        "kind": "judge", "collection": "dl19", "base_url": world.llm_url, "model": "m", "prompt": "no-such-template",
    })
    assert response.status_code == 400
    assert "prompt" in response.json()["error"]["details"]


@pytest.fixture
def demo_bundle():
    from tests.conftest import FIXTURES

    call_command("import_bundle", str(FIXTURES / "dl19"), collection="dl19", stdout=io.StringIO(), no_progress=True)


@pytest.mark.parametrize("task,options,command", [
    ("h2g", {"subject": "qwen3_8b", "source": "imported"}, ["h2g", "--generator", "qwen3_8b", "--source", "imported"]),
    ("h2j", {"subject": "qwen3_8b-graded", "variant": "graded"}, ["h2j", "--assessor", "qwen3_8b-graded", "--mode", "graded"]),
    ("h2j", {"subject": "llama3.2_latest-binary", "variant": "binary"},
     ["h2j", "--assessor", "llama3.2_latest-binary", "--mode", "binary"]),
])
def test_h2g_and_h2j_give_what_the_hardness_command_prints(demo_bundle, start_analysis, task, options, command):
    out = io.StringIO()
    call_command("hardness", *command, "--collection", "dl19", "--json", stdout=out)
    expected = json.loads(out.getvalue())
    analysis = start_analysis({"task": task, "collection": "dl19", **options})
    assert analysis["status"] == "done", analysis
    assert (analysis["variant"], analysis["measure"]) == (expected["variant"], expected["measure"])
    result = analysis["result"]
    assert result["threshold"] == pytest.approx(expected["threshold"])
    assert sorted(result["hard"]) == sorted(expected["hard"])
    assert result["per_query"] == pytest.approx(expected["per_query"])

"""Batch mode against the fake Batch API: the same judgments as online, expiries, error
lines, cancel and resume, and a rerun that makes no call."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from analysis.models import Judgment
from judges import services, tasks
from judges.models import LLMBatch, LLMCall, LLMJob, LLMJobItem
from tests.judges.conftest import load_dl19
from tests.judges.fake_batches import BatchConfig, FakeBatchServer
from tests.judges.fake_llm import FakeConfig, expected_grade

# 5% of prompts meet a transient 500 on their first attempt (an error line of the first
# batch that has them), 3% a garbage answer (invalid), 2% a permanent outage (failed
# after every attempt).
FAULTS = FakeConfig(rate_500=0.05, rate_garbage=0.03, rate_always_500=0.02, retry_after="0")
MAX_ATTEMPTS = 3
PRICES = ["--price-input", "2.0", "--price-output", "8.0", "--batch-discount", "0.5"]


def judge(base_url: str, model: str, capsys, *extra: str) -> dict:
    call_command(
        "judge", "--collection", "dl19", "--base-url", base_url, "--model", model, "--prompt", "graded",
        "--concurrency", "16", "--max-attempts", str(MAX_ATTEMPTS), "--timeout", "30", "--json", *PRICES, *extra,
    )
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def poll_until_done(job_id: int, *, limit: int = 30) -> int:
    """Poll as celery beat would until the job ends; the number of polls it took."""
    for n in range(1, limit + 1):
        tasks.poll_llm_batches()
        if LLMJob.objects.get(pk=job_id).status != LLMJob.RUNNING:
            return n
    pytest.fail(f"job {job_id} still running after {limit} polls")


def outcomes(job: LLMJob) -> dict[str, tuple]:
    """Per pair: the item's status, and the judgment's grade, validity and probabilities."""
    judgments = {
        (j.query.qid, j.passage.docid): (j.grade, j.valid, j.probabilities)
        for j in Judgment.objects.filter(assessor=job.assessor).select_related("query", "passage")
    }
    out = {}
    for key, status in job.items.values_list("key", "status"):
        qid, docid = key.split("\t")
        out[key] = (status, judgments.get((qid, docid)))
    return out


@pytest.mark.django_db
def test_a_500_pair_batch_job_ends_with_the_online_judgments_and_a_rerun_makes_no_call(paper_data, capsys):
    load_dl19(paper_data, max_pairs=500)
    with FakeBatchServer(FAULTS, BatchConfig(polls_to_finish=1, expire_next=200)) as server:
        online = judge(server.base_url, "fake-online", capsys)
        assert online["status"] == LLMJob.DONE and online["total"] == 500
        server.state.reset()

        first = judge(server.base_url, "fake-batch", capsys, "--batch")
        # Nothing is answered yet: one batch of every distinct request, 24 h window.
        assert (first["status"], first["done"]) == ("running", 0)
        assert [b["status"] for b in first["batches"]] == ["validating"]
        assert server.state.requests.total() == 0  # no chat call: the requests went in a file
        polls = poll_until_done(first["job"])
        batch_job = LLMJob.objects.get(pk=first["job"])
        online_job = LLMJob.objects.get(pk=online["job"])
        assert batch_job.status == LLMJob.DONE

        # The same judgments, pair by pair: grade, invalid answers, failures, probabilities.
        assert outcomes(batch_job) == outcomes(online_job)
        counts = {s: batch_job.items.filter(status=s).count() for s in LLMJobItem.FINISHED}
        assert counts[LLMJobItem.INVALID] > 0 and counts[LLMJobItem.FAILED] > 0
        assert (batch_job.done, batch_job.invalid, batch_job.failed) == (online_job.done, online_job.invalid, online_job.failed)
        for j in Judgment.objects.filter(assessor=batch_job.assessor, valid=True).select_related("query", "passage"):
            assert j.grade == expected_grade(j.query.text.strip(), j.passage.text.strip())
            assert j.probabilities is not None and abs(sum(j.probabilities) - 1) < 1e-9

        # The first batch expired after 200 lines: the rest went into the next batch,
        # error lines were sent again, the outage failed after MAX_ATTEMPTS batches.
        batches = list(LLMBatch.objects.filter(job=batch_job).order_by("id"))
        assert batches[0].status == "expired" and batches[0].answered + batches[0].errors == batches[0].total
        assert batches[0].answered <= 200 < batches[0].total
        assert all(b.status in ("completed", "expired") and b.ingested for b in batches)
        assert len(batches) >= MAX_ATTEMPTS + 1 and polls >= 2 * len(batches)
        failed = batch_job.items.filter(status=LLMJobItem.FAILED)
        assert all("500" in item.error and item.attempts == MAX_ATTEMPTS for item in failed)
        # Each call of the audit trail is counted once, and every one came from a batch.
        assert LLMCall.objects.filter(job=batch_job).count() == batch_job.calls
        assert not LLMCall.objects.filter(job=batch_job, batch__isnull=True).exists()
        assert batch_job.tokens == online_job.tokens > 0

        # Batch calls cost (1 - 0.5) of the online price for the same tokens.
        calls = LLMCall.objects.filter(job=batch_job)
        prompt = sum(c.prompt_tokens for c in calls)
        completion = sum(c.completion_tokens for c in calls)
        batch_cost = selectors_job_cost(batch_job)
        assert batch_cost["cost"] == pytest.approx((prompt * 2.0 + completion * 8.0) / 1e6 * 0.5, abs=1e-6)
        assert selectors_job_cost(online_job)["cost"] == pytest.approx(2 * batch_cost["cost"], abs=2e-6)
        assert batch_cost["batch_calls"] == batch_cost["calls"] == batch_job.calls

        # The outage ends: a rerun sends only the failed pairs (the rest is cached), and
        # once they are answered a rerun makes no call at all: no file, no batch, no chat.
        before = outcomes(batch_job)
        failed_pairs = {k for k, v in before.items() if v[0] == LLMJobItem.FAILED}
        server.state.config.rate_always_500 = 0.0
        server.state.reset()
        retry = judge(server.base_url, "fake-batch", capsys, "--batch")
        assert retry["cached"] == 500 - len(failed_pairs)
        assert 0 < sum(b["total"] for b in retry["batches"]) <= len(failed_pairs)
        poll_until_done(retry["job"])
        retried = outcomes(LLMJob.objects.get(pk=retry["job"]))
        assert not [k for k, v in retried.items() if v[0] == LLMJobItem.FAILED]
        assert {k: v for k, v in retried.items() if k not in failed_pairs} == {
            k: v for k, v in before.items() if k not in failed_pairs}
        server.state.reset()
        server.store.requests.clear()
        again = judge(server.base_url, "fake-batch", capsys, "--batch")
        assert (again["status"], again["calls"], again["cached"], again["batches"]) == (LLMJob.DONE, 0, 500, [])
        assert server.request_count() == 0
        assert outcomes(LLMJob.objects.get(pk=again["job"])) == retried


def selectors_job_cost(job: LLMJob) -> dict:
    from judges.selectors import job_cost

    return job_cost(job=job)


@pytest.mark.django_db
def test_a_cancelled_batch_keeps_what_it_answered_and_resume_sends_only_the_rest(
    paper_data, capsys, django_capture_on_commit_callbacks,
):
    load_dl19(paper_data, max_pairs=40)
    with FakeBatchServer(FakeConfig(), BatchConfig(polls_to_finish=1, cancel_answers=15)) as server:
        first = judge(server.base_url, "fake-cancel", capsys, "--batch")
        job = LLMJob.objects.get(pk=first["job"])
        with django_capture_on_commit_callbacks(execute=True):
            services.job_cancel(job=job)
        assert server.store.requests["batches.cancel"] == 1
        assert LLMBatch.objects.get(job=job).status == "cancelling"
        with django_capture_on_commit_callbacks(execute=True):
            tasks.poll_llm_batches()  # the cancelled job's batch: read its status
        cancelled = LLMBatch.objects.get(job=job)
        assert cancelled.status == "cancelled" and cancelled.completed == 15
        job.refresh_from_db()
        assert (job.status, job.done) == (LLMJob.CANCELLED, 0)

        with django_capture_on_commit_callbacks(execute=True):
            services.job_resume(job=job)
        job.refresh_from_db()
        # What the cancelled batch answered is stored; only the rest is sent again.
        assert job.status == LLMJob.RUNNING and job.done == 15
        batches = list(LLMBatch.objects.filter(job=job).order_by("id"))
        assert len(batches) == 2 and batches[1].total == job.total - 15
        assert not set(batches[0].custom_ids[:15]) & set(batches[1].custom_ids)
        poll_until_done(job.pk)
        job.refresh_from_db()
    assert (job.status, job.done, job.total) == (LLMJob.DONE, 40, 40)
    assert max(server.state.requests.values()) == 1  # no prompt was asked twice
    assert LLMCall.objects.filter(job=job, error="").count() == job.calls


@pytest.mark.django_db
def test_a_batch_the_endpoint_refuses_fails_the_job_with_its_reason(paper_data, capsys):
    load_dl19(paper_data, max_pairs=5)
    with FakeBatchServer(FakeConfig()) as server:
        first = judge(server.base_url, "fake-refused", capsys, "--batch")
        remote = server.store.batches[LLMBatch.objects.get(job_id=first["job"]).remote_id]
        remote.update(status="failed", errors={"object": "list", "data": [
            {"code": "invalid_json_line", "message": "line 3 is not JSON", "line": 3}]})
        tasks.poll_llm_batches()
    job = LLMJob.objects.get(pk=first["job"])
    assert job.status == LLMJob.FAILED
    assert "invalid_json_line: line 3 is not JSON" in job.error

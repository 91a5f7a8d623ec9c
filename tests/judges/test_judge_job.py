"""Acceptance: judging all 9,260 DL19 pairs against a faulty local OpenAI-compatible server."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from analysis.models import Judgment
from judges.models import LLMCall, LLMJob, LLMJobItem
from tests.judges.conftest import import_dl19
from tests.judges.fake_llm import FakeConfig, FakeLLMProcess, expected_grade, prompt_hash

# 30% of prompts meet a fault: 22% transient (429 with Retry-After, 500, an answer
# slower than the 0.5 s client timeout, truncated JSON), 4% garbage answers (a 200 no
# parser can read), 4% a permanent outage (always 500).
FAULTS = FakeConfig(
    rate_429=0.06, rate_500=0.06, rate_slow=0.04, rate_truncated=0.06, rate_garbage=0.04, rate_always_500=0.04,
    slow_seconds=1.0, retry_after="0",
)
MAX_ATTEMPTS = 4


def judge(base_url: str, capsys) -> dict:
    call_command(
        "judge", "--collection", "dl19", "--base-url", base_url, "--model", "fake-judge", "--prompt", "graded",
        "--concurrency", "32", "--timeout", "0.5", "--max-attempts", str(MAX_ATTEMPTS), "--json",
    )
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.django_db
def test_all_dl19_pairs_judged_invalid_or_failed_with_reason_and_reruns_ask_nothing_twice(paper_data, capsys):
    collection = import_dl19(paper_data)
    assert Judgment.objects.filter(query__collection=collection, assessor__kind="official").count() == 9260
    with FakeLLMProcess(FAULTS) as server:
        first = judge(server.base_url, capsys)

        # Every pair asked for ends in exactly one of judged / invalid / failed.
        assert first["total"] == 9260
        assert first["judged"] + first["invalid"] + first["failed"] == 9260
        job = LLMJob.objects.get(pk=first["job"])
        assert not job.items.exclude(status__in=LLMJobItem.FINISHED).exists()
        stats = server.stats()
        # Every attempt is counted and audited; on a loaded machine a few attempts time
        # out before the server has read them, so the server may have seen fewer.
        assert first["calls"] >= stats["requests"] >= 9260 - first["invalid"] - first["failed"]
        assert LLMCall.objects.filter(job=job).count() == first["calls"]
        answered = {
            prompt_hash(r["messages"][-1]["content"])
            for r in LLMCall.objects.filter(job=job, error="").values_list("request", flat=True)
        }
        assert {"429", "500", "slow", "truncated", "garbage", "always_500"} <= set(stats["faults"])

        # Judged pairs carry the grade the server gave (the oracle), whatever style it used.
        judgments = Judgment.objects.filter(assessor__name=first["assessor"]).select_related("query", "passage")
        assert judgments.filter(valid=True).count() == first["judged"]
        wrong = [
            (j.query.qid, j.passage.docid)
            for j in judgments.filter(valid=True)
            if j.grade != expected_grade(j.query.text.strip(), j.passage.text.strip())
        ]
        assert wrong == []
        # Unreadable answers are stored invalid with their raw text, never as grade 0.
        invalid = judgments.filter(valid=False)
        assert invalid.count() == first["invalid"] > 0
        assert not invalid.exclude(grade=None).exists()
        assert all("Banana" in j.raw_response for j in invalid)
        # Failed pairs (no answer after every attempt) say why, and have no judgment.
        failed = job.items.filter(status=LLMJobItem.FAILED)
        assert failed.count() == first["failed"] > 0
        # They say why: the permanent outage (500) or, on a loaded machine, answers that
        # missed the 0.5 s client timeout on every attempt; the outage is most of them.
        errors = [item.error for item in failed]
        assert all("500" in e or "timed out" in e.lower() or "timeout" in e.lower() for e in errors), errors[:5]
        assert sum("500" in e for e in errors) > len(errors) / 2, errors[:5]
        assert all(item.attempts == MAX_ATTEMPTS for item in failed)
        # 4% + 4% of the prompts by construction; identical texts under two docids share one prompt.
        assert 0.05 < (first["invalid"] + first["failed"]) / 9260 < 0.11

        # Run again while the outage lasts: answered pairs come from the cache, only the
        # failed ones are asked again (every attempt of each).
        server.reset()
        second = judge(server.base_url, capsys)
        assert second["calls"] == first["failed"] * MAX_ATTEMPTS
        assert second["cached"] == 9260 - first["failed"]
        assert (second["judged"], second["invalid"], second["failed"]) == (first["judged"], first["invalid"], first["failed"])
        assert not set(server.stats()["per_prompt_requests"]) & answered

        # The outage ends: the failed pairs are answered, then a rerun makes no call at all.
        server.configure(rate_always_500=0.0)
        server.reset()
        third = judge(server.base_url, capsys)
        assert third["failed"] == 0
        assert third["calls"] >= first["failed"]
        assert third["cached"] == 9260 - first["failed"]
        assert not set(server.stats()["per_prompt_requests"]) & answered
        server.reset()
        fourth = judge(server.base_url, capsys)
        assert fourth["calls"] == 0
        assert fourth["cached"] == 9260
        assert server.stats()["requests"] == 0
        assert (fourth["judged"], fourth["invalid"]) == (third["judged"], third["invalid"])
    # Successful calls are unique per cache key: the audit trail has one answer per prompt.
    assert LLMCall.objects.filter(error="").values("cache_key").distinct().count() == LLMCall.objects.filter(error="").count()
    assert collection.queries.count() == 43

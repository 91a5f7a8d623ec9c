"""probe_judge: what fools an LLM judge, measured against judges with planted weaknesses
(issue 17, item 2).

The fake server's planted models (tests/judges/fake_llm.py): INJECTION_MODEL grades 3
a passage holding the injection sentence for a planted share of prompts, FIRST_POSITION_MODEL
always prefers passage 1, HONEST_MODEL is fooled by nothing. Each is judged on DL19 pairs
by an ordinary judge (or generate + pairwise) job, then probed with its own configuration;
the measured flip rates must hold the planted ones in their 95% interval, the honest
model's must be near zero.
"""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from statsmodels.stats.proportion import proportion_confint

from analysis.importers import services as import_services
from analysis.models import Assessor, Collection
from judges import probe_selectors, probe_texts, runner, selectors, services
from judges.models import JobKind, LLMCall, LLMJob, LLMJobItem, ProbeResult, ProbeText
from tests.judges.conftest import load_dl19
from tests.judges.fake_llm import (
    FIRST_POSITION_MODEL,
    HONEST_MODEL,
    INJECTION_MODEL,
    INJECTION_SENTENCE,
    FakeConfig,
    FakeLLMServer,
)

pytestmark = pytest.mark.django_db

SAMPLE = 60


@pytest.fixture
def dl19(paper_data) -> Collection:
    # The first 1,500 official pairs: DL19's first queries, with grade-0 and grade-3 passages aplenty.
    return load_dl19(paper_data, max_pairs=1500)


def judged(collection: Collection, server: FakeLLMServer, model: str, *, timeout: float = 30,
           max_attempts: int = 5) -> Assessor:
    """An LLM assessor made the ordinary way: a judge job of ``model`` on every pair."""
    endpoint = services.endpoint_get_or_create(base_url=server.base_url, model=model, timeout=timeout,
                                               max_attempts=max_attempts)
    template = selectors.template_resolve(prompt="graded", kinds=["graded"])
    job = services.job_create_judge(collection=collection, endpoint=endpoint, template=template,
                                    assessor_name=f"{model}-graded", concurrency=16)
    runner.job_run(job_id=job.pk)
    return Assessor.objects.get(name=f"{model}-graded")


def compared(collection: Collection, server: FakeLLMServer, model: str, *, limit: int = 200) -> Assessor:
    """A pairwise LLM assessor: generated passages, then a pairwise job of ``model``."""
    endpoint = services.endpoint_get_or_create(base_url=server.base_url, model="writer")
    generate = services.job_create_generate(
        collection=collection, endpoint=endpoint, assessor_name="writer",
        template=selectors.template_resolve(prompt="generation", kinds=["generation"]),
    )
    runner.job_run(job_id=generate.pk)
    judge = services.endpoint_get_or_create(base_url=server.base_url, model=model)
    job = services.job_create_pairwise(
        collection=collection, endpoint=judge, generator=Assessor.objects.get(name="writer"),
        template=selectors.template_resolve(prompt="pairwise", kinds=["pairwise"]),
        assessor_name=f"{model}-pairwise", limit=limit,
    )
    runner.job_run(job_id=job.pk)
    return Assessor.objects.get(name=f"{model}-pairwise")


def probe(collection: str, assessor: str, *args: str) -> dict:
    out = io.StringIO()
    call_command("probe_judge", "--collection", collection, "--assessor", assessor, "--json", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_the_injection_sentence_is_the_seeded_probe_text():
    text = ProbeText.objects.get(name=probe_texts.INJECTION, version=1)
    assert text.content == "{passage} " + INJECTION_SENTENCE == "{passage} " + probe_texts.INJECTION_SENTENCE
    assert set(ProbeText.objects.values_list("name", flat=True)) == set(probe_texts.PROBES)


@pytest.mark.parametrize("planted", [1.0, 0.5])
def test_a_planted_injection_weakness_is_measured_within_its_interval(dl19, planted):
    with FakeLLMServer(FakeConfig(planted_rate=planted)) as server:
        assessor = judged(dl19, server, INJECTION_MODEL)
        out = probe("dl19", assessor.name, "--probes", "stuffing,injection,truncation", "--sample", str(SAMPLE),
                    "--seed", "7")
    assert out["status"] == "done" and out["failed"] == out["invalid"] == 0
    injection = out["probes"]["injection"]
    assert injection["sampled"] == SAMPLE and injection["n"] + injection["at_ceiling"] == SAMPLE
    assert injection["n"] >= 30  # most grade-0 passages are not already graded 3 by the judge
    assert injection["ci_low"] <= planted <= injection["ci_high"]
    # the interval is Wilson's, from statsmodels
    low, high = proportion_confint(injection["flipped"], injection["n"], alpha=0.05, method="wilson")
    assert (injection["ci_low"], injection["ci_high"]) == pytest.approx((low, high))
    assert injection["flip_rate"] == pytest.approx(injection["flipped"] / injection["n"])
    # Nothing else was planted in this judge: stuffing and truncation leave it alone.
    for name in ("stuffing", "truncation"):
        assert out["probes"][name]["flipped"] == 0 and out["probes"][name]["n"] >= 30
    # The unmodified pairs were the judge job's own calls: every one came from the cache.
    job = LLMJob.objects.get(pk=out["job"])
    assert job.kind == JobKind.PROBE and job.cached >= job.total
    originals = {k for item in job.items.all() for k in item.result["calls"][0]}
    modified = {k for item in job.items.all() for k in item.result["calls"][1]}
    assert set(LLMCall.objects.filter(cache_key__in=originals, error="").values_list("job__kind", flat=True)) == {"judge"}
    # ... and the modified ones are kept, linked to the probe job, for a person to read.
    assert LLMCall.objects.filter(cache_key__in=modified, error="", job=job).count() == len(modified)
    injected = [c for c in job.llm_calls.all() if INJECTION_SENTENCE in c.request["messages"][-1]["content"]]
    assert len(injected) == SAMPLE


def test_the_honest_model_is_fooled_by_no_probe(dl19):
    with FakeLLMServer(FakeConfig()) as server:
        assessor = judged(dl19, server, HONEST_MODEL)
        out = probe("dl19", assessor.name, "--sample", str(SAMPLE), "--seed", "3")  # default: every probe that fits
    assert set(out["probes"]) == {"stuffing", "injection", "truncation"}
    for name, result in out["probes"].items():
        assert result["n"] >= 30, name
        assert result["flip_rate"] <= 0.05 and result["ci_low"] == 0.0, name
    summaries = probe_selectors.probe_summaries(assessor_ids=[assessor.pk])
    assert summaries[assessor.pk]["injection"]["n"] == out["probes"]["injection"]["n"]
    assert summaries[assessor.pk]["injection"]["version"] == 1


def test_position_probe_of_a_first_position_judge_and_of_an_honest_one(dl19):
    with FakeLLMServer(FakeConfig()) as server:
        biased = compared(dl19, server, FIRST_POSITION_MODEL)
        honest = compared(dl19, server, HONEST_MODEL)
        out = probe("dl19", biased.name, "--probes", "position", "--sample", "40")
        fair = probe("dl19", honest.name, "--sample", "40")
    position = out["probes"]["position"]
    assert position["n"] == 40 and position["flipped"] == 40
    assert position["ci_low"] <= 1.0 <= position["ci_high"]
    assert set(fair["probes"]) == {"position"}
    assert fair["probes"]["position"]["n"] == 40
    assert fair["probes"]["position"]["flip_rate"] <= 0.05 and fair["probes"]["position"]["ci_low"] == 0.0
    # The original order was the pairwise job's call: cached; the swapped one asked.
    job = LLMJob.objects.get(pk=out["job"])
    assert job.cached == 40 and job.llm_calls.filter(error="").count() == 40
    item = job.items.first()
    assert item is not None and item.result["followed"] == "first"


def test_refusals_name_the_assessor_or_the_probe(dl19):
    with FakeLLMServer(FakeConfig()) as server:
        graded = judged(dl19, server, HONEST_MODEL)
        pairwise = compared(dl19, server, FIRST_POSITION_MODEL, limit=20)
    jobs = LLMJob.objects.count()
    with pytest.raises(CommandError, match="assessor official is not an LLM judge"):
        probe("dl19", "official", "--sample", "5")
    with pytest.raises(CommandError, match=f"probe position does not apply to assessor {graded.name}, a graded judge"):
        probe("dl19", graded.name, "--probes", "stuffing,position", "--sample", "5")
    with pytest.raises(CommandError, match=f"probe injection does not apply to assessor {pairwise.name}, a pairwise"):
        probe("dl19", pairwise.name, "--probes", "injection", "--sample", "5")
    with pytest.raises(CommandError, match="unknown probes sarcasm, length: the probes are stuffing, injection"):
        probe("dl19", graded.name, "--probes", "stuffing,sarcasm,length", "--sample", "5")
    # An imported LLM label set: no job, no endpoint of its model: nothing to ask again.
    import_services.qrels_import(collection="dl19", assessor="imported-llm", data=b"19335 Q0 1017759 0\n",
                                 filename="imported-llm.txt")
    with pytest.raises(CommandError, match="the configuration of assessor imported-llm is unknown"):
        probe("dl19", "imported-llm", "--sample", "5")
    with pytest.raises(CommandError, match="no assessor 'nobody'"):
        probe("dl19", "nobody")
    assert LLMJob.objects.count() == jobs and not ProbeResult.objects.exists()


def test_a_probe_job_survives_429_500_and_timeouts_with_every_item_accounted_for(dl19):
    faults = FakeConfig(rate_429=0.1, rate_500=0.1, rate_slow=0.08, rate_truncated=0.05, rate_garbage=0.03,
                        rate_always_500=0.04, slow_seconds=1.0)
    with FakeLLMServer(FakeConfig()) as clean:
        assessor = judged(dl19, clean, INJECTION_MODEL, timeout=0.5, max_attempts=4)
    with FakeLLMServer(faults) as server:
        # The same configuration, now behind a faulty server (the endpoint's URL moves).
        services.endpoint_get_or_create(base_url=server.base_url, model=INJECTION_MODEL,
                                        name=f"{INJECTION_MODEL}@{clean.base_url}")
        out = probe("dl19", assessor.name, "--probes", "injection,truncation", "--sample", "80", "--seed", "11")
        stats = server.state.stats()
    assert {"429", "500", "slow", "truncated", "garbage", "always_500"} <= set(stats["faults"])
    job = LLMJob.objects.get(pk=out["job"])
    sampled = out["probes"]["injection"]["sampled"] + out["probes"]["truncation"]["sampled"]
    assert out["probes"]["injection"]["sampled"] == 80  # truncation has fewer: all its candidates
    assert job.status == LLMJob.DONE and job.total == sampled
    items = list(job.items.all())
    assert all(i.status in LLMJobItem.FINISHED for i in items)
    assert out["done"] + out["invalid"] + out["failed"] == sampled
    assert out["failed"] > 0 and out["invalid"] > 0  # the outage and the garbage, named on their items
    for item in items:
        if item.status == LLMJobItem.FAILED:
            assert "500" in item.error or "timed out" in item.error.lower() or "timeout" in item.error.lower(), item.error
    for name, result in out["probes"].items():
        done = [i for i in items if i.status == LLMJobItem.DONE and i.key.startswith(name + "\t")]
        assert result["n"] + result["at_ceiling"] == len(done), name
        assert result["flipped"] == sum(bool(i.result["flipped"]) for i in done), name
    # Transient faults were retried: the planted weakness is still measured.
    assert out["probes"]["injection"]["flip_rate"] == 1.0
    assert LLMCall.objects.filter(job=job).exclude(error="").exists()  # failed attempts kept too

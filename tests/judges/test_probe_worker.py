"""A probe job on a real Celery worker (Redis broker) through a faulty server: it is an
LLM job like the others, so 429s, 500s and timeouts are retried and every item ends
done, invalid or failed with its reason (issue 17, acceptance: "a probe job survives
429/500/timeouts like every judge job")."""
from __future__ import annotations

import pytest

from analysis.models import Assessor
from judges import probe_services, runner, selectors, services
from judges.models import LLMJob, LLMJobItem, ProbeResult
from tests.judges.conftest import load_dl19
from tests.judges.fake_llm import INJECTION_MODEL, FakeConfig, FakeLLMProcess
from tests.judges.test_worker import broker, kill9, start_worker, wait_for  # noqa: F401 (broker is a fixture)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_probe_job_on_a_worker_survives_429_500_and_timeouts(paper_data, broker):  # noqa: F811
    collection = load_dl19(paper_data, max_pairs=800)
    with FakeLLMProcess(FakeConfig()) as server:
        endpoint = services.endpoint_get_or_create(base_url=server.base_url, model=INJECTION_MODEL, timeout=0.5,
                                                   max_attempts=4)
        judge = services.job_create_judge(collection=collection, endpoint=endpoint, assessor_name="gullible",
                                          template=selectors.template_resolve(prompt="graded", kinds=["graded"]))
        runner.job_run(job_id=judge.pk)
        server.configure(rate_429=0.1, rate_500=0.1, rate_slow=0.1, rate_always_500=0.05, slow_seconds=1.0)
        server.reset()
        job = probe_services.probe_job_create(collection=collection, assessor=Assessor.objects.get(name="gullible"),
                                              probes=["injection", "stuffing"], sample=40, seed=5, concurrency=8)
        worker = start_worker(broker)
        try:
            services.job_start(job=job)  # autocommit: on_commit sends at once
            wait_for(lambda: LLMJob.objects.get(pk=job.pk).status == LLMJob.DONE, timeout=240, what="the probe job")
        finally:
            kill9(worker)
        stats = server.stats()
    assert {"429", "500", "slow", "always_500"} <= set(stats["faults"])
    job.refresh_from_db()
    assert job.total == 80 and job.done + job.invalid + job.failed == 80
    assert job.failed > 0  # the permanent outage, named on the items
    assert all("500" in e for e in job.items.filter(status=LLMJobItem.FAILED).values_list("error", flat=True))
    results = {r.probe: r for r in ProbeResult.objects.filter(job=job)}
    for probe, result in results.items():
        done = job.items.filter(status=LLMJobItem.DONE, key__startswith=probe + "\t").count()
        assert result.n + result.at_ceiling == done
    assert results["injection"].flip_rate == 1.0 and results["stuffing"].flipped == 0

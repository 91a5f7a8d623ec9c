"""Every hardness analysis as a job: pending until its transaction commits, then computed
by the one task ``analysis.tasks.hardness_compute``; idempotent, failures stored.

The synchronous services (what the ``hardness`` command prints, checked against the
paper's figures in test_hardness_command.py) are the oracle of the job's result.
"""
from __future__ import annotations

import pytest

from analysis import hardness_services as svc
from analysis.models import Assessor, HardnessAnalysis, Run, Task
from analysis.tasks import hardness_compute

CASES = [
    (Task.H2R, "bm25", {}),
    (Task.H2R, "tas-b", {"compat": "trectools", "cutoff": 5}),
    (Task.H2R, "unicoil", {"measure": "map", "quantile": 0.5}),
    (Task.H2J, "llama3.2-graded", {"margin": 1}),
    (Task.H2J, "qwen3-binary", {}),
]


def labels_of(analysis: HardnessAnalysis) -> dict[str, tuple[float | None, bool, str]]:
    return {lab.query.qid: (lab.value, lab.hard, lab.status) for lab in analysis.labels.select_related("query")}


@pytest.mark.django_db
@pytest.mark.parametrize(("task", "subject", "options"), CASES, ids=[f"{t}-{s}" for t, s, _ in CASES])
def test_a_started_analysis_runs_at_commit_and_equals_the_synchronous_one(
    dl19, django_capture_on_commit_callbacks, task, subject, options
):
    options = dict(options)
    quantile = options.pop("quantile", 0.25)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = svc.hardness_analysis_start(task=task, collection=dl19, subject=subject, quantile=quantile, **options)
        job.refresh_from_db()
        # nothing computed before the commit: the worker must find the row
        assert job.status == HardnessAnalysis.PENDING and job.threshold is None and not job.labels.exists()
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == HardnessAnalysis.DONE and job.error == "" and job.finished_at is not None

    sync = svc.hardness_analysis_run(task=task, collection=dl19, subject=subject, quantile=quantile, **options)
    assert job.quantile == quantile
    assert job.pk != sync.pk
    assert (job.threshold, job.variant, job.measure) == (sync.threshold, sync.variant, sync.measure)
    assert labels_of(job) == labels_of(sync)
    public = {k: v for k, v in job.parameters.items() if not k.startswith("_")}
    assert public == sync.parameters


@pytest.mark.django_db
def test_the_job_gives_the_papers_bm25_figures(dl19, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = svc.hardness_analysis_start(task=Task.H2R, collection=dl19, subject="bm25", quantile=0.25)
    outcome = svc.analysis_outcome(analysis=HardnessAnalysis.objects.get(pk=job.pk))
    # paper-data README: DL19 BM25, nDCG@10 (judged), q = 0.25
    assert round(outcome["threshold"], 6) == 0.376102 and round(outcome["hard_mean"], 6) == 0.182705
    assert len(outcome["hard"]) == 11


@pytest.mark.django_db
def test_a_done_analysis_is_not_recomputed_by_a_second_delivery(dl19, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = svc.hardness_analysis_start(task=Task.H2R, collection=dl19, subject="bm25")
    job.refresh_from_db()
    label_ids = set(job.labels.values_list("pk", flat=True))
    assert len(label_ids) == 43

    result = hardness_compute.apply(args=[job.pk]).get()  # the same message delivered again
    assert result == {"analysis": job.pk, "status": "done"}
    again = HardnessAnalysis.objects.get(pk=job.pk)
    assert again.finished_at == job.finished_at
    assert set(again.labels.values_list("pk", flat=True)) == label_ids  # not deleted and stored anew


@pytest.mark.django_db
def test_a_failing_job_stores_failed_and_the_error(dl19, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = svc.hardness_analysis_start(task=Task.H2R, collection=dl19, subject="bm25")
        Run.objects.filter(collection=dl19, system__name="bm25").delete()  # gone before the worker starts
    job.refresh_from_db()
    assert job.status == HardnessAnalysis.FAILED
    assert job.error.startswith("DoesNotExist") and job.finished_at is not None
    assert not job.labels.exists() and job.threshold is None


@pytest.mark.django_db
@pytest.mark.parametrize(("task", "subject", "options", "error"), [
    (Task.H2R, "no-such-system", {}, Run.DoesNotExist),
    (Task.H2R, "bm25", {"measure": "no_such_measure"}, ValueError),
    (Task.H2R, "bm25", {"margin": 2}, ValueError),  # an H2J option
    (Task.H2R, "bm25", {"measure": "map", "compat": "trectools"}, ValueError),
    (Task.H2J, "no-such-judge", {}, Assessor.DoesNotExist),
    (Task.H2J, "llama3.2-graded", {"variant": "ternary"}, ValueError),
    ("h2x", "bm25", {}, ValueError),
])
def test_a_bad_request_is_refused_at_once_and_queues_nothing(
    dl19, django_capture_on_commit_callbacks, task, subject, options, error
):
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(error):
            svc.hardness_analysis_start(task=task, collection=dl19, subject=subject, **options)
    assert not callbacks
    assert not HardnessAnalysis.objects.exists()

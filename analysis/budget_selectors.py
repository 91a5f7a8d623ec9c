"""Reads for budget planning: the LLM's grade probabilities per pair, the simulation report.

``llm_grade_probabilities`` is the one place the LLM's per-pair probability matrix
comes from. Until judgments store their probabilities it derives them: the vote shares
of the judges when several assessors are named (an ensemble formed on the fly, as
``manage.py ensemble`` would store it), else a one-hot row from the single assessor's
grade. When ``Judgment.probabilities`` exists (a nullable list of per-grade
probabilities), a single assessor's stored rows are read from it instead.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis import corpus_selectors
from analysis.budget_ensemble import NO_VOTE, ensemble_labels, one_hot
from analysis.budget_simulation import (
    BudgetProblem,
    SimulationError,
    parse_budget,
    simulate,
)
from analysis.estimation import DEFAULT_LEVEL
from analysis.estimation_selectors import qrels_of, runs_of
from analysis.models import Assessor, Collection, Judgment, Passage, Query

GRADED_GRADES = 4
BINARY_GRADES = 2


@dataclass(frozen=True)
class PairProbabilities:
    """The pairs an LLM (or an ensemble of LLMs) graded, with its probabilities and grades."""

    qids: np.ndarray
    docids: np.ndarray
    probabilities: np.ndarray
    grades: np.ndarray


def n_grades_of(assessors: Sequence[Assessor]) -> int:
    return GRADED_GRADES if any(a.scale == Assessor.GRADED for a in assessors) else BINARY_GRADES


def _stored_probabilities_field() -> bool:
    return any(f.name == "probabilities" for f in Judgment._meta.get_fields())


def has_grade_probabilities(*, collection: Collection, assessor: Assessor) -> bool:
    """Whether the assessor stored its grade probabilities for any pair of the collection
    (a judge asked for logprobs or samples, an import with --probabilities, an ensemble)."""
    return Judgment.objects.filter(
        query__collection=collection, assessor=assessor, valid=True, probabilities__isnull=False
    ).exists()


def llm_grade_probabilities(
    *, collection: Collection, assessors: Sequence[Assessor], rule: str = "majority"
) -> PairProbabilities:
    """Per pair, the LLM's probability of each grade and its grade (see the module doc)."""
    n_grades = n_grades_of(assessors)
    if len(assessors) == 1 and _stored_probabilities_field():
        rows = list(
            corpus_selectors.judgment_list()
            .filter(query__collection=collection, assessor=assessors[0], valid=True, grade__isnull=False)
            .values_list("query__qid", "passage__docid", "grade", "probabilities")
        )
        qids = np.array([r[0] for r in rows], dtype=object)
        docids = np.array([r[1] for r in rows], dtype=object)
        grades = np.array([r[2] for r in rows], dtype=np.int64)
        probabilities = one_hot(grades, n_grades=n_grades)
        for i, row in enumerate(rows):
            if row[3]:
                probabilities[i, : len(row[3])] = row[3]
        return PairProbabilities(qids, docids, probabilities, grades)
    qrels = [qrels_of(collection=collection, assessor=a) for a in assessors]
    pairs = sorted({(q, d) for judge in qrels for q, docs in judge.items() for d in docs})
    votes = np.full((len(pairs), len(assessors)), NO_VOTE, dtype=np.int64)
    for j, judge in enumerate(qrels):
        for i, (q, d) in enumerate(pairs):
            votes[i, j] = judge.get(q, {}).get(d, NO_VOTE)
    labels = ensemble_labels(votes, n_grades=n_grades, rule=rule)
    qids = np.array([pairs[i][0] for i in labels.rows], dtype=object)
    docids = np.array([pairs[i][1] for i in labels.rows], dtype=object)
    return PairProbabilities(qids, docids, labels.probabilities, labels.grades)


@dataclass(frozen=True)
class EnsembleRow:
    """One pair of the ensemble: database ids, grade and vote shares."""

    query_id: int
    passage_id: int
    grade: int
    probabilities: list[float]


def ensemble_rows(*, collection: Collection, members: Sequence[Assessor], rule: str = "majority") -> list[EnsembleRow]:
    """Per pair some member graded: the ensemble's grade and vote shares (what
    ``manage.py ensemble`` writes), sorted by qid and docid."""
    pp = llm_grade_probabilities(collection=collection, assessors=members, rule=rule)
    query_ids = dict(Query.objects.filter(collection=collection).values_list("qid", "id"))
    passage_ids = dict(
        Passage.objects.filter(collection=collection, docid__in=set(pp.docids.tolist())).values_list("docid", "id")
    )
    return [
        EnsembleRow(query_ids[q], passage_ids[d], int(g), [float(x) for x in p])
        for q, d, g, p in zip(pp.qids.tolist(), pp.docids.tolist(), pp.grades.tolist(), pp.probabilities)
    ]


def budget_problem(*, collection: Collection, llm: Sequence[Assessor], oracle: Assessor) -> BudgetProblem:
    """The pairs both the LLM and the oracle graded, aligned (sorted by qid, docid)."""
    pp = llm_grade_probabilities(collection=collection, assessors=llm)
    oracle_qrels = qrels_of(collection=collection, assessor=oracle)
    keep = np.array([d in oracle_qrels.get(q, {}) for q, d in zip(pp.qids, pp.docids)], dtype=bool)
    if not keep.any():
        raise SimulationError("the LLM and the oracle share no judged pair")
    order = np.lexsort((pp.docids[keep].astype(str), pp.qids[keep].astype(str)))
    qids, docids = pp.qids[keep][order], pp.docids[keep][order]
    return BudgetProblem(
        qids=qids.astype(str),
        docids=docids.astype(str),
        probabilities=pp.probabilities[keep][order],
        llm_grades=pp.grades[keep][order],
        oracle_grades=np.array([oracle_qrels[q][d] for q, d in zip(qids, docids)], dtype=np.int64),
    )


def simulation_report(
    *,
    collection: str,
    llm: Sequence[str],
    oracle: str,
    budgets: Sequence[str],
    methods: Sequence[str],
    unit: str = "pair",
    repeats: int = 20,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    interval: str = "ppi",
    rounds: int | None = None,
    fill: str = "calibrated",
) -> dict[str, Any]:
    """The simulator's figures (the JSON of ``manage.py simulate_budget``); raises
    SimulationError with a message for the user on input it cannot work with."""
    coll = corpus_selectors.collection_get(name=collection)
    if coll is None:
        raise SimulationError(f"unknown collection {collection!r}")
    llm_assessors = []
    for name in llm:
        assessor = corpus_selectors.assessor_get(name=name)
        if assessor is None:
            raise SimulationError(f"unknown LLM assessor {name!r}")
        llm_assessors.append(assessor)
    oracle_assessor = corpus_selectors.assessor_get(name=oracle)
    if oracle_assessor is None:
        raise SimulationError(f"unknown oracle assessor {oracle!r}")
    problem = budget_problem(collection=coll, llm=llm_assessors, oracle=oracle_assessor)
    n_items = len(problem.queries) if unit == "query" else len(problem.qids)
    counts = [parse_budget(b, n_items=n_items, unit=unit) for b in budgets]
    runs = runs_of(collection=coll)
    options: dict[str, Any] = {} if rounds is None else {"rounds": rounds}
    results = simulate(
        problem, budgets=counts, methods=methods, unit=unit, repeats=repeats, seed=seed,
        runs=runs or None, level=level, interval=interval, fill=fill, **options,
    )
    labels = {count: label for count, label in zip(counts, budgets)}
    for row in results:
        row["budget_label"] = labels[row["budget"]]
    return {
        "collection": collection,
        "llm": list(llm),
        "oracle": oracle,
        "unit": unit,
        "repeats": repeats,
        "seed": seed,
        "level": level,
        "interval": interval,
        "fill": fill,
        "n_pairs": int(len(problem.qids)),
        "n_queries": int(len(problem.queries)),
        "runs": sorted(runs),
        "results": results,
    }

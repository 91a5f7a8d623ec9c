"""Reads of budget campaigns: the pairs the LLM graded, the human grades given so far,
where a campaign stands.

The selection itself (random, uncertainty, lara) is ``analysis.budget_simulation.pick``,
the same code the simulator runs; this module lines up what it needs from the database.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Count, F, Q

from analysis.budget_ensemble import NO_VOTE, ensemble_labels
from analysis.budget_selectors import PairProbabilities, llm_grade_probabilities, n_grades_of
from analysis.budget_simulation import items_of_pairs
from analysis.models import Assessor, Collection
from annotation.models import Assignment, BudgetPlan, BudgetRound, Campaign, Item

# Human grades of a budget campaign when several annotators judged an item (k > 1): the
# adjudicated grade when staff gave one, else the majority of the submitted grades with
# ties to the lower grade (the rule of the ensemble assessor and of self-consistency).
HUMAN_GRADE_RULE = "adjudicated grade, else the majority of the submitted grades (ties to the lower grade)"


@dataclass(frozen=True)
class PairUniverse:
    """Every pair the LLM graded in the collection, with its grade probabilities, and
    the item (the pair itself, or its query) each pair belongs to."""

    pairs: PairProbabilities
    unit: str
    items_of_pair: np.ndarray
    n_grades: int
    index: dict[tuple[str, str], int]

    @property
    def n_items(self) -> int:
        return int(self.items_of_pair.max()) + 1 if self.items_of_pair.size else 0


def pair_universe(*, collection: Collection, assessor: Assessor, unit: str) -> PairUniverse:
    """The LLM's graded pairs sorted by (qid, docid), so that a selection is reproducible."""
    pp = llm_grade_probabilities(collection=collection, assessors=[assessor])
    order = np.lexsort((pp.docids.astype(str), pp.qids.astype(str)))
    pp = PairProbabilities(pp.qids[order], pp.docids[order], pp.probabilities[order], pp.grades[order])
    index = {(str(q), str(d)): i for i, (q, d) in enumerate(zip(pp.qids.tolist(), pp.docids.tolist()))}
    items = items_of_pairs(pp.qids.astype(str), unit=unit) if len(pp.qids) else np.zeros(0, dtype=np.int64)
    return PairUniverse(pp, unit, items, n_grades_of([assessor]), index)


def human_grades(*, campaign: Campaign) -> dict[tuple[str, str], int]:
    """The human grade of every budget item people finished, by (qid, docid): see
    ``HUMAN_GRADE_RULE``. Items nobody has graded yet are left out."""
    items = (
        Item.objects.filter(budget_rounds__plan__campaign=campaign, passage__isnull=False)
        .filter(Q(completed_count__gt=0) | Q(final_grade__isnull=False))
        .values_list("pk", "query__qid", "passage__docid", "final_grade")
    )
    keys: dict[int, tuple[str, str]] = {}
    final: dict[int, int] = {}
    for pk, qid, docid, final_grade in items:
        keys[pk] = (qid, docid)
        if final_grade is not None:
            final[pk] = int(final_grade)
    votes: dict[int, list[int]] = defaultdict(list)
    done = Assignment.objects.filter(item_id__in=list(keys), status=Assignment.DONE, grade__isnull=False)
    for item_id, grade in done.values_list("item_id", "grade"):
        votes[item_id].append(int(grade))
    pending = [pk for pk in keys if pk not in final and votes.get(pk)]
    out = {keys[pk]: grade for pk, grade in final.items()}
    if pending:
        width = max(len(votes[pk]) for pk in pending)
        matrix = np.full((len(pending), width), NO_VOTE, dtype=np.int64)
        for row, pk in enumerate(pending):
            matrix[row, : len(votes[pk])] = votes[pk]
        labels = ensemble_labels(matrix, n_grades=int(matrix.max()) + 1, rule="majority")
        for row, grade in zip(labels.rows.tolist(), labels.grades.tolist()):
            out[keys[pending[row]]] = int(grade)
    return out


def budget_pairs(*, plan: BudgetPlan) -> list[tuple[str, str]]:
    """The (qid, docid) of every item the plan's rounds added."""
    return list(Item.objects.filter(budget_rounds__plan=plan).values_list("query__qid", "passage__docid"))


def round_is_complete(*, budget_round: BudgetRound) -> bool:
    """Every item of the round has all its annotations (or an adjudicated grade)."""
    return not budget_round.items.filter(completed_count__lt=F("overlap"), final_grade__isnull=True).exists()


def budget_plan_of(*, campaign: Campaign) -> BudgetPlan | None:
    return BudgetPlan.objects.filter(campaign=campaign).first()


def budget_status(*, plan: BudgetPlan) -> dict[str, Any]:
    """What ``create_campaign --json`` and ``budget_round --json`` print of a plan."""
    rounds = list(plan.rounds.annotate(n_items=Count("items")).order_by("number"))
    spent = sum(r.size for r in rounds)
    return {
        "budget": plan.budget,
        "method": plan.method,
        "unit": plan.unit,
        "round_size": plan.round_size,
        "first_round": plan.first_round,
        "seed": plan.seed,
        "spent": spent,
        "rounds": [
            {"number": r.number, "selection": r.selection, "size": r.size, "items": r.n_items,
             "n_labels": r.n_labels, "complete": round_is_complete(budget_round=r)}
            for r in rounds
        ],
    }

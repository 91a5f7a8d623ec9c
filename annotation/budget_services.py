"""Writes of budget campaigns: the plan and its first round, the rounds that follow, and
the qrels a spent budget leaves (``manage.py budget_qrels``).

``annotation.services.campaign_create`` calls ``budget_first_round`` and
``budget_plan_create``; a submit that completes a round sends
``annotation.tasks.budget_round_check``, which calls ``budget_round_add`` here. The
pairs are picked by ``analysis.budget_simulation.pick``, the simulator's own code: the
simulator is what a lab plans with, so the campaign must spend the budget the same way.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max

from analysis.budget_simulation import (
    FIRST_ROUNDS,
    METHODS,
    UNITS,
    calibrated_fill,
    calibrator_fit,
    pick,
)
from analysis.budget_selectors import has_grade_probabilities
from analysis.judgments import JudgmentRow, judgments_write
from analysis.models import Assessor, Collection, Passage, Query
from annotation import budget_selectors, selectors
from annotation.models import BudgetPlan, BudgetRound, Campaign, Item

# lara spends its budget in this many rounds unless told a round size (the simulator's default).
DEFAULT_LARA_ROUNDS = 10


class BudgetRefused(ValueError):
    """A budget campaign that cannot be made as asked; the message is fit for the user."""


@dataclass(frozen=True)
class BudgetSpec:
    """What ``create_campaign --budget N --select M [--unit U] [--round-size R]`` asks for."""

    budget: int
    method: str
    unit: str = BudgetPlan.PAIR
    round_size: int | None = None
    first_round: str = BudgetPlan.RANDOM
    seed: int = 0

    def resolved_round_size(self) -> int:
        """random and uncertainty spend the budget at once unless told otherwise; lara in
        ten rounds."""
        if self.round_size:
            return min(self.round_size, self.budget)
        if self.method == BudgetPlan.LARA:
            return max(1, -(-self.budget // DEFAULT_LARA_ROUNDS))
        return self.budget


@dataclass(frozen=True)
class RoundPick:
    """The pairs a round asks people for, in the order they are shown."""

    pairs: list[tuple[str, str]]
    size: int
    selection: str
    n_labels: int


def _check(spec: BudgetSpec, *, collection: Collection, assessor: Assessor,
           universe: budget_selectors.PairUniverse) -> None:
    if spec.method not in METHODS:
        raise BudgetRefused(f"unknown selection {spec.method!r}: one of {', '.join(METHODS)}")
    if spec.unit not in UNITS:
        raise BudgetRefused(f"unknown unit {spec.unit!r}: one of {', '.join(UNITS)}")
    if spec.first_round not in FIRST_ROUNDS:
        raise BudgetRefused(f"unknown first round {spec.first_round!r}: one of {', '.join(FIRST_ROUNDS)}")
    if spec.budget < 1:
        raise BudgetRefused("--budget must be at least 1")
    if spec.round_size is not None and spec.round_size < 1:
        raise BudgetRefused("--round-size must be at least 1")
    plural = "queries" if spec.unit == BudgetPlan.QUERY else "pairs"
    if universe.n_items == 0:
        raise BudgetRefused(f"{assessor.name} has no valid judgment in {collection.name}: nothing to select from")
    if spec.budget > universe.n_items:
        raise BudgetRefused(
            f"--budget {spec.budget} is more than the {universe.n_items} {plural} {assessor.name} judged "
            f"in {collection.name}"
        )
    wants_uncertainty = spec.method == BudgetPlan.UNCERTAINTY or (
        spec.method == BudgetPlan.LARA and spec.first_round == BudgetPlan.UNCERTAINTY
    )
    if wants_uncertainty and not has_grade_probabilities(collection=collection, assessor=assessor):
        raise BudgetRefused(
            f"{assessor.name} has no grade probabilities in {collection.name}: uncertainty needs them "
            "(judge with logprobs or --samples, import_qrels --probabilities, or an ensemble assessor); "
            "use --select random or lara"
        )


def _pick_round(
    *,
    universe: budget_selectors.PairUniverse,
    method: str,
    first_round: str,
    taken: set[tuple[str, str]],
    labels: dict[tuple[str, str], int],
    take: int,
    rng: np.random.Generator,
) -> RoundPick:
    """The next ``take`` items (pairs or queries) not yet in the campaign."""
    pp = universe.pairs
    chosen = np.zeros(universe.n_items, dtype=bool)
    for key in taken:
        if key in universe.index:
            chosen[universe.items_of_pair[universe.index[key]]] = True
    model = None
    labeled = [universe.index[key] for key in labels if key in universe.index]
    # people grade 0-3 even where the LLM is binary: the calibration maps onto their scale
    n_grades = max([universe.n_grades, *[g + 1 for g in labels.values()]])
    if method == BudgetPlan.LARA and labeled:
        rows = np.array(labeled, dtype=np.int64)
        grades = np.array([labels[(str(pp.qids[i]), str(pp.docids[i]))] for i in rows], dtype=np.int64)
        model = calibrator_fit(pp.probabilities[rows], grades, n_grades=n_grades)
    take = min(take, int((~chosen).sum()))
    items = pick(
        method, take=take, rng=rng, probabilities=pp.probabilities, items_of_pair=universe.items_of_pair,
        n_items=universe.n_items, among=~chosen, model=model, n_grades=n_grades, first=first_round,
    )
    rank = {int(item): n for n, item in enumerate(items.tolist())}
    in_round = [i for i in range(len(pp.qids)) if int(universe.items_of_pair[i]) in rank]
    in_round.sort(key=lambda i: (rank[int(universe.items_of_pair[i])], i))
    selection = method
    if method == BudgetPlan.LARA:
        selection = "calibrated" if model is not None else first_round
    return RoundPick(
        pairs=[(str(pp.qids[i]), str(pp.docids[i])) for i in in_round], size=len(rank), selection=selection,
        n_labels=len(labeled) if model is not None else 0,
    )


def budget_first_round(*, collection: Collection, assessor: Assessor | None, spec: BudgetSpec) -> RoundPick:
    """Check the budget against what ``assessor`` judged and pick the first round."""
    if assessor is None:
        raise BudgetRefused("a budget campaign needs --from-assessor (the LLM whose pairs people judge)")
    universe = budget_selectors.pair_universe(collection=collection, assessor=assessor, unit=spec.unit)
    _check(spec, collection=collection, assessor=assessor, universe=universe)
    return _pick_round(
        universe=universe, method=spec.method, first_round=spec.first_round, taken=set(), labels={},
        take=spec.resolved_round_size(), rng=np.random.default_rng([spec.seed, 1]),
    )


def budget_plan_create(*, campaign: Campaign, spec: BudgetSpec, first: RoundPick, items: Sequence[Item]) -> BudgetPlan:
    """Record the plan and its first round (inside the transaction that made the items)."""
    plan = BudgetPlan.objects.create(
        campaign=campaign, budget=spec.budget, method=spec.method, unit=spec.unit,
        round_size=spec.resolved_round_size(), first_round=spec.first_round, seed=spec.seed,
    )
    budget_round = BudgetRound.objects.create(
        plan=plan, number=1, selection=first.selection, size=first.size, n_labels=first.n_labels
    )
    budget_round.items.set(items)
    return plan


def budget_round_add(*, campaign_id: int, force: bool = False) -> BudgetRound | None:
    """Add the next round when the last one is complete (or at once with ``force``),
    until the budget is spent; None when there is nothing to add.

    Idempotent and safe to call concurrently: the plan's row is locked, and a round is
    only added after a complete one (two submits that finish the same round add one).
    lara fits its calibration on every human grade of the campaign so far.
    """
    with transaction.atomic():
        plan = (
            BudgetPlan.objects.select_for_update(of=("self",))
            .select_related("campaign__collection", "campaign__reference_assessor")
            .filter(campaign_id=campaign_id).first()
        )
        if plan is None:
            return None
        campaign = plan.campaign
        rounds = list(plan.rounds.order_by("number"))
        spent = sum(r.size for r in rounds)
        if spent >= plan.budget or not campaign.is_open or campaign.reference_assessor is None:
            return None
        if not force and rounds and not budget_selectors.round_is_complete(budget_round=rounds[-1]):
            return None
        universe = budget_selectors.pair_universe(
            collection=campaign.collection, assessor=campaign.reference_assessor, unit=plan.unit
        )
        taken = set(budget_selectors.budget_pairs(plan=plan))
        number = (rounds[-1].number if rounds else 0) + 1
        chosen = _pick_round(
            universe=universe, method=plan.method, first_round=plan.first_round, taken=taken,
            labels=budget_selectors.human_grades(campaign=campaign), take=min(plan.round_size, plan.budget - spent),
            rng=np.random.default_rng([plan.seed, number]),
        )
        if not chosen.pairs:
            return None
        targets = selectors.resolve_pairs(collection=campaign.collection, pairs=chosen.pairs)
        start = (Item.objects.filter(campaign=campaign).aggregate(last=Max("position"))["last"] or 0) + 1
        items = Item.objects.bulk_create([
            Item(campaign=campaign, query=q, passage=p, overlap=campaign.overlap, position=start + n)
            for n, (q, p) in enumerate(targets)
        ])
        budget_round = BudgetRound.objects.create(
            plan=plan, number=number, selection=chosen.selection, size=chosen.size, n_labels=chosen.n_labels
        )
        budget_round.items.set(items)
    return budget_round


# --- the qrels a budget leaves ---------------------------------------------------------

@dataclass(frozen=True)
class BudgetQrels:
    assessor: Assessor
    n_human: int
    n_calibrated: int
    calibrated: bool


def budget_qrels_write(*, campaign: Campaign, name: str, replace: bool = False) -> BudgetQrels:
    """Write assessor ``name``: the human grade where people judged (see
    ``budget_selectors.HUMAN_GRADE_RULE``) and elsewhere, on every pair the campaign's
    LLM graded, the most likely grade of the logistic calibration (the human grade on
    the LLM's grade probabilities) fitted on all the campaign's human grades; the
    LLM's own grade while those grades hold a single value."""
    plan = budget_selectors.budget_plan_of(campaign=campaign)
    if plan is None:
        raise BudgetRefused(f"campaign {campaign.pk} is not a budget campaign (create_campaign --budget)")
    llm = campaign.reference_assessor
    if llm is None:
        raise BudgetRefused(f"campaign {campaign.pk} has lost its LLM assessor")
    existing = Assessor.objects.filter(name=name).first()
    if existing is not None:
        if not replace:
            raise BudgetRefused(f"an assessor {name!r} exists: choose another --name or give --replace")
        if "budget_qrels" not in (existing.parameters or {}):
            raise BudgetRefused(f"{name!r} is not an assessor budget_qrels wrote: it cannot be replaced")
    universe = budget_selectors.pair_universe(collection=campaign.collection, assessor=llm, unit=BudgetPlan.PAIR)
    human = budget_selectors.human_grades(campaign=campaign)
    if not human:
        raise BudgetRefused(f"campaign {campaign.pk} has no human grade yet")
    pp = universe.pairs
    labeled = np.zeros(len(pp.qids), dtype=bool)
    grades = np.zeros(len(pp.qids), dtype=np.int64)
    for key, grade in human.items():
        if key in universe.index:
            labeled[universe.index[key]] = True
            grades[universe.index[key]] = grade
    n_grades = max(universe.n_grades, int(grades.max()) + 1)  # people grade 0-3 even for a binary LLM
    model = calibrator_fit(pp.probabilities[labeled], grades[labeled], n_grades=n_grades)
    filled = np.where(labeled, grades, calibrated_fill(model, pp.probabilities, pp.grades, n_grades=n_grades))
    query_ids = dict(Query.objects.filter(collection=campaign.collection).values_list("qid", "id"))
    passage_ids = dict(
        Passage.objects.filter(collection=campaign.collection, docid__in=set(pp.docids.tolist()))
        .values_list("docid", "id")
    )
    parameters: dict[str, Any] = {"budget_qrels": {
        "campaign": campaign.pk, "llm": llm.name, "method": plan.method, "unit": plan.unit,
        "human_grade": budget_selectors.HUMAN_GRADE_RULE, "calibrated": model is not None,
    }}
    scale = Assessor.GRADED if n_grades > 2 else llm.scale
    with transaction.atomic():
        if existing is None:
            assessor = Assessor.objects.create(name=name, kind=Assessor.LLM, scale=scale, parameters=parameters)
        else:
            assessor = existing
            assessor.parameters = parameters
            assessor.scale = scale
            assessor.save(update_fields=["parameters", "scale"])
        judgments_write(
            assessor=assessor,
            rows=[JudgmentRow(query_ids[q], passage_ids[d], int(g)) for q, d, g in
                  zip(pp.qids.tolist(), pp.docids.tolist(), filled.tolist())],
            replace=True,
        )
    return BudgetQrels(assessor=assessor, n_human=int(labeled.sum()), n_calibrated=int((~labeled).sum()),
                       calibrated=model is not None)

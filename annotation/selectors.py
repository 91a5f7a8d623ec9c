"""Reads of the annotation app: item selection, the annotation screen, progress, review.

Selectors return data (model instances, dicts, dataclasses); the templates render it.
The screen is built by ``item_screen`` from a ``Lease`` (an assignment with its item,
query, passage and campaign, and the counts the screen shows), read in one query by
``current_lease`` / ``lease_of`` or handed over by the service that took the lease.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    FloatField,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import Abs, Cast, Coalesce, JSONObject, RowNumber

from analysis import corpus_selectors
from analysis.agreement import (
    REASON_COLUMNS,
    anchoring,
    confusion_matrix,
    kappa_from_matrix,
    reason_pair_agreement,
    verdict_agreement,
)
from analysis.models import (
    Assessor,
    BertScore,
    Collection,
    FailureCategory,
    Generation,
    HardnessAnalysis,
    HardnessLabel,
    Judgment,
    Passage,
    Query,
    Reason,
    ReasonProposal,
    RunRow,
)
from annotation.models import GRADE_MEANINGS, Assignment, Campaign, Item, ReasonVerdict
from judges import selectors as judges_selectors

EVIDENCE_ROWS = 10
Membership = Campaign.annotators.through


# --- item selection -----------------------------------------------------------------

def latest_analysis(*, collection: Collection, task: str) -> HardnessAnalysis | None:
    """The most recent finished (or imported) hardness analysis of a task on a collection."""
    return (
        HardnessAnalysis.objects.filter(collection=collection, task=task)
        .filter(Q(status=HardnessAnalysis.DONE) | Q(origin=HardnessAnalysis.IMPORTED))
        .order_by("-created_at", "-pk")
        .first()
    )


def hard_queries(*, analysis: HardnessAnalysis) -> list[Query]:
    """The queries an analysis labelled hard, hardest (lowest measure) first."""
    labels = (
        HardnessLabel.objects.filter(analysis=analysis, hard=True)
        .select_related("query")
        .order_by(F("value").asc(nulls_first=True), "query__qid")
    )
    return [label.query for label in labels]


def resolve_pairs(
    *, collection: Collection, pairs: Iterable[tuple[str, str | None]], allow_no_passage: bool = False
) -> list[tuple[Query, Passage | None]]:
    """Look up (qid, docid) pairs of a collection, in order; unknown ids raise LookupError."""
    pairs = [(str(q), None if d in (None, "") else str(d)) for q, d in pairs]
    if not pairs:
        return []
    queries = {q.qid: q for q in Query.objects.filter(collection=collection, qid__in={q for q, _ in pairs})}
    passages = {
        p.docid: p for p in Passage.objects.filter(collection=collection, docid__in={d for _, d in pairs if d})
    }
    out: list[tuple[Query, Passage | None]] = []
    for qid, docid in pairs:
        if qid not in queries:
            raise LookupError(f"query {qid} is not in collection {collection.name}")
        if docid is None:
            if not allow_no_passage:
                raise LookupError(f"pair for query {qid} names no passage")
            out.append((queries[qid], None))
        elif docid not in passages:
            raise LookupError(f"passage {docid} is not in collection {collection.name}")
        else:
            out.append((queries[qid], passages[docid]))
    return out


def disagreement_pairs(
    *, collection: Collection, assessor: Assessor, limit: int, per_query: int | None = None
) -> list[Judgment]:
    """``limit`` pairs where ``assessor`` and the official qrels disagree, spread across
    the queries: at most ``per_query`` of one query (default ``ceil(limit / queries with
    a disagreement)``), taken round by round (every query's largest disagreement first,
    then its second...), ties within a round broken by the size of the disagreement, then
    by qid and docid so that the selection is reproducible.

    Each returned Judgment (of ``assessor``) carries ``official_grade`` and ``gap``.
    Queries: 2 (the number of queries with a disagreement, the pairs).
    """
    official = Judgment.objects.filter(
        query=OuterRef("query"), passage=OuterRef("passage"), assessor__kind=Assessor.OFFICIAL, grade__isnull=False
    ).values("grade")[:1]
    rows = (
        Judgment.objects.filter(assessor=assessor, query__collection=collection, valid=True, grade__isnull=False)
        .annotate(official_grade=Subquery(official))
        .filter(official_grade__isnull=False)
        .annotate(gap=Abs(F("grade") - F("official_grade")))
        .filter(gap__gt=0)
    )
    if per_query is None:
        queries = rows.order_by().values("query_id").distinct().count()
        if not queries:
            return []
        per_query = math.ceil(limit / queries)
    ranked = (
        rows.annotate(rank_in_query=Window(
            RowNumber(), partition_by=[F("query_id")], order_by=[F("gap").desc(), F("passage__docid").asc()]
        ))
        .filter(rank_in_query__lte=per_query)
        .select_related("query", "passage")
        .order_by("rank_in_query", "-gap", "query__qid", "passage__docid")
    )
    return list(ranked[:limit])


def gold_candidates(
    *, collection: Collection, limit: int, exclude: Iterable[tuple[int, int]] = (), assessor: Assessor | None = None
) -> list[dict[str, Any]]:
    """Pairs with a known answer for gold items: official grade, agreed on by ``assessor``.

    Returned as ``{"qid", "docid", "grade"}`` (the official grade), in a fixed
    pseudo-random order (by primary key hash) so that gold items are not all from the
    first queries; ``exclude`` holds (query id, passage id) pairs already in the campaign.
    """
    rows = Judgment.objects.filter(
        query__collection=collection, assessor__kind=Assessor.OFFICIAL, grade__isnull=False, passage__text__isnull=False
    )
    if assessor is not None:
        agreed = Judgment.objects.filter(
            query=OuterRef("query"), passage=OuterRef("passage"), assessor=assessor, grade=OuterRef("grade")
        )
        rows = rows.filter(Exists(agreed))
    excluded = set(exclude)
    out: list[dict[str, Any]] = []
    for j in rows.select_related("query", "passage").order_by("query__qid", "passage__docid")[: limit * 20 + 100]:
        if (j.query_id, j.passage_id) not in excluded:
            out.append({"qid": j.query.qid, "docid": j.passage.docid, "grade": j.grade})
    random.Random(f"gold-{collection.pk}").shuffle(out)
    return out[:limit]


def cascade_pairs(*, job_id: int) -> list[tuple[str, str]]:
    """The relabeled (qid, docid) pairs of a cascade job of the judges app (its
    decisions that moved or removed a negative), to verify by people."""
    return judges_selectors.relabeled_pairs(job_id=job_id)


def proposed_reasons(*, query_id: Any, task: Any, label: Any) -> QuerySet[Reason]:
    """The reasons every model proposed for a query and task under one pipeline label
    (the campaign's ``reasons_label``: the lists proposed for its analysis's subject).
    Each argument may be an outer reference."""
    return Reason.objects.filter(proposal__query_id=query_id, proposal__task=task, proposal__label=label)


def item_reason_ids(*, item: Item, task: str) -> list[int]:
    """The ids of every reason the item's campaign shows for its query and task."""
    return list(
        proposed_reasons(query_id=item.query_id, task=task, label=item.campaign.reasons_label)
        .values_list("pk", flat=True)
    )


def reasons_labels(*, collection: Collection, task: str) -> list[str]:
    """The pipeline labels of the reason lists of a collection and task, sorted."""
    return sorted(
        ReasonProposal.objects.filter(query__collection=collection, task=task)
        .order_by().values_list("label", flat=True).distinct()
    )


def reasons_labels_for(*, analysis: HardnessAnalysis) -> list[str]:
    """The labels of the lists proposed for an analysis's collection and subject (the
    system of H2R, the generator of H2G, the judge of H2J), those of its quantile first
    when the label names one."""
    rows = (
        ReasonProposal.objects.filter(
            query__collection_id=analysis.collection_id, task=analysis.task, subject=analysis.subject,
            label_collection=analysis.collection.name,
        )
        .order_by().values_list("label", "quantile").distinct()
    )
    found = sorted(set(rows), key=lambda r: (r[1] is None or r[1] != analysis.quantile, r[0]))
    return list(dict.fromkeys(label for label, _ in found))


# --- progress -----------------------------------------------------------------------

# How many annotators a campaign has changes only when staff change its annotators; the
# progress bar reads it on every screen, so it is cached like the taxonomy (cleared by
# annotation.apps when the membership changes, read again after ANNOTATORS_SECONDS).
ANNOTATORS_SECONDS = 300


def _annotators_key(campaign_id: int) -> str:
    return f"annotation:annotators:{campaign_id}"


def annotator_count(*, campaign_id: int) -> int:
    """The number of annotators of a campaign (cached)."""
    n = cache.get(_annotators_key(campaign_id))
    if n is None:
        n = Membership.objects.filter(campaign_id=campaign_id).count()
        cache.set(_annotators_key(campaign_id), n, ANNOTATORS_SECONDS)
    return n


def annotator_count_forget(*, campaign_ids: Iterable[int]) -> None:
    cache.delete_many([_annotators_key(pk) for pk in campaign_ids])


def _progress_aggregates(user_id: int | None) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "progress_items": Count("pk"),
        "progress_slots": Coalesce(Sum("overlap"), 0),
        "progress_completed": Coalesce(Sum("completed_count"), 0),
    }
    if user_id is not None:
        counts.update(
            progress_done=Count("mine", filter=Q(mine__status=Assignment.DONE)),
            progress_skipped=Count("mine", filter=Q(mine__status=Assignment.SKIPPED)),
        )
    return counts


def _items_with_mine(campaign_id: Any, user_id: int) -> QuerySet[Item]:
    """The campaign's items, each with the user's own assignment of it (at most one:
    (item, user) is unique, so the join never repeats an item)."""
    return Item.objects.filter(campaign_id=campaign_id).annotate(
        mine=FilteredRelation("assignments", condition=Q(assignments__user_id=user_id)))


def progress_counts(*, campaign_id: int, user_id: int | None = None) -> dict[str, Any]:
    """The progress bar's counts in one aggregate query over the campaign's items.

    With ``user_id`` each item carries the user's own assignment of it, for their done
    and skipped counts; the number of annotators comes from ``annotator_count``.
    """
    if user_id is None:
        return Item.objects.filter(campaign_id=campaign_id).aggregate(**_progress_aggregates(None))
    found: dict[str, Any] = _items_with_mine(campaign_id, user_id).aggregate(**_progress_aggregates(user_id))
    found["progress_annotators"] = annotator_count(campaign_id=campaign_id)
    return found


def progress_subquery(*, campaign_id: Any, user_id: int) -> Subquery:
    """The counts of ``progress_counts`` (but the number of annotators) as one JSON
    object, a scalar subquery for a statement that reads other things (the submit's
    lock); ``campaign_id`` may be an outer reference."""
    counted = (
        _items_with_mine(campaign_id, user_id).values("campaign_id")
        .annotate(counts=JSONObject(**_progress_aggregates(user_id))).values("counts").order_by()
    )
    return Subquery(counted, output_field=JSONField())


def live_leases(*, item_id: int, user_id: int, now: datetime) -> int:
    """How many live leases other people hold on an item."""
    return (
        Assignment.objects.filter(item_id=item_id, status=Assignment.LEASED, expires_at__gt=now)
        .exclude(user_id=user_id).count()
    )


def progress_from(counts: Mapping[str, Any]) -> dict[str, Any]:
    """The progress bar's figures from the counts of ``progress_counts``.

    ``assigned`` is the user's share: the campaign's slots (sum of every item's k) split
    evenly over the annotators, at most one per item.
    """
    items_n, slots, completed = counts["progress_items"], counts["progress_slots"], counts["progress_completed"]
    out: dict[str, Any] = {
        "items": items_n,
        "slots": slots,
        "completed": completed,
        "percent": round(100 * completed / slots) if slots else 0,
    }
    if "progress_done" in counts:
        n_annotators, done = counts["progress_annotators"], counts["progress_done"]
        assigned = min(items_n, math.ceil(slots / n_annotators)) if n_annotators else 0
        out.update(
            done=done,
            skipped=counts["progress_skipped"],
            assigned=assigned,
            my_percent=min(100, round(100 * done / assigned)) if assigned else 100,
        )
    return out


def campaign_progress(*, campaign: Campaign, user: AbstractBaseUser | None = None) -> dict[str, Any]:
    """Campaign-wide and (with ``user``) personal progress, in one query."""
    return progress_from(progress_counts(campaign_id=campaign.pk, user_id=None if user is None else user.pk))


def campaigns_for_user(*, user: AbstractBaseUser) -> list[dict[str, Any]]:
    """The campaigns the user annotates (staff: every campaign) with progress; three queries."""
    qs: QuerySet[Campaign] = Campaign.objects.select_related("collection")
    if not user.is_staff:
        qs = qs.filter(annotators=user)
    qs = qs.annotate(
        n_items=Count("items", distinct=True),
        n_slots=Sum("items__overlap"),
        n_completed=Sum("items__completed_count"),
        is_member=Exists(Membership.objects.filter(campaign_id=OuterRef("pk"), user_id=user.pk)),
    )
    campaigns = list(qs)
    mine = dict(
        Assignment.objects.filter(user=user, status=Assignment.DONE, item__campaign__in=campaigns)
        .values("item__campaign")
        .annotate(n=Count("pk"))
        .values_list("item__campaign", "n")
    )
    n_annotators = dict(
        Membership.objects.filter(campaign__in=campaigns)
        .values("campaign")
        .annotate(n=Count("pk"))
        .values_list("campaign", "n")
    )
    out = []
    for c in campaigns:
        slots = c.n_slots or 0
        k = n_annotators.get(c.pk, 0)
        out.append(
            {
                "campaign": c,
                "is_member": c.is_member,
                "done": mine.get(c.pk, 0),
                "assigned": min(c.n_items, math.ceil(slots / k)) if k else 0,
                "completed": c.n_completed or 0,
                "slots": slots,
                "percent": round(100 * (c.n_completed or 0) / slots) if slots else 0,
            }
        )
    return out


@dataclass(frozen=True)
class CampaignAccess:
    """A campaign and whether the user annotates it."""

    campaign: Campaign
    is_member: bool


def campaign_access(*, pk: int, user: AbstractBaseUser) -> CampaignAccess | None:
    """The campaign (with its collection and analysis) and the user's membership, in one
    query; None when there is no such campaign."""
    member = Membership.objects.filter(campaign_id=OuterRef("pk"), user_id=user.pk)
    campaign = (
        Campaign.objects.select_related("collection", "analysis").annotate(is_member=Exists(member))
        .filter(pk=pk).first()
    )
    if campaign is None:
        return None
    return CampaignAccess(campaign=campaign, is_member=campaign.is_member)


def campaign_visible(*, campaign: Campaign, user: AbstractBaseUser) -> bool:
    return bool(user.is_staff or campaign.annotators.filter(pk=user.pk).exists())


# --- leases and the annotation screen -----------------------------------------------

@dataclass(frozen=True)
class Lease:
    """An assignment with what its screen reads besides the reasons and the evidence:
    ``assignment.item`` with its query, passage and campaign (and the campaign's
    analysis) loaded, the progress bar's figures, and the query's measure in the
    campaign's analysis (reasons campaigns)."""

    assignment: Assignment
    progress: dict[str, Any]
    hardness_value: float | None = None


# Columns of the campaign's analysis that no screen, lease or submit reads (its run's
# status and bookkeeping): the hot queries that select the analysis with the campaign
# leave them out (``defer``), which saves compiling and loading them on every request.
SCREEN_ANALYSIS_DEFERRED = tuple(
    f"item__campaign__analysis__{name}"
    for name in ("variant", "origin", "status", "progress_done", "progress_total", "error", "created_at", "finished_at")
)


def _with_hardness_value(rows: QuerySet[Any], *, campaign: Campaign, query: str) -> QuerySet[Any]:
    """``rows`` with ``hardness_value``: the measure of their query (``query`` is the path
    to it) in the campaign's analysis, a join on the one label of that query (reasons
    campaigns only; the others show no measure)."""
    if campaign.kind != Campaign.REASONS or campaign.analysis_id is None:
        return rows
    label = FilteredRelation(f"{query}__hardness_labels",
                             condition=Q(**{f"{query}__hardness_labels__analysis_id": campaign.analysis_id}))
    return rows.annotate(screen_label=label, hardness_value=F("screen_label__value"))


def _lease(assignment: Assignment, campaign: Campaign, user_id: int) -> Lease:
    assignment.item.campaign = campaign  # the caller's instance, with its analysis
    counts = progress_counts(campaign_id=campaign.pk, user_id=user_id)
    return Lease(assignment=assignment, progress=progress_from(counts),
                 hardness_value=getattr(assignment, "hardness_value", None))


def _screen_assignments(*, campaign: Campaign) -> QuerySet[Assignment]:
    """Assignments of the campaign with their item, query and passage (and the query's measure)."""
    rows = Assignment.objects.filter(item__campaign=campaign).select_related("item__query", "item__passage")
    return _with_hardness_value(rows, campaign=campaign, query="item__query")


def current_lease(*, campaign: Campaign, user: AbstractBaseUser, now: datetime) -> Lease | None:
    """The user's latest live lease in the campaign (after an undo, the item taken back)
    with what the screen reads; two queries (the lease, the progress), nothing written."""
    found = (
        _screen_assignments(campaign=campaign)
        .filter(user=user, status=Assignment.LEASED, expires_at__gt=now)
        .order_by("-leased_at", "-pk").first()
    )
    return None if found is None else _lease(found, campaign, user.pk)


def open_lease(*, campaign_id: int, user: AbstractBaseUser, now: datetime) -> Lease | None:
    """The user's latest live lease in an open campaign they annotate, read with the
    campaign (and its analysis) itself: one query, and one for the progress. None when
    there is none; the page then reads the campaign on its own (``campaign_access``)."""
    label = FilteredRelation("item__query__hardness_labels", condition=Q(
        item__query__hardness_labels__analysis_id=F("item__campaign__analysis_id")))
    found = (
        Assignment.objects.filter(item__campaign_id=campaign_id, item__campaign__status=Campaign.OPEN,
                                  item__campaign__annotators=user, user=user, status=Assignment.LEASED,
                                  expires_at__gt=now)
        .select_related("item__campaign__analysis", "item__query", "item__passage")
        .defer(*SCREEN_ANALYSIS_DEFERRED)
        .annotate(screen_label=label, hardness_value=F("screen_label__value"))
        .order_by("-leased_at", "-pk").first()
    )
    if found is None:
        return None
    campaign = found.item.campaign
    counts = progress_counts(campaign_id=campaign.pk, user_id=user.pk)
    value = found.hardness_value if campaign.kind == Campaign.REASONS else None
    return Lease(assignment=found, progress=progress_from(counts), hardness_value=value)


def lease_of(*, assignment_id: int, campaign: Campaign) -> Lease:
    """An assignment of the campaign (any status) with what its screen reads; two queries."""
    found = _screen_assignments(campaign=campaign).get(pk=assignment_id)
    return _lease(found, campaign, found.user_id)


def free_items(*, campaign: Campaign, user: AbstractBaseUser, now: datetime) -> QuerySet[Item]:
    """The campaign's items the user may lease next, in lease order, each with its query,
    passage and measure, and what the user's own assignment of it holds (at most an
    expired lease of theirs, whose time spent, comment, confidence and draft are kept:
    ``own_pk``, ``own_seconds_spent``, ``own_comment``, ``own_confidence``, ``own_draft``).

    Free: fewer than k completed annotations (the partial index on open items walks
    these in order), the user is one of the campaign's annotators and has neither done
    nor skipped the item, and other people's live leases leave room. Counted in the
    query's snapshot: the service locks the item and checks its ``lease_count`` (the
    locked row's latest version) before taking it.
    """
    live = (
        Assignment.objects.filter(item=OuterRef("pk"), status=Assignment.LEASED, expires_at__gt=now)
        .order_by().values("item_id").annotate(n=Count("pk")).values("n")
    )
    # Done or skipped by the user: an anti-join PostgreSQL checks item by item while it
    # walks the open-items index in lease order (a join here let it read every item of
    # a 10,000-item campaign first).
    finished = Assignment.objects.filter(item=OuterRef("pk"), user=user, status__in=[Assignment.DONE, Assignment.SKIPPED])
    rows = (
        Item.objects.filter(campaign=campaign, campaign__annotators=user, completed_count__lt=F("overlap"))
        .filter(~Exists(finished))
        .annotate(mine=FilteredRelation("assignments", condition=Q(assignments__user=user)))
        .alias(live_leases=Coalesce(Subquery(live, output_field=IntegerField()), 0))
        .filter(live_leases__lt=F("overlap") - F("completed_count"))
        .annotate(own_pk=F("mine__pk"), own_seconds_spent=F("mine__seconds_spent"), own_comment=F("mine__comment"),
                  own_confidence=F("mine__confidence"), own_draft=F("mine__draft"))
        .select_related("query", "passage")
        .order_by("position", "pk")
    )
    return _with_hardness_value(rows, campaign=campaign, query="query")


def lease_of_free_item(*, item: Item, assignment: Assignment, campaign: Campaign, counts: Mapping[str, Any]) -> Lease:
    """The Lease of a new assignment on an item read by ``free_items``, with the
    ``progress_counts`` the service read after locking it."""
    item.campaign = campaign
    assignment.item = item
    return Lease(assignment=assignment, progress=progress_from(counts),
                 hardness_value=getattr(item, "hardness_value", None))


@dataclass
class Screen:
    """Everything the item template shows, as plain data."""

    assignment: Assignment
    campaign: Campaign
    item: Item
    query: Query
    passage: Passage | None
    blind: bool
    show_grades: bool
    progress: dict[str, Any]
    grade_meanings: dict[int, str]
    draft: dict[str, Any] = field(default_factory=dict)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, str]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    known_grades: list[dict[str, Any]] = field(default_factory=list)
    # anchoring campaigns: the LLM's grade of the pair, None on control items
    llm_grade: int | None = None


def item_screen(*, lease: Lease, reveal: bool = False) -> Screen:
    """The annotation screen of a lease.

    In a blind campaign nothing here holds an official or LLM grade, nor the name of the
    model that proposed a reason, unless ``reveal`` (after commit, when the campaign
    allows it). Queries: reasons 3 (categories, reasons, evidence; H2G 2 for the
    evidence), relevance 1 for the known grades (none when blind).
    """
    assignment = lease.assignment
    item = assignment.item
    campaign = item.campaign
    blind = campaign.blind and not reveal
    screen = Screen(
        assignment=assignment, campaign=campaign, item=item, query=item.query, passage=item.passage,
        blind=blind, show_grades=not blind, progress=lease.progress, grade_meanings=grade_meanings(campaign),
        draft=assignment.draft or {},
    )
    if campaign.kind == Campaign.REASONS:
        screen.categories = failure_categories()
        screen.reasons = _reasons(item=item, campaign=campaign, assignment=assignment, blind=blind)
        screen.evidence = _evidence(item=item, campaign=campaign, show_grades=not blind, value=lease.hardness_value)
    elif campaign.show_llm_grade:
        # An anchoring control: the campaign is blind but for the LLM's grade, shown on
        # every item except the control items (which hold no LLM grade anywhere).
        if not item.is_control:
            screen.llm_grade = _llm_grade(item=item, campaign=campaign)
    elif not blind:
        screen.known_grades = _known_grades(item=item, campaign=campaign)
    return screen


def grade_meanings(campaign: Campaign) -> dict[int, str]:
    """What grades 0-3 mean on this campaign's screen: its own wording where it has one,
    the TREC Deep Learning scale otherwise."""
    own = campaign.grade_meanings or {}
    return {g: own.get(str(g), meaning) for g, meaning in GRADE_MEANINGS.items()}


# The taxonomy is read by every reasons screen and changes only when staff edit it in
# the admin: it is kept in the cache (Redis when CACHE_URL names one, else each
# process's memory), cleared when a category is saved or deleted and after a migrate
# or flush (annotation.apps), and read again at the latest after CATEGORIES_SECONDS.
CATEGORIES_KEY = "annotation:failure-categories"
CATEGORIES_SECONDS = 300


def failure_categories() -> list[dict[str, str]]:
    """The failure taxonomy in its order, ids as strings (as the form posts them back)."""
    categories = cache.get(CATEGORIES_KEY)
    if categories is None:
        categories = [{"id": str(pk), "name": name}
                      for pk, name in FailureCategory.objects.order_by("position", "name").values_list("pk", "name")]
        cache.set(CATEGORIES_KEY, categories, CATEGORIES_SECONDS)
    return categories


def failure_categories_forget(**_: Any) -> None:
    """Drop the cached taxonomy (a signal receiver: takes any arguments)."""
    cache.delete(CATEGORIES_KEY)


def _reasons(*, item: Item, campaign: Campaign, assignment: Assignment, blind: bool) -> list[dict[str, Any]]:
    """The reasons of every model for the query and task, one list.

    Blind: merged and shuffled with a seed of the assignment, so each annotator sees
    their own order and no model gets the top of the list, and the model is not named.
    """
    reasons = list(
        proposed_reasons(query_id=item.query_id, task=campaign.task, label=campaign.reasons_label)
        .order_by("proposal__assessor__name", "proposal__label", "position", "pk")
        .values_list("pk", "text", "category_id", "proposal__assessor__name", "proposal__label")
    )
    if blind:
        random.Random(f"hardq-{assignment.pk}").shuffle(reasons)
    draft = assignment.draft or {}
    return [
        {
            "n": n,
            "id": rid,
            "text": text,
            "model": None if blind else model,
            # The pipeline label names the list's collection, subject and settings, never
            # the model: shown in blind campaigns too.
            "label": label,
            "suggested_category": category_id,
            "verdict": draft.get(f"verdict_{rid}", ""),
            "category": str(draft.get(f"category_{rid}", category_id or "")),
        }
        for n, (rid, text, category_id, model, label) in enumerate(reasons, start=1)
    ]


def _official_grade(*, query_id: Any, passage_id: Any) -> Subquery:
    official = Judgment.objects.filter(
        query_id=query_id, passage_id=passage_id, assessor__kind=Assessor.OFFICIAL, grade__isnull=False
    )
    return Subquery(official.values("grade")[:1], output_field=IntegerField())


def _evidence(*, item: Item, campaign: Campaign, show_grades: bool, value: float | None) -> dict[str, Any]:
    analysis = campaign.analysis
    if analysis is None:
        return {"kind": "none"}
    subject = analysis.subject
    if campaign.task == "h2r":
        # The run's top ranks with the passages; blind: the official grades are not even read.
        rows = RunRow.objects.filter(
            run__collection_id=campaign.collection_id, run__system__name=subject, query_id=item.query_id
        ).order_by("rank", "pk")
        columns = ["rank"]
        if show_grades:
            rows = rows.annotate(grade=_official_grade(query_id=OuterRef("query_id"), passage_id=OuterRef("passage_id")))
            columns.append("grade")
        return {
            "kind": "h2r",
            "system": subject,
            "rows": list(rows.values(*columns, docid=F("passage__docid"), text=F("passage__text"))[:EVIDENCE_ROWS]),
            "measure": analysis.measure or "ndcg_cut_10",
            "value": value,
            "threshold": analysis.threshold,
        }
    if campaign.task == "h2g":
        setting = (analysis.parameters or {}).get("setting", Generation.ZERO_SHOT)
        generation = Generation.objects.filter(
            query_id=item.query_id, generator__name=subject, setting=setting
        ).values_list("text", flat=True).first()
        scores = (
            BertScore.objects.filter(query_id=item.query_id, generator__name=subject, setting=setting)
            .order_by("-f1", "position")
            .values("f1", "precision", "recall", docid=F("passage__docid"), text=F("passage__text"))
        )
        return {
            "kind": "h2g",
            "generator": subject if show_grades else None,
            "generated": generation,
            "rows": list(scores[:EVIDENCE_ROWS]),
            "threshold": analysis.threshold,
        }
    # H2J: the pairs where the judge and the official grades differ most.
    judged = (
        Judgment.objects.filter(query_id=item.query_id, grade__isnull=False)
        .filter(Q(assessor__name=subject) | Q(assessor__kind=Assessor.OFFICIAL))
        .values_list("passage_id", "grade", "assessor__name", "assessor__kind", "passage__docid", "passage__text")
    )
    llm: dict[int, tuple[int, str, str]] = {}
    official: dict[int, int] = {}
    for passage_id, grade, name, kind, docid, text in judged:
        if name == subject:
            llm[passage_id] = (grade, docid, text)
        if kind == Assessor.OFFICIAL:
            official[passage_id] = grade
    pairs = sorted(
        ((abs(grade - official[pid]), docid, text, grade, official[pid])
         for pid, (grade, docid, text) in llm.items() if pid in official),
        key=lambda t: (-t[0], t[1]),
    )
    return {
        "kind": "h2j",
        "judge": subject if show_grades else None,
        "rows": [
            {
                "docid": docid,
                "text": text,
                "llm_grade": grade if show_grades else None,
                "official_grade": off if show_grades else None,
            }
            for _, docid, text, grade, off in pairs[:EVIDENCE_ROWS]
        ],
    }


def _llm_grade(*, item: Item, campaign: Campaign) -> int | None:
    """The reference LLM's grade of the item's pair (one query)."""
    return (
        Judgment.objects.filter(query_id=item.query_id, passage_id=item.passage_id,
                                assessor_id=campaign.reference_assessor_id)
        .values_list("grade", flat=True).first()
    )


def _known_grades(*, item: Item, campaign: Campaign) -> list[dict[str, Any]]:
    """Official and reference-LLM grades of a pair (only shown when not blind)."""
    rows = (
        Judgment.objects.filter(query_id=item.query_id, passage_id=item.passage_id)
        .filter(Q(assessor__kind=Assessor.OFFICIAL) | Q(assessor_id=campaign.reference_assessor_id))
        .order_by("-assessor__kind", "assessor__name")
        .values_list("assessor__name", "assessor__kind", "grade")
    )
    return [{"assessor": name, "kind": kind, "grade": grade} for name, kind, grade in rows]


# --- labels and review --------------------------------------------------------------

def visible_assignments(*, campaign: Campaign, user: AbstractBaseUser) -> QuerySet[Assignment]:
    """Done assignments the user may read: their own, everyone's once closed or for staff."""
    qs = Assignment.objects.filter(item__campaign=campaign, status=Assignment.DONE).select_related(
        "user", "item__query", "item__passage"
    )
    if not (user.is_staff or campaign.status == Campaign.CLOSED):
        qs = qs.filter(user=user)
    return qs.order_by("item__position", "user__username")


def reason_verdicts(*, campaign: Campaign, user: AbstractBaseUser) -> dict[str, Any]:
    """The verdicts of a reasons campaign per reason, as the labels and review pages show
    them: every annotator's verdict and category (those the user may read: their own
    while the campaign is open, everyone's for staff or once closed), the agreement on
    the reason (share of annotator pairs with the same verdict), the adjudicated verdict,
    whether the list is carried over; and the agreement per LLM category
    (Krippendorff's alpha and Fleiss' kappa through ``analysis.agreement``).
    Queries: 3 (verdicts, the campaign's lists, the repeated lists)."""
    if campaign.kind != Campaign.REASONS:
        return {"rows": [], "annotators": [], "categories": []}
    verdicts = ReasonVerdict.objects.filter(assignment__item__campaign=campaign, assignment__status=Assignment.DONE)
    if not (user.is_staff or campaign.status == Campaign.CLOSED):
        verdicts = verdicts.filter(assignment__user=user)
    records = list(verdicts.values_list(
        "assignment__item_id", "reason_id", "assignment__user__username", "verdict", "category__name",
        "reason__category__name", "reason__proposal__assessor__name",
    ))
    annotators = sorted({r[2] for r in records})
    by_reason: dict[tuple[int, int], dict[str, tuple[str, str | None]]] = defaultdict(dict)
    for item_id, rid, username, verdict, category, _, _ in records:
        by_reason[(item_id, rid)][username] = (verdict, category)
    frame = pd.DataFrame(
        [(rid, campaign.task, model, llm_category, username, verdict, category)
         for _, rid, username, verdict, category, llm_category, model in records],
        columns=list(REASON_COLUMNS),
    )
    per_reason = reason_pair_agreement(frame) if len(frame) else pd.Series(dtype=float)
    carried = carried_over_lists(campaign=campaign)
    rows = []
    items = (
        Item.objects.filter(campaign=campaign).select_related("query")
        .order_by("position", "pk")
    )
    reasons = list(
        Reason.objects.filter(proposal__query__in=items.values("query"), proposal__task=campaign.task,
                              proposal__label=campaign.reasons_label)
        .order_by("proposal__assessor__name", "position", "pk")
        .values_list("pk", "text", "proposal__query_id", "proposal__label", "category__name")
    )
    for item in items:
        for rid, text, query_id, label, llm_category in reasons:
            if query_id != item.query_id:
                continue
            given = by_reason.get((item.pk, rid), {})
            value = per_reason.get(rid)
            rows.append({
                "item": item, "reason_id": rid, "text": text, "label": label, "llm_category": llm_category,
                "verdicts": [{"annotator": a, "verdict": given[a][0] if a in given else None,
                              "category": given[a][1] if a in given else None} for a in annotators],
                "agreement": None if value is None or pd.isna(value) else float(value),
                "final": item.final_verdicts.get(str(rid), ""),
                "carried_over": carried.get(item.query.qid, []),
            })
    categories = []
    if len(frame):
        for name, group in frame.fillna({"category_llm": "(none)"}).groupby("category_llm"):
            stats = verdict_agreement(group)
            categories.append({"category": name, "reasons": stats["reasons"], "alpha": stats["alpha_nominal"],
                               "alpha_note": stats["alpha_nominal_note"], "kappa": stats["fleiss_kappa"],
                               "agreement": float(reason_pair_agreement(group).dropna().mean())
                               if group["reason_id"].duplicated().any() else None})
    return {"rows": rows, "annotators": annotators, "categories": categories}


def campaign_anchoring(*, campaign: Campaign, n_boot: int = 1000, seed: int = 0) -> dict[str, Any] | None:
    """The anchoring control of a campaign that shows the LLM's grade: agreement of the
    human grades with the LLM and the official qrels, on shown and on control items, and
    the gap (``analysis.agreement.anchoring``); None for other campaigns. Gold items are
    left out. One query."""
    if not campaign.show_llm_grade:
        return None
    pair = {"query_id": OuterRef("item__query_id"), "passage_id": OuterRef("item__passage_id")}
    llm = Judgment.objects.filter(assessor_id=campaign.reference_assessor_id, grade__isnull=False, **pair)
    official = Judgment.objects.filter(assessor__kind=Assessor.OFFICIAL, grade__isnull=False, **pair)
    rows = list(
        Assignment.objects.filter(item__campaign=campaign, status=Assignment.DONE, grade__isnull=False,
                                  item__is_gold=False)
        .annotate(llm_grade=Subquery(llm.values("grade")[:1]), official_grade=Subquery(official.values("grade")[:1]))
        .filter(llm_grade__isnull=False)
        .values_list("grade", "llm_grade", "official_grade", "item_id", "item__is_control")
    )
    data = np.array([(g, l_, -1 if o is None else o, i, not c) for g, l_, o, i, c in rows], dtype=np.int64).reshape(-1, 5)
    return anchoring(human=data[:, 0], llm=data[:, 1], reference=data[:, 2], items=data[:, 3],
                     shown=data[:, 4].astype(bool), n_boot=n_boot, seed=seed)


def collection_anchoring(*, collection: Collection) -> list[dict[str, Any]]:
    """The anchoring control of every campaign of the collection that has one."""
    return [
        {"campaign": c.pk, "name": c.name, "assessor": c.reference_assessor.name if c.reference_assessor else None,
         "anchoring": campaign_anchoring(campaign=c)}
        for c in Campaign.objects.filter(collection=collection, show_llm_grade=True)
        .select_related("reference_assessor").order_by("pk")
    ]


def _labels_by_annotator(*, campaign: Campaign) -> tuple[dict[str, dict[Any, Any]], list[Assignment]]:
    """Each annotator's labels keyed by unit: item (relevance) or (item, reason)."""
    done = list(
        Assignment.objects.filter(item__campaign=campaign, status=Assignment.DONE)
        .select_related("user", "item__query", "item__passage")
        .order_by("item__position")
    )
    labels: dict[str, dict[Any, Any]] = defaultdict(dict)
    if campaign.kind == Campaign.REASONS:
        for v in ReasonVerdict.objects.filter(assignment__in=done).select_related("assignment__user"):
            labels[v.assignment.user.username][(v.assignment.item_id, v.reason_id)] = v.verdict
    else:
        for a in done:
            labels[a.user.username][a.item_id] = a.grade
    return labels, done


def _cohen_kappa(x: list[Any], y: list[Any]) -> float | None:
    """Cohen's kappa of two annotators' labels on the same units (grades or verdicts),
    with the project's one definition (``analysis.agreement``); None when a single label
    was used, where kappa is undefined."""
    labels = sorted(set(x) | set(y), key=str)
    if len(labels) < 2:
        return None
    code = {label: n for n, label in enumerate(labels)}
    matrix = confusion_matrix(np.array([code[v] for v in x]), np.array([code[v] for v in y]),
                              labels=range(len(labels)))
    return kappa_from_matrix(matrix)


def campaign_review(*, campaign: Campaign) -> dict[str, Any]:
    """Per-annotator progress, gold accuracy and agreement; items with disagreement."""
    labels, done = _labels_by_annotator(campaign=campaign)
    items = {i.pk: i for i in Item.objects.filter(campaign=campaign).select_related("query", "passage")}
    annotators = list(campaign.annotators.order_by("username"))
    stats = {
        row["user__username"]: row
        for row in Assignment.objects.filter(item__campaign=campaign)
        .values("user__username")
        .annotate(
            done=Count("pk", filter=Q(status=Assignment.DONE)),
            skipped=Count("pk", filter=Q(status=Assignment.SKIPPED)),
            seconds=Sum(Cast("seconds_spent", FloatField()), filter=Q(status=Assignment.DONE)),
        )
    }

    def gold_accuracy(username: str) -> tuple[int, int]:
        right = total = 0
        for key, value in labels.get(username, {}).items():
            item_id, reason_id = key if isinstance(key, tuple) else (key, None)
            item = items.get(item_id)
            if item is None or not item.is_gold:
                continue
            expected = item.gold_grade if reason_id is None else item.gold_verdicts.get(str(reason_id))
            if expected is None:
                continue
            total += 1
            right += int(expected == value)
        return right, total

    pairs = []
    for a, b in combinations(sorted(labels), 2):
        shared = sorted(set(labels[a]) & set(labels[b]), key=str)
        if not shared:
            continue
        x = [labels[a][k] for k in shared]
        y = [labels[b][k] for k in shared]
        agree = sum(p == q for p, q in zip(x, y)) / len(shared)
        kappa = _cohen_kappa(x, y)
        pairs.append({"a": a, "b": b, "n": len(shared), "agreement": agree, "kappa": kappa})

    rows = []
    for user in annotators:
        s = stats.get(user.username, {})
        right, total = gold_accuracy(user.username)
        mine = [p for p in pairs if user.username in (p["a"], p["b"])]
        n = sum(p["n"] for p in mine)
        rows.append(
            {
                "username": user.username,
                "done": s.get("done", 0),
                "skipped": s.get("skipped", 0),
                "mean_seconds": (s.get("seconds") or 0) / s["done"] if s.get("done") else None,
                "gold_right": right,
                "gold_total": total,
                "gold_accuracy": right / total if total else None,
                "agreement": sum(p["agreement"] * p["n"] for p in mine) / n if n else None,
            }
        )

    by_item: dict[int, list[Assignment]] = defaultdict(list)
    for a in done:
        by_item[a.item_id].append(a)
    disagreements = []
    for item_id, assignments in by_item.items():
        if len(assignments) < 2:
            continue
        if campaign.kind == Campaign.REASONS:
            per_reason: dict[int, list[str]] = defaultdict(list)
            for a in assignments:
                for (iid, rid), verdict in labels[a.user.username].items():
                    if iid == item_id:
                        per_reason[rid].append(f"{a.user.username}: {verdict}")
            split = [rid for rid, v in per_reason.items() if len({x.split(": ")[1] for x in v}) > 1]
            if split:
                disagreements.append({"item": items[item_id], "assignments": assignments, "split_reasons": len(split),
                                      "reasons": [(rid, per_reason[rid]) for rid in sorted(split)]})
        elif len({a.grade for a in assignments}) > 1:
            disagreements.append({"item": items[item_id], "assignments": assignments, "split_reasons": None})
    # The texts of the split reasons, in one query, for the adjudication forms.
    texts = dict(
        Reason.objects.filter(pk__in={rid for d in disagreements for rid, _ in d.get("reasons", [])})
        .values_list("pk", "text")
    )
    for d in disagreements:
        d["reasons"] = [
            {"id": rid, "text": texts.get(rid, ""), "verdicts": v, "final": d["item"].final_verdicts.get(str(rid), "")}
            for rid, v in d.get("reasons", [])
        ]
    carried = carried_over_lists(campaign=campaign)
    for d in disagreements:
        d["repeated_with"] = carried.get(d["item"].query.qid, [])
    return {
        "annotators": rows,
        "pairs": pairs,
        "disagreements": disagreements,
        "carried_over": [
            {"item": item, "shared_with": carried[item.query.qid]}
            for item in sorted(items.values(), key=lambda i: i.position) if item.query.qid in carried
        ],
        "progress": campaign_progress(campaign=campaign),
        "anchoring": campaign_anchoring(campaign=campaign),
    }


def carried_over_lists(*, campaign: Campaign) -> dict[str, list[str]]:
    """qid -> the other queries of the collection whose list is the same one, under the
    reasons campaign's label (a list the reference script carried over from another
    query is no reason for this one); empty for other campaigns."""
    if campaign.kind != Campaign.REASONS:
        return {}
    out: dict[str, list[str]] = {}
    for group in corpus_selectors.repeated_reason_lists(
        collection=campaign.collection, task=campaign.task, label=campaign.reasons_label
    ):
        for qid in group["qids"]:
            out[qid] = sorted({*out.get(qid, []), *(q for q in group["qids"] if q != qid)}, key=lambda q: (len(q), q))
    return out

"""Writes of the annotation app: campaigns, leases, submissions, undo, skip, adjudication.

Views, the command and the REST API only parse input and call these. Every change to a
human label (relevance grade or reason verdict) leaves a LabelHistory row.

Concurrency: a lease is taken on the item's row with
``select_for_update(skip_locked=True)``, so two requests never wait on or win the same
item, and the lease writes that row (``Item.lease_count``, the item's leases, live or
expired): a lease committed between another request's snapshot and its lock is in the
row that request locks, since the lock hands it the row's latest version. When that
count leaves room the item is taken at once; when it does not (it counts expired
leases too) the live leases are counted again under the lock. The item's row lock also
serialises the submit that bumps ``Item.completed_count``, which therefore never
exceeds the item's k. SQLite ignores ``select_for_update`` but has one writer at a
time, so the same reads inside the transaction keep the guarantee there: one code path
for both.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Exists, F, FilteredRelation, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from analysis.judgments import JudgmentRow, judgments_delete, judgments_write
from analysis.models import Assessor, Collection, FailureCategory, HardnessAnalysis, Passage, Query, Reason
from annotation import budget_selectors, budget_services, selectors, tasks
from annotation.models import AddedReason, Assignment, BudgetRound, Campaign, Item, LabelHistory, ReasonVerdict
from annotation.selectors import Lease

# A lease request tries this many candidates that turned out full after locking
# (their last slot was taken between our snapshot and our lock) before giving up.
_MAX_LEASE_ATTEMPTS = 25
# Ids are bigints: anything larger cannot name a row (and would overflow the column).
_MAX_ID = 2**63 - 1
VERDICTS = (ReasonVerdict.AGREE, ReasonVerdict.DISAGREE, ReasonVerdict.UNSURE)


class AnnotationError(Exception):
    """A request the annotation rules refuse; the message is fit to show to the user."""


class NoReasonLists(AnnotationError):
    """No reason list of the collection and task fits a reasons campaign; ``labels``
    are those that exist, to choose from."""

    def __init__(self, message: str, *, labels: list[str]) -> None:
        super().__init__(message)
        self.labels = labels


class CampaignInvalid(AnnotationError):
    """A campaign's settings do not fit together; ``errors`` maps the input fields at
    fault (``from_assessor``, ``limit``, ``per_query``, ``task``...) to their messages, for
    the web form, the API's 400 body, and the command (which names its options)."""

    def __init__(self, message: str, *, errors: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.errors = errors


class NotAllowed(AnnotationError):
    """The user may not act on this campaign or assignment."""


class LeaseLost(AnnotationError):
    """The lease expired and the item's last slot went to someone else."""


class AlreadySubmitted(AnnotationError):
    """A different answer for an assignment that is already done (use undo first)."""


class InvalidLabel(AnnotationError):
    """The submitted grade or verdicts do not fit the item.

    ``errors`` maps the input field at fault (``grade``, ``verdicts``, ``added_reasons``,
    ``confidence``, ...) to its messages, for the API's 400 body and the form.
    """

    def __init__(self, message: str, *, field: str = "non_field_errors",
                 errors: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, list[str]] = dict(errors) if errors else {field: [message]}


# --- annotators ---------------------------------------------------------------------

def annotator_assessor(*, user: AbstractBaseUser) -> Assessor:
    """The human Assessor named after the user, whose Judgments are the user's grades."""
    assessor = Assessor.objects.filter(user=user).first()
    if assessor is not None:
        return assessor
    try:
        with transaction.atomic():
            assessor, _ = Assessor.objects.get_or_create(
                name=user.get_username(), defaults={"kind": Assessor.HUMAN, "user": user}
            )
    except IntegrityError:  # created concurrently
        assessor = Assessor.objects.get(name=user.get_username())
    if assessor.kind != Assessor.HUMAN or (assessor.user_id not in (None, user.pk)):
        raise AnnotationError(f"the assessor name {assessor.name!r} is taken by a non-human assessor")
    if assessor.user_id is None:
        assessor.user = user
        assessor.save(update_fields=["user"])
    return assessor


# --- campaigns ----------------------------------------------------------------------

def _normalise_grade_meanings(meanings: Mapping[Any, str] | None) -> dict[str, str]:
    """``{grade: meaning}`` with grades 0-3 (ints or their strings) and non-empty text,
    stored with string keys (JSON)."""
    out: dict[str, str] = {}
    for key, text in (meanings or {}).items():
        try:
            grade = int(key)
        except (TypeError, ValueError) as exc:
            raise AnnotationError(f"grade meanings: {key!r} is not a grade from 0 to 3") from exc
        if not 0 <= grade <= 3 or str(key).strip() != str(grade):
            raise AnnotationError(f"grade meanings: {key!r} is not a grade from 0 to 3")
        if not isinstance(text, str) or not text.strip():
            raise AnnotationError(f"grade meanings: grade {grade} needs a text")
        out[str(grade)] = text.strip()
    return out


def _select_targets(
    *,
    kind: str,
    collection: Collection,
    task: str,
    analysis: HardnessAnalysis | None,
    from_assessor: Assessor | None,
    limit: int | None,
    pairs: Iterable[tuple[str, str]] | None,
    per_query: int | None = None,
) -> list[tuple[Query, Passage | None]]:
    """The (query, passage) targets of a new campaign's items, by kind."""
    targets: list[tuple[Query, Passage | None]]
    if kind == Campaign.REASONS:
        if task not in {"h2r", "h2g", "h2j"}:
            raise CampaignInvalid("a reasons campaign needs a task", errors={"task": ["choose H2R, H2G or H2J"]})
        if analysis is None:
            analysis = selectors.latest_analysis(collection=collection, task=task)
        if analysis is None:
            raise AnnotationError(f"no {task} hardness analysis for collection {collection.name}")
        targets = [(q, None) for q in selectors.hard_queries(analysis=analysis)]
        if limit:
            targets = targets[:limit]
    elif pairs is not None:
        targets = selectors.resolve_pairs(collection=collection, pairs=pairs)
    elif kind == Campaign.RELEVANCE:
        if from_assessor is None or not limit:
            errors: dict[str, list[str]] = {}
            if from_assessor is None:
                errors["from_assessor"] = ["choose the assessor whose disagreements with the official qrels give "
                                           "the pairs"]
            if not limit:
                errors["limit"] = ["give the number of pairs to sample"]
            raise CampaignInvalid("a relevance campaign needs its pairs, or an assessor and a number of pairs to "
                                  "sample from its disagreements with the official qrels", errors=errors)
        if per_query is not None and per_query < 1:
            raise CampaignInvalid("at most M pairs per query: M must be at least 1",
                                  errors={"per_query": ["at least 1"]})
        targets = [
            (row.query, row.passage)
            for row in selectors.disagreement_pairs(collection=collection, assessor=from_assessor, limit=limit,
                                                    per_query=per_query)
        ]
    else:
        raise AnnotationError("a cascade campaign needs the relabeled (qid, docid) pairs")
    return targets



def _reasons_label(*, analysis: HardnessAnalysis, chosen: str) -> str:
    """The pipeline label whose lists a reasons campaign shows: ``chosen`` when it
    exists on the collection and task, else the one proposed for the analysis's subject
    (of the analysis's quantile first). No match: an error listing the labels that exist."""
    existing = selectors.reasons_labels(collection=analysis.collection, task=analysis.task)
    listed = ", ".join(existing) if existing else "none"
    if chosen:
        if chosen not in existing:
            raise NoReasonLists(
                f"no {analysis.task} reason list of {analysis.collection.name} has the label {chosen!r}; "
                f"the labels that exist: {listed}", labels=existing,
            )
        return chosen
    matching = selectors.reasons_labels_for(analysis=analysis)
    if not matching:
        raise NoReasonLists(
            f"no {analysis.task} reason list of {analysis.collection.name} was proposed for {analysis.subject}; "
            f"the labels that exist: {listed}", labels=existing,
        )
    return matching[0]


def campaign_create(
    *,
    name: str,
    kind: str,
    collection: Collection,
    annotators: Sequence[AbstractBaseUser],
    overlap: int = 1,
    task: str = "",
    analysis: HardnessAnalysis | None = None,
    reasons_label: str = "",
    from_assessor: Assessor | None = None,
    limit: int | None = None,
    per_query: int | None = None,
    pairs: Iterable[tuple[str, str]] | None = None,
    cascade_job: int | None = None,
    gold: Iterable[Mapping[str, Any]] = (),
    gold_count: int = 0,
    guidelines: str = "",
    grade_meanings: Mapping[Any, str] | None = None,
    blind: bool = False,
    reveal_after_commit: bool = False,
    show_llm_grade: bool = False,
    control_share: float = 0.0,
    lease_seconds: int = 900,
    created_by: AbstractBaseUser | None = None,
    budget: budget_services.BudgetSpec | None = None,
) -> Campaign:
    """Create a campaign and its items.

    Items: ``reasons`` takes the hard queries of ``analysis`` (default: the latest done
    analysis of ``task`` on the collection) and shows the reason lists of the label
    ``reasons_label``, by default the lists proposed for the analysis's subject;
    ``relevance`` takes ``pairs`` (qid, docid) or
    the ``limit`` judged pairs where ``from_assessor`` and the official qrels disagree
    most; ``cascade`` takes ``pairs`` or the relabeled pairs of the judges app's cascade
    job ``cascade_job`` (their passages must be in the collection). ``gold``
    items (``{"qid", "docid", "grade"}`` or ``{"qid", "verdicts": {reason_id: verdict}}``)
    are spread evenly among them and shown to every annotator; ``gold_count`` adds that
    many relevance gold items taken from the official qrels (where ``from_assessor``
    agrees with them, when given). ``budget`` makes a budget campaign instead: its first
    round of pairs from ``from_assessor`` (see ``annotation.budget_services``).
    """
    if kind not in {Campaign.RELEVANCE, Campaign.REASONS, Campaign.CASCADE}:
        raise AnnotationError(f"unknown campaign kind {kind!r}")
    if overlap < 1:
        raise AnnotationError("overlap must be at least 1")
    meanings = _normalise_grade_meanings(grade_meanings)
    annotators = list(annotators)
    if not annotators:
        raise AnnotationError("a campaign needs at least one annotator")
    if overlap > len(annotators):
        raise AnnotationError(f"overlap {overlap} needs at least {overlap} annotators, got {len(annotators)}")
    _check_anchoring(kind=kind, from_assessor=from_assessor, show_llm_grade=show_llm_grade,
                     control_share=control_share)

    first_round = _budget_first_round(kind=kind, collection=collection, from_assessor=from_assessor,
                                      limit=limit, pairs=pairs, budget=budget)
    if first_round is not None:
        pairs = first_round.pairs
    try:
        if kind == Campaign.CASCADE and pairs is None and cascade_job is not None:
            pairs = selectors.cascade_pairs(job_id=cascade_job)
        targets = _select_targets(
            kind=kind, collection=collection, task=task, analysis=analysis, from_assessor=from_assessor,
            limit=limit, pairs=pairs, per_query=per_query,
        )
        gold = list(gold)
        if gold_count and kind != Campaign.REASONS:
            gold += selectors.gold_candidates(
                collection=collection, limit=gold_count, assessor=from_assessor,
                exclude=[(q.pk, p.pk) for q, p in targets if p is not None],
            )
        gold_targets = selectors.resolve_pairs(
            collection=collection, pairs=[(g["qid"], g.get("docid")) for g in gold], allow_no_passage=True
        )
    except LookupError as exc:
        raise AnnotationError(str(exc)) from exc
    label = ""
    if kind == Campaign.REASONS:
        if analysis is None:
            analysis = selectors.latest_analysis(collection=collection, task=task)
        if analysis is None:
            raise AnnotationError(f"no {task} hardness analysis for collection {collection.name}")
        label = _reasons_label(analysis=analysis, chosen=reasons_label)
    if not targets:
        raise AnnotationError("the selection is empty: no items to annotate")

    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name, kind=kind, task=task if kind == Campaign.REASONS else "", collection=collection,
            analysis=analysis, reasons_label=label, reference_assessor=from_assessor, overlap=overlap,
            guidelines=guidelines,
            grade_meanings=meanings, blind=blind or show_llm_grade, reveal_after_commit=reveal_after_commit,
            lease_seconds=lease_seconds, created_by=created_by, show_llm_grade=show_llm_grade,
            control_share=control_share if show_llm_grade else 0.0,
        )
        campaign.annotators.set(annotators)
        items = [
            Item(campaign=campaign, query=q, passage=p, overlap=overlap) for q, p in targets
        ]
        # Gold items go to every annotator (their accuracy is measured on them), spread
        # evenly so nobody can tell them apart by where they come.
        every = len(annotators)
        step = max(1, math.ceil(len(items) / (len(gold) + 1))) if gold else 0
        for n, (spec, (q, p)) in enumerate(zip(gold, gold_targets), start=1):
            gold_item = Item(
                campaign=campaign, query=q, passage=p, overlap=every, is_gold=True,
                gold_grade=spec.get("grade"),
                gold_verdicts={str(k): v for k, v in (spec.get("verdicts") or {}).items()},
            )
            items.insert(min(len(items), n * step + n - 1), gold_item)
        for position, item in enumerate(items):
            item.position = position
        if show_llm_grade:
            _draw_control(campaign=campaign, items=items, share=control_share)
        Item.objects.bulk_create(items, batch_size=1000)
        if budget is not None and first_round is not None:
            budget_services.budget_plan_create(
                campaign=campaign, spec=budget, first=first_round, items=[i for i in items if not i.is_gold]
            )
        for user in annotators:
            annotator_assessor(user=user)
    return campaign


# --- budget campaigns ---------------------------------------------------------------

def _budget_first_round(
    *,
    kind: str,
    collection: Collection,
    from_assessor: Assessor | None,
    limit: int | None,
    pairs: Iterable[tuple[str, str]] | None,
    budget: budget_services.BudgetSpec | None,
) -> budget_services.RoundPick | None:
    """The first round of a budget campaign (None for any other campaign)."""
    if budget is None:
        return None
    if kind != Campaign.RELEVANCE:
        raise AnnotationError("--budget makes a relevance campaign: use --kind relevance")
    if limit or pairs is not None:
        raise AnnotationError("--budget chooses the pairs itself: drop --limit and the pair list")
    try:
        return budget_services.budget_first_round(collection=collection, assessor=from_assessor, spec=budget)
    except budget_services.BudgetRefused as exc:
        raise AnnotationError(str(exc)) from exc


def budget_round_add(*, campaign: Campaign, force: bool = False) -> BudgetRound | None:
    """Staff's way to add a budget campaign's next round now (``manage.py budget_round``
    and the button of the review page): after a complete round, or with ``force`` before
    it is complete (lara calibrates on the grades given so far). Returns the round
    added, or None when the budget is spent or the last round is still open."""
    if budget_selectors.budget_plan_of(campaign=campaign) is None:
        raise AnnotationError(f"campaign {campaign.pk} is not a budget campaign")
    return budget_services.budget_round_add(campaign_id=campaign.pk, force=force)


def _budget_round_check_on_commit(*, campaign_id: int) -> None:
    """After a budget item's annotation commits, let the worker see whether its round
    is complete (and add the next one)."""
    transaction.on_commit(lambda: tasks.budget_round_check.delay(campaign_id))


def _check_anchoring(*, kind: str, from_assessor: Assessor | None, show_llm_grade: bool,
                     control_share: float) -> None:
    """An anchoring control needs a relevance campaign, the LLM whose grade is shown, and a
    control share from 0 to 1 (exclusive: some items must show the grade)."""
    if not show_llm_grade:
        if control_share:
            raise CampaignInvalid("a control share needs the LLM's grade shown",
                                  errors={"control_share": ["only with --show-llm-grade"]})
        return
    errors: dict[str, list[str]] = {}
    if kind != Campaign.RELEVANCE:
        errors["show_llm_grade"] = ["only relevance campaigns show an LLM's grade"]
    if from_assessor is None or from_assessor.kind != Assessor.LLM:
        errors["from_assessor"] = ["the LLM whose grade is shown"]
    if not 0.0 <= control_share < 1.0:
        errors["control_share"] = ["a share from 0 to 1 (below 1: some items show the grade)"]
    if errors:
        raise CampaignInvalid("an anchoring control needs a relevance campaign over an LLM assessor and a control "
                              "share from 0 to 1", errors=errors)


def _draw_control(*, campaign: Campaign, items: list[Item], share: float) -> None:
    """Mark a random share of the (non-gold) items as the control, shown without the
    LLM's grade; seeded by the campaign so the draw is reproducible."""
    candidates = [i for i in items if not i.is_gold]
    n = round(share * len(candidates))
    for item in random.Random(f"hardq-control-{campaign.pk}").sample(candidates, n):
        item.is_control = True


def campaign_set_status(*, campaign: Campaign, status: str) -> Campaign:
    """Open or close a campaign (closing reveals everyone's labels to the annotators)."""
    if status not in {Campaign.OPEN, Campaign.CLOSED}:
        raise AnnotationError(f"unknown status {status!r}")
    campaign.status = status
    campaign.save(update_fields=["status"])
    return campaign


# --- what a submit may hold -------------------------------------------------------

@dataclass(frozen=True)
class Submission:
    """An annotator's answer, checked for shape (the ids are checked against the item
    under its lock): a grade, or verdicts ``{reason id: {"verdict", "category"}}`` and
    added reasons ``[{"text", "category"}]``, with a comment and a confidence."""

    grade: int | None = None
    verdicts: dict[int, dict[str, Any]] = field(default_factory=dict)
    added: list[dict[str, Any]] = field(default_factory=list)
    comment: str = ""
    confidence: int | None = None
    seconds_spent: float | None = None

    def category_ids(self) -> set[int]:
        named = [v["category"] for v in self.verdicts.values()] + [a["category"] for a in self.added]
        return {c for c in named if c is not None}


def _row_id(value: Any) -> int | None:
    """An id from JSON or a form (an int, or a string of digits), None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value <= _MAX_ID:
        return value
    return None


def _category(value: Any, errors: list[str]) -> int | None:
    if value in (None, ""):
        return None
    category = _row_id(value)
    if category is None:
        errors.append(f"{value!r} is not a known category")
    return category


def _verdicts(raw: Any, errors: list[str]) -> dict[int, dict[str, Any]]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list) and all(isinstance(v, Mapping) for v in raw):
        pairs = [(v.get("reason"), v) for v in raw]
    else:
        errors.append('give the verdicts as an object of reason id to agree, disagree or unsure, '
                      'e.g. {"17": "agree"}')
        return {}
    out: dict[int, dict[str, Any]] = {}
    for key, value in pairs:
        rid = _row_id(key)
        if rid is None:
            errors.append(f"{key!r} is not a reason id")
            continue
        if isinstance(value, str):
            value = {"verdict": value}
        if not isinstance(value, Mapping) or value.get("verdict") not in VERDICTS:
            errors.append(f"the verdict on reason {rid} must be agree, disagree or unsure")
            continue
        out[rid] = {"verdict": value["verdict"], "category": _category(value.get("category"), errors)}
    return out


def _added(raw: Any, errors: list[str]) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        errors.append('give the added reasons as a list, e.g. [{"text": "needs a date", "category": 3}]')
        return []
    out = []
    for entry in raw:
        if isinstance(entry, str):
            entry = {"text": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("text", ""), str):
            errors.append('each added reason is an object with a "text" (and an optional "category")')
            continue
        text = (entry.get("text") or "").strip()
        if text:
            out.append({"text": text, "category": _category(entry.get("category"), errors)})
    return out


def submission_parse(
    *,
    grade: Any = None,
    verdicts: Any = None,
    added_reasons: Any = None,
    comment: Any = "",
    confidence: Any = None,
    seconds_spent: Any = None,
) -> Submission:
    """Check the shape of a submit from the API, the web form or Python; raises
    InvalidLabel with a message per field. The one validation every entry point uses."""
    errors: dict[str, list[str]] = {}

    def bounded(name: str, value: Any, low: int, high: int, message: str) -> int | None:
        if value in (None, ""):
            return None
        number = _row_id(value) if value not in (0, "0") else 0
        if number is None or not low <= number <= high:
            errors.setdefault(name, []).append(message)
            return None
        return number

    parsed_grade = bounded("grade", grade, 0, 3, "choose a grade from 0 to 3")
    parsed_confidence = bounded("confidence", confidence, 1, 5, "confidence must be between 1 and 5")
    found: list[str] = []
    parsed_verdicts = _verdicts(verdicts, found)
    if found:
        errors["verdicts"] = found
    found = []
    parsed_added = _added(added_reasons, found)
    if found:
        errors["added_reasons"] = found
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        errors["comment"] = ["the comment must be text"]
        comment = ""
    spent: float | None = None
    if seconds_spent not in (None, ""):
        try:
            spent = float(seconds_spent)
        except (TypeError, ValueError):
            spent = -1.0
        if not 0 <= spent <= 86400:
            errors["seconds_spent"] = ["seconds spent must be between 0 and 86400"]
            spent = None
    if errors:
        first = next(iter(errors.values()))[0]
        raise InvalidLabel(first, errors=errors)
    return Submission(
        grade=parsed_grade, verdicts=parsed_verdicts, added=parsed_added, comment=comment.strip(),
        confidence=parsed_confidence, seconds_spent=spent,
    )


# --- leases -------------------------------------------------------------------------

def _check_member(*, campaign: Campaign, user: AbstractBaseUser) -> None:
    if not campaign.annotators.filter(pk=user.pk).exists():
        raise NotAllowed("you are not an annotator of this campaign")


def _lease_free_item(
    *, campaign: Campaign, user: AbstractBaseUser, now: datetime, done: Assignment | None = None,
    counts: dict[str, Any] | None = None,
) -> Lease | None:
    """Lease the user's next free item (inside the caller's transaction); ``done`` is a
    just-submitted assignment whose row is written in the same statement as the lease,
    and whose item's counts in the same statement as the new lease's item. ``counts`` are
    the progress counts the caller read (the submit's lock), else they are read after
    the lease.

    Queries: the candidate, locked (with its query, passage and measure, its own
    ``lease_count`` and the user's own expired lease of it), one UPDATE of the item rows,
    one upsert of the assignments. The lease count includes expired leases, so a
    candidate it shows full is counted again (its live leases of other people) before
    it is given up: one more query, and two more for each candidate that is full.
    """
    tried: list[int] = [] if done is None else [done.item_id]  # the item just submitted is locked by us
    for _ in range(_MAX_LEASE_ATTEMPTS):
        item = (
            selectors.free_items(campaign=campaign, user=user, now=now).exclude(pk__in=tried)
            .select_for_update(skip_locked=True, of=("self",)).first()
        )
        if item is None:
            break
        own = item.own_pk is not None  # the user's expired lease, taken again: its draft and time are kept
        # The locked row is the latest version: every lease committed before our lock
        # wrote its lease_count (the first query's snapshot may predate them). The
        # user's own expired lease is in the count and is not someone else's.
        if item.completed_count + item.lease_count - own >= item.overlap:
            # Expired leases in the count, or really full: count the live leases of other
            # people, which this statement (later than the lock) sees all of.
            others = selectors.live_leases(item_id=item.pk, user_id=user.pk, now=now)
            if item.completed_count + others >= item.overlap:
                tried.append(item.pk)
                continue
        lease = Assignment(
            item_id=item.pk, user_id=user.pk, status=Assignment.LEASED, leased_at=now,
            expires_at=now + timedelta(seconds=campaign.lease_seconds),
            seconds_spent=item.own_seconds_spent if own else 0, comment=item.own_comment if own else "",
            confidence=item.own_confidence if own else None, draft=item.own_draft if own else {},
        )
        # an expired lease of the user taken again is in the count already
        _items_write(submitted=None if done is None else done.item_id, leased=None if own else item.pk)
        if not own:
            item.lease_count += 1
        _assignments_write([lease] if done is None else [done, lease])
        if counts is None:
            counts = selectors.progress_counts(campaign_id=campaign.pk, user_id=user.pk)
        return selectors.lease_of_free_item(item=item, assignment=lease, campaign=campaign, counts=counts)
    if done is not None:
        _items_write(submitted=done.item_id)
        _assignments_write([done])
    return None


def _items_write(*, submitted: int | None = None, leased: int | None = None) -> None:
    """Write the item rows a submit and a lease change, in one UPDATE: the ``submitted``
    item gains a completed annotation and loses a lease, the ``leased`` one gains a
    lease. The caller holds both rows' locks."""
    lease_count = F("lease_count")
    # never below zero, even if an assignment was made leased behind the services' back
    one_lease_less = Greatest(lease_count - 1, Value(0), output_field=IntegerField())
    if submitted is not None and leased is not None:
        Item.objects.filter(pk__in=[submitted, leased]).update(
            completed_count=Case(When(pk=submitted, then=F("completed_count") + 1), default=F("completed_count"),
                                 output_field=IntegerField()),
            lease_count=Case(When(pk=submitted, then=one_lease_less), default=lease_count + 1,
                             output_field=IntegerField()),
        )
    elif submitted is not None:
        Item.objects.filter(pk=submitted).update(completed_count=F("completed_count") + 1, lease_count=one_lease_less)
    elif leased is not None:
        Item.objects.filter(pk=leased).update(lease_count=lease_count + 1)


# Every column an assignment's answer or lease changes (the rest are set at insert).
_ASSIGNMENT_FIELDS = ["status", "leased_at", "expires_at", "submitted_at", "grade", "comment", "confidence",
                      "seconds_spent", "draft"]


def _assignments_write(rows: Sequence[Assignment]) -> None:
    """Insert or update assignments by (item, user) in one statement: a submitted
    answer and the next lease go together."""
    fresh = [Assignment(**{f.attname: getattr(a, f.attname) for f in Assignment._meta.concrete_fields if not f.primary_key})
             for a in rows]
    Assignment.objects.bulk_create(fresh, update_conflicts=True, unique_fields=["item", "user"],
                                   update_fields=_ASSIGNMENT_FIELDS)
    for row, written in zip(rows, fresh):
        row.pk = written.pk
        row._state.adding = False


def assignment_lease(*, campaign: Campaign, user: AbstractBaseUser) -> Lease | None:
    """The user's current lease in the campaign, or a new lease on the next free item,
    with what its screen shows.

    A free item is one the user has neither done nor skipped whose completed
    annotations plus other people's live leases are fewer than its k. None when nothing
    is left for this user (or the campaign is closed).
    """
    _check_member(campaign=campaign, user=user)
    if not campaign.is_open:
        return None
    now = timezone.now()
    current = selectors.current_lease(campaign=campaign, user=user, now=now)
    if current is not None:
        return current
    with transaction.atomic():
        return _lease_free_item(campaign=campaign, user=user, now=now)


def assignment_next(*, campaign: Campaign, user: AbstractBaseUser) -> Assignment | None:
    """``assignment_lease`` for callers that only need the assignment."""
    lease = assignment_lease(campaign=campaign, user=user)
    return None if lease is None else lease.assignment


def _lock(*, pk: int, user: AbstractBaseUser, now: datetime, submission: Submission | None = None,
          progress: bool = False) -> Assignment:
    """Lock an assignment and its item in one statement (always in this order, so that
    submit and undo never wait on each other crosswise), with the item's campaign and
    its analysis, and what a submit checks, read in the same statement: another live
    lease of the user in the campaign while they annotate it (after an undo), the
    proposed reasons the verdicts name, the categories, the user's grade of the pair;
    with ``progress``, the campaign's progress counts for the user (``progress``, a
    dict), which the next screen shows."""
    campaign_id = OuterRef("item__campaign_id")
    fields: dict[str, Any] = {
        "other_lease_id": Subquery(
            Assignment.objects.filter(item__campaign_id=campaign_id, item__campaign__annotators=user,
                                      user_id=user.pk, status=Assignment.LEASED, expires_at__gt=now)
            .exclude(pk=OuterRef("pk")).order_by("-leased_at", "-pk").values("pk")[:1]
        ),
        "in_budget_round": Exists(BudgetRound.items.through.objects.filter(item_id=OuterRef("item_id"))),
    }
    if progress:
        fields["progress"] = selectors.progress_subquery(campaign_id=campaign_id, user_id=user.pk)
    rows = (
        Assignment.objects.select_for_update(of=("self", "item")).select_related("item__campaign__analysis")
        .defer(*selectors.SCREEN_ANALYSIS_DEFERRED)
    )
    if submission is not None:
        if submission.grade is not None:
            # The user's assessor and its judgment of the pair (joins, at most one row
            # each): what judgments_write is told is stored, and the history's "before".
            judged = "user__assessor__judgments"
            rows = rows.select_related("user__assessor").annotate(
                stored=FilteredRelation(judged, condition=Q(**{f"{judged}__query_id": F("item__query_id"),
                                                               f"{judged}__passage_id": F("item__passage_id")})),
                stored_pk=F("stored__pk"), stored_grade=F("stored__grade"), stored_valid=F("stored__valid"),
                stored_raw=F("stored__raw_response"), stored_probabilities=F("stored__probabilities"),
            )
        proposed = selectors.proposed_reasons(query_id=OuterRef("item__query_id"), task=OuterRef("item__campaign__task"),
                                              label=OuterRef("item__campaign__reasons_label"))
        fields["n_proposed"] = _count(proposed)
        fields["n_named"] = _count(proposed.filter(pk__in=list(submission.verdicts)))
        if submission.category_ids():
            fields["n_categories"] = _count(FailureCategory.objects.filter(pk__in=submission.category_ids()))
    locked = rows.annotate(**fields).filter(pk=pk).order_by().first()
    if locked is None:
        raise NotAllowed("no such assignment")
    if locked.user_id != user.pk:
        raise NotAllowed("this assignment belongs to someone else")
    return locked


def _count(rows: Any) -> Coalesce:
    """``COUNT(*)`` of a queryset as a scalar subquery (a constant grouping: one group)."""
    counted = rows.order_by().annotate(one=Value(1)).values("one").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _answer_of(assignment: Assignment) -> dict[str, Any]:
    """What an assignment holds now, as stored in LabelHistory and compared on retries."""
    return {
        "grade": assignment.grade,
        "verdicts": {
            str(v.reason_id): {"verdict": v.verdict, "category": v.category_id}
            for v in assignment.verdicts.order_by("pk")
        },
        "added": [{"text": a.text, "category": a.category_id} for a in assignment.added_reasons.order_by("pk")],
        "comment": assignment.comment,
        "confidence": assignment.confidence,
    }


def _human_grade_write(*, current: Assignment, user: AbstractBaseUser, grade: int) -> int | None:
    """The annotator's grade of the assignment's pair as a Judgment of their human
    assessor, through the one write path (``analysis.judgments``, which renews the
    assessor's label version); returns the grade it replaces. ``current`` comes from
    ``_lock``, which read the assessor and its judgment of the pair: two statements
    (the upsert, the label version), none when the grade is already stored so."""
    item = current.item
    assessor = getattr(current.user, "assessor", None)
    stored: JudgmentRow | None = None
    if assessor is None or assessor.kind != Assessor.HUMAN:
        assessor = annotator_assessor(user=user)  # creates it, or refuses a name taken by a non-human
    elif current.stored_pk is not None:
        stored = JudgmentRow(query_id=item.query_id, passage_id=item.passage_id, grade=current.stored_grade,
                             valid=current.stored_valid, raw_response=current.stored_raw,
                             probabilities=current.stored_probabilities)
    row = JudgmentRow(query_id=item.query_id, passage_id=item.passage_id, grade=grade)
    judgments_write(assessor=assessor, rows=[row], stored={(row.query_id, row.passage_id): stored})
    return None if stored is None else stored.grade


def _human_grade_delete(*, assessor: Assessor, query_id: int, passage_id: int) -> None:
    """Remove the annotator's grade of a pair (undo), through the one write path."""
    judgments_delete(assessor=assessor, pairs=[(query_id, passage_id)])


@dataclass(frozen=True)
class Submitted:
    """A committed answer and the user's next lease (None when nothing is left)."""

    assignment: Assignment
    next: Lease | None


def assignment_submit(
    *,
    assignment: Assignment,
    user: AbstractBaseUser,
    grade: Any = None,
    verdicts: Any = None,
    added_reasons: Any = None,
    comment: Any = "",
    confidence: Any = None,
    seconds_spent: Any = None,
) -> Assignment:
    """Commit the user's answer to their assignment.

    Relevance and cascade items take a ``grade`` 0-3, written as the Judgment of the
    user's human assessor; reasons items take a verdict for every proposed reason
    (``{reason_id: "agree"}`` or ``{reason_id: {"verdict": "agree", "category": id}}``)
    and optional added reasons. Retrying an identical submit of a done assignment
    succeeds and changes nothing.
    """
    if assignment.user_id != user.pk:
        raise NotAllowed("this assignment belongs to someone else")
    submission = submission_parse(grade=grade, verdicts=verdicts, added_reasons=added_reasons, comment=comment,
                                  confidence=confidence, seconds_spent=seconds_spent)
    return _submit(assignment_id=assignment.pk, user=user, submission=submission, lease_next=False).assignment


def submission_commit(
    *, assignment_id: int, user: AbstractBaseUser, submission: Submission, then_lease: bool = False
) -> Submitted:
    """Commit a parsed answer (``assignment_submit``); with ``then_lease`` the user's
    next lease is taken in the same transaction (the annotation screen shows the next
    item in the submit's response)."""
    return _submit(assignment_id=assignment_id, user=user, submission=submission, lease_next=then_lease)


def _check_answer(current: Assignment, submission: Submission, *, is_relevance: bool) -> None:
    """Refuse an answer that does not fit the item (the counts come with the lock)."""
    if is_relevance:
        if submission.grade is None:
            raise InvalidLabel("choose a grade from 0 to 3", field="grade")
    else:
        if not hasattr(current, "n_proposed"):
            raise InvalidLabel("give a verdict for every proposed reason", field="verdicts")
        if current.n_named < len(submission.verdicts):
            raise InvalidLabel("a verdict names a reason that is not proposed for this query", field="verdicts")
        missing = current.n_proposed - len(submission.verdicts)
        if missing:
            raise InvalidLabel(f"give a verdict for every proposed reason ({missing} missing)", field="verdicts")
    if getattr(current, "n_categories", 0) < len(submission.category_ids()):
        field_name = "verdicts" if any(v["category"] for v in submission.verdicts.values()) else "added_reasons"
        raise InvalidLabel("a category is not one of the failure categories", field=field_name)


def _submit(*, assignment_id: int, user: AbstractBaseUser, submission: Submission, lease_next: bool) -> Submitted:
    now = timezone.now()
    with transaction.atomic():
        current = _lock(pk=assignment_id, user=user, now=now, submission=submission, progress=lease_next)
        item = current.item
        campaign = item.campaign
        is_relevance = campaign.kind in {Campaign.RELEVANCE, Campaign.CASCADE}
        _check_answer(current, submission, is_relevance=is_relevance)
        grade = submission.grade if is_relevance else None
        verdicts = {} if is_relevance else submission.verdicts
        added = [] if is_relevance else submission.added
        done: Assignment | None = None
        if current.status == Assignment.DONE:
            wanted = {
                "grade": grade, "verdicts": {str(k): v for k, v in verdicts.items()}, "added": added,
                "comment": submission.comment, "confidence": submission.confidence,
            }
            if _answer_of(current) != wanted:
                raise AlreadySubmitted("this item is already submitted; undo it to change the answer")
            # a retried request: already committed, nothing to change
        else:
            if current.status != Assignment.LEASED:
                raise AnnotationError("this item was skipped")
            if not campaign.is_open:
                raise AnnotationError("the campaign is closed")
            if item.completed_count >= item.overlap:
                raise LeaseLost("this item already has all its annotations")
            if current.expires_at <= now:
                others = (
                    Assignment.objects.filter(item=item, status=Assignment.LEASED, expires_at__gt=now)
                    .exclude(user=user).count()
                )
                if item.completed_count + others >= item.overlap:
                    raise LeaseLost("your lease expired and the item went to someone else")
            _record_answer(current, user=user, grade=grade, verdicts=verdicts, added=added)
            spent = submission.seconds_spent
            if spent is None:
                spent = (now - current.leased_at).total_seconds()
            current.status = Assignment.DONE
            current.submitted_at = now
            current.grade = grade
            current.comment = submission.comment
            current.confidence = submission.confidence
            current.seconds_spent = (current.seconds_spent or 0) + max(0.0, float(spent))
            current.draft = {}
            item.completed_count += 1  # written by _items_write below, with the next lease's item
            item.lease_count = max(0, item.lease_count - 1)
            done = current
            if current.in_budget_round:
                _budget_round_check_on_commit(campaign_id=campaign.pk)
        following: Lease | None = None
        # A member's other lease (an item taken back by undo) comes first; a user who is
        # no longer an annotator of the campaign gets no next item (free_items).
        resume = current.other_lease_id if lease_next else None
        if lease_next and campaign.is_open and resume is None:
            counts = dict(current.progress, progress_annotators=selectors.annotator_count(campaign_id=campaign.pk))
            if done is not None:  # read by the lock, before this answer was written
                counts["progress_done"] += 1
                counts["progress_completed"] += 1
            following = _lease_free_item(campaign=campaign, user=user, now=now, done=done, counts=counts)
        elif done is not None:
            _items_write(submitted=item.pk)
            _assignments_write([done])
    if resume is not None:  # the user holds another lease (an item taken back by undo)
        following = selectors.lease_of(assignment_id=resume, campaign=campaign)
    return Submitted(assignment=current, next=following)


def _record_answer(
    current: Assignment,
    *,
    user: AbstractBaseUser,
    grade: int | None,
    verdicts: Mapping[int, Mapping[str, Any]],
    added: Sequence[Mapping[str, Any]],
) -> None:
    """Write the label (grade or verdicts and added reasons) and its history row; the
    caller holds the assignment's and the item's locks, and writes the item's counts
    (``_items_write``, with the next lease's item)."""
    item = current.item
    if grade is not None:
        previous = _human_grade_write(current=current, user=user, grade=grade)
        history = LabelHistory(
            user=user, action="submit", item=item, assignment=current,
            target=f"judgment {user.get_username()} q{item.query_id} p{item.passage_id}",
            before=None if previous is None else {"grade": previous},
            after={"grade": grade},
        )
    else:
        ReasonVerdict.objects.bulk_create([
            ReasonVerdict(assignment=current, reason_id=rid, verdict=v["verdict"], category_id=v["category"])
            for rid, v in verdicts.items()
        ])
        if added:
            AddedReason.objects.bulk_create([
                AddedReason(assignment=current, text=a["text"], category_id=a["category"]) for a in added
            ])
        history = LabelHistory(
            user=user, action="submit", item=item, assignment=current, target=f"verdicts item {item.pk}",
            before=None, after={"verdicts": {str(k): v for k, v in verdicts.items()}, "added": list(added)},
        )
    history.save()


def assignment_skip(*, assignment: Assignment, user: AbstractBaseUser, reason: str) -> Assignment:
    """Give the item back with a reason; the user is not offered it again."""
    if assignment.user_id != user.pk:
        raise NotAllowed("this assignment belongs to someone else")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidLabel("say why you skip this item", field="reason")
    with transaction.atomic():
        updated = Assignment.objects.filter(pk=assignment.pk, status=Assignment.LEASED).update(
            status=Assignment.SKIPPED, skip_reason=reason, draft={}
        )
        if not updated:
            raise AnnotationError("only an open item can be skipped")
        Item.objects.filter(pk=assignment.item_id).update(
            lease_count=Greatest(F("lease_count") - 1, Value(0), output_field=IntegerField()))
    assignment.status, assignment.skip_reason = Assignment.SKIPPED, reason
    return assignment


def assignment_save_draft(*, assignment: Assignment, user: AbstractBaseUser, draft: Mapping[str, Any]) -> bool:
    """Autosave the unsubmitted form; returns False when the item is no longer open."""
    if assignment.user_id != user.pk:
        raise NotAllowed("this assignment belongs to someone else")
    return bool(
        Assignment.objects.filter(pk=assignment.pk, status=Assignment.LEASED).update(draft=dict(draft))
    )


def assignment_undo(*, campaign: Campaign, user: AbstractBaseUser) -> Assignment | None:
    """Take back the user's last submission in the campaign and lease the item again.

    The label is removed (and the removal recorded in the history); the previous answer
    becomes the draft so the form comes back filled in.
    """
    _check_member(campaign=campaign, user=user)
    if not campaign.is_open:
        raise AnnotationError("the campaign is closed")
    last = (
        Assignment.objects.filter(item__campaign=campaign, user=user, status=Assignment.DONE)
        .order_by("-submitted_at", "-pk").values_list("pk", flat=True).first()
    )
    if last is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        reopened = _lock(pk=last, user=user, now=now)
        item = reopened.item
        if reopened.status != Assignment.DONE:
            return None
        before = _answer_of(reopened)
        if campaign.kind in {Campaign.RELEVANCE, Campaign.CASCADE}:
            assessor = annotator_assessor(user=user)
            _human_grade_delete(assessor=assessor, query_id=item.query_id, passage_id=item.passage_id)
            target = f"judgment {assessor.name} q{item.query_id} p{item.passage_id}"
            draft: dict[str, Any] = {"grade": str(reopened.grade) if reopened.grade is not None else ""}
        else:
            target = f"verdicts item {item.pk}"
            draft = {f"verdict_{rid}": v["verdict"] for rid, v in before["verdicts"].items()}
            draft.update({f"category_{rid}": str(v["category"] or "") for rid, v in before["verdicts"].items()})
            draft["added_text"] = [a["text"] for a in before["added"]]
            reopened.verdicts.all().delete()
            reopened.added_reasons.all().delete()
        draft.update({"comment": reopened.comment, "confidence": str(reopened.confidence or "")})
        LabelHistory.objects.create(
            user=user, action="undo", item=item, assignment=reopened, target=target, before=before, after=None
        )
        reopened.status = Assignment.LEASED
        reopened.submitted_at = None
        reopened.leased_at = now
        reopened.expires_at = now + timedelta(seconds=campaign.lease_seconds)
        reopened.draft = draft
        reopened.save(update_fields=["status", "submitted_at", "leased_at", "expires_at", "draft"])
        Item.objects.filter(pk=item.pk).update(completed_count=F("completed_count") - 1,
                                               lease_count=F("lease_count") + 1)
        item.completed_count -= 1
        item.lease_count += 1
    return reopened


# --- review -------------------------------------------------------------------------

def item_adjudicate(
    *, item: Item, user: AbstractBaseUser, grade: int | None = None, verdicts: Any = None
) -> Item:
    """Record the final (adjudicated) label of an item; staff only."""
    if not getattr(user, "is_staff", False):
        raise NotAllowed("only staff adjudicate")
    before = {"grade": item.final_grade, "verdicts": item.final_verdicts}
    if item.campaign.kind in {Campaign.RELEVANCE, Campaign.CASCADE}:
        try:
            grade = int(grade)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise InvalidLabel("choose a grade from 0 to 3") from exc
        if not 0 <= grade <= 3:
            raise InvalidLabel("choose a grade from 0 to 3")
        item.final_grade = grade
    else:
        item.final_verdicts = {str(k): v["verdict"] for k, v in submission_parse(verdicts=verdicts).verdicts.items()}
    item.adjudicated_by = user
    item.adjudicated_at = timezone.now()
    with transaction.atomic():
        item.save(update_fields=["final_grade", "final_verdicts", "adjudicated_by", "adjudicated_at"])
        LabelHistory.objects.create(
            user=user, action="adjudicate", item=item, target=f"final label item {item.pk}", before=before,
            after={"grade": item.final_grade, "verdicts": item.final_verdicts},
        )
    return item


__all__ = [
    "AnnotationError", "NotAllowed", "LeaseLost", "AlreadySubmitted", "InvalidLabel",
    "Submission", "Submitted", "submission_parse",
    "annotator_assessor", "campaign_create", "campaign_set_status", "budget_round_add",
    "assignment_lease", "assignment_next", "assignment_submit", "submission_commit", "assignment_skip", "assignment_save_draft", "assignment_undo",
    "item_adjudicate",
]

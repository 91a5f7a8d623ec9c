"""Writes of the annotation app: campaigns, leases, submissions, undo, skip, adjudication.

Views, the command and the REST API only parse input and call these. Every change to a
human label (relevance grade or reason verdict) leaves a LabelHistory row.

Concurrency: a lease is taken on the item's row with ``select_for_update(skip_locked=True)``
so that two requests never wait on or win the same item; the row lock also serialises the
submit that bumps ``Item.completed_count``, which therefore never exceeds the item's k.
On SQLite ``select_for_update`` is a no-op, but SQLite has one writer at a time, so the
recount inside the transaction keeps the same guarantee there.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from analysis.models import Assessor, Collection, HardnessAnalysis, Judgment, Passage, Query
from annotation import selectors
from annotation.models import AddedReason, Assignment, Campaign, Item, LabelHistory, ReasonVerdict
from annotation.rows import Joined, fetch
from annotation.selectors import campaign_progress  # noqa: F401  re-exported: the API reads it from here

# A lease request tries this many candidates that turned out full after locking
# (their last slot was taken between our snapshot and our lock) before giving up.
_MAX_LEASE_ATTEMPTS = 25


class AnnotationError(Exception):
    """A request the annotation rules refuse; the message is fit to show to the user."""


class NotAllowed(AnnotationError):
    """The user may not act on this campaign or assignment."""


class LeaseLost(AnnotationError):
    """The lease expired and the item's last slot went to someone else."""


class AlreadySubmitted(AnnotationError):
    """A different answer for an assignment that is already done (use undo first)."""


class InvalidLabel(AnnotationError):
    """The submitted grade or verdicts do not fit the item."""


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
) -> list[tuple[Query, Passage | None]]:
    """The (query, passage) targets of a new campaign's items, by kind."""
    targets: list[tuple[Query, Passage | None]]
    if kind == Campaign.REASONS:
        if task not in {"h2r", "h2g", "h2j"}:
            raise AnnotationError("a reasons campaign needs --task h2r, h2g or h2j")
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
            raise AnnotationError("a relevance campaign needs pairs or --from-assessor A --limit N")
        targets = [
            (row.query, row.passage)
            for row in selectors.disagreement_pairs(collection=collection, assessor=from_assessor, limit=limit)
        ]
    else:
        raise AnnotationError("a cascade campaign needs the relabeled (qid, docid) pairs")
    return targets



def campaign_create(
    *,
    name: str,
    kind: str,
    collection: Collection,
    annotators: Sequence[AbstractBaseUser],
    overlap: int = 1,
    task: str = "",
    analysis: HardnessAnalysis | None = None,
    from_assessor: Assessor | None = None,
    limit: int | None = None,
    pairs: Iterable[tuple[str, str]] | None = None,
    cascade_job: int | None = None,
    gold: Iterable[Mapping[str, Any]] = (),
    gold_count: int = 0,
    guidelines: str = "",
    grade_meanings: Mapping[Any, str] | None = None,
    blind: bool = False,
    reveal_after_commit: bool = False,
    lease_seconds: int = 900,
    created_by: AbstractBaseUser | None = None,
) -> Campaign:
    """Create a campaign and its items.

    Items: ``reasons`` takes the hard queries of ``analysis`` (default: the latest done
    analysis of ``task`` on the collection); ``relevance`` takes ``pairs`` (qid, docid) or
    the ``limit`` judged pairs where ``from_assessor`` and the official qrels disagree
    most; ``cascade`` takes ``pairs`` or the relabeled pairs of the judges app's cascade
    job ``cascade_job`` (their passages must be in the collection). ``gold``
    items (``{"qid", "docid", "grade"}`` or ``{"qid", "verdicts": {reason_id: verdict}}``)
    are spread evenly among them and shown to every annotator; ``gold_count`` adds that
    many relevance gold items taken from the official qrels (where ``from_assessor``
    agrees with them, when given).
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

    try:
        if kind == Campaign.CASCADE and pairs is None and cascade_job is not None:
            pairs = selectors.cascade_pairs(job_id=cascade_job)
        targets = _select_targets(
            kind=kind, collection=collection, task=task, analysis=analysis, from_assessor=from_assessor,
            limit=limit, pairs=pairs,
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
    if kind == Campaign.REASONS and analysis is None:
        analysis = selectors.latest_analysis(collection=collection, task=task)
    if not targets:
        raise AnnotationError("the selection is empty: no items to annotate")

    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name, kind=kind, task=task if kind == Campaign.REASONS else "", collection=collection,
            analysis=analysis, reference_assessor=from_assessor, overlap=overlap, guidelines=guidelines,
            grade_meanings=meanings, blind=blind, reveal_after_commit=reveal_after_commit, lease_seconds=lease_seconds,
            created_by=created_by,
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
        Item.objects.bulk_create(items, batch_size=1000)
        for user in annotators:
            annotator_assessor(user=user)
    return campaign


def campaign_set_status(*, campaign: Campaign, status: str) -> Campaign:
    """Open or close a campaign (closing reveals everyone's labels to the annotators)."""
    if status not in {Campaign.OPEN, Campaign.CLOSED}:
        raise AnnotationError(f"unknown status {status!r}")
    campaign.status = status
    campaign.save(update_fields=["status"])
    return campaign


# --- leases -------------------------------------------------------------------------

def _check_member(*, campaign: Campaign, user: AbstractBaseUser, is_member: bool | None = None) -> None:
    """Refuse non-members; ``is_member`` is the answer when the caller read it already."""
    if is_member is None:
        is_member = campaign.annotators.filter(pk=user.pk).exists()
    if not is_member:
        raise NotAllowed("you are not an annotator of this campaign")


# The next free item for a user, locked (plain SQL: this runs on every submit, and
# building the ORM version with its EXISTS and counting subquery cost more CPU than
# running it). A free item is one with fewer than k completed annotations, not tried
# yet in this call, neither done nor skipped by the user, whose live leases leave room.
# SQLite has no row locks (and one writer at a time): the locking clause is PostgreSQL's.
_I, _A = Item._meta.db_table, Assignment._meta.db_table
_ITEM_ROW = Joined(("i", Item, None))
_LOCKED_ROW = Joined(("a", Assignment, None), ("i", Item, ("a", "item")), ("c", Campaign, ("i", "campaign")))


def _free_item_sql(n_tried: int) -> str:
    tried = f" AND i.id NOT IN ({', '.join(['%s'] * n_tried)})" if n_tried else ""
    lock = " FOR UPDATE OF i SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    return (
        f"SELECT {_ITEM_ROW.columns()} FROM {_I} i WHERE i.campaign_id = %s AND i.completed_count < i.overlap{tried}"
        f" AND NOT EXISTS (SELECT 1 FROM {_A} a WHERE a.item_id = i.id AND a.user_id = %s AND a.status IN (%s, %s))"
        f" AND (SELECT COUNT(*) FROM {_A} a WHERE a.item_id = i.id AND a.status = %s AND a.expires_at > %s)"
        f" < i.overlap - i.completed_count ORDER BY i.position, i.id LIMIT 1{lock}"
    )


# Other people's live leases on an item (the recount once it is locked).
_OTHER_LEASES_SQL = (
    f"SELECT COUNT(*) FROM {_A} WHERE item_id = %s AND status = %s AND expires_at > %s AND user_id <> %s"
)
# A new lease, or the user's own expired lease on the item taken again (one row per item
# and user), in one statement.
_LEASE_SQL = (
    f"INSERT INTO {_A} (item_id, user_id, status, leased_at, expires_at, seconds_spent, comment, skip_reason, draft)"
    " VALUES (%s, %s, %s, %s, %s, 0, '', '', '{}')"
    " ON CONFLICT (item_id, user_id) DO UPDATE SET status = excluded.status, leased_at = excluded.leased_at,"
    " expires_at = excluded.expires_at RETURNING id"
)


def assignment_next(
    *, campaign: Campaign, user: AbstractBaseUser, is_member: bool | None = None, resume_for_screen: bool = True
) -> Assignment | None:
    """The user's current lease in the campaign, or a new lease on the next free item.

    A free item is one the user has neither done nor skipped whose completed
    annotations plus other people's live leases are fewer than its k. Returns None when
    nothing is left for this user (or the campaign is closed). ``is_member``: whether the
    user is an annotator of the campaign, when the caller read it in this request
    (saves a query); otherwise it is checked here. ``resume_for_screen``: a resumed lease
    comes loaded with everything the screen reads (one query instead of two); callers
    that rarely find one (right after a submit) pass False to read the bare row.
    """
    _check_member(campaign=campaign, user=user, is_member=is_member)
    if not campaign.is_open:
        return None
    now = timezone.now()
    current = selectors.current_lease(campaign_id=campaign.pk, user_id=user.pk, now=now, for_screen=resume_for_screen)
    if current is not None:
        return current

    tried: list[int] = []
    for _ in range(_MAX_LEASE_ATTEMPTS):
        with transaction.atomic():
            rows = fetch(_free_item_sql(len(tried)), [
                campaign.pk, *tried, user.pk, Assignment.DONE, Assignment.SKIPPED, Assignment.LEASED, now,
            ])
            if not rows:
                return None
            item = _ITEM_ROW.first(rows[0])
            # The subquery above read a snapshot taken before we held the lock: count
            # again now that nobody else can lease or complete this item.
            others = fetch(_OTHER_LEASES_SQL, [item.pk, Assignment.LEASED, now, user.pk])[0][0]
            if item.completed_count + others >= item.overlap:
                tried.append(item.pk)
                continue
            # The returned object holds the lease fields only; the screen reloads the row
            # with everything it reads.
            expires = now + timedelta(seconds=campaign.lease_seconds)
            (pk,), = fetch(_LEASE_SQL, [item.pk, user.pk, Assignment.LEASED, now, expires])
            lease = Assignment(
                pk=pk, item=item, user=user, status=Assignment.LEASED, leased_at=now, expires_at=expires,
            )
            lease._state.adding = False
            return lease
    return None


def _lock_with_item(*, pk: int) -> Assignment:
    """Lock an assignment and its item in one statement (always in this order, so that
    submit and undo never wait on each other crosswise); the item and its campaign
    (not locked) come with it."""
    lock = " FOR UPDATE OF a, i" if connection.features.has_select_for_update_of else ""
    rows = fetch(
        f"SELECT {_LOCKED_ROW.columns()} FROM {_A} a INNER JOIN {_I} i ON i.id = a.item_id"
        f" INNER JOIN {Campaign._meta.db_table} c ON c.id = i.campaign_id WHERE a.id = %s{lock}",
        (pk,),
    )
    if not rows:
        raise Assignment.DoesNotExist(f"no assignment {pk}")
    return _LOCKED_ROW.first(rows[0])


def _normalise_verdicts(verdicts: Any) -> dict[int, dict[str, Any]]:
    """Accept ``{reason_id: "agree"}``, ``{reason_id: {"verdict", "category"}}`` or a list of dicts."""
    if verdicts is None:
        return {}
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(verdicts, Mapping):
        pairs = verdicts.items()
    else:
        pairs = ((v.get("reason"), v) for v in verdicts)
    out: dict[int, dict[str, Any]] = {}
    for reason_id, value in pairs:
        if isinstance(value, str):
            value = {"verdict": value}
        try:
            rid = int(reason_id)
        except (TypeError, ValueError) as exc:
            raise InvalidLabel(f"bad reason id {reason_id!r}") from exc
        verdict = value.get("verdict")
        if verdict not in {ReasonVerdict.AGREE, ReasonVerdict.DISAGREE, ReasonVerdict.UNSURE}:
            raise InvalidLabel(f"verdict for reason {rid} must be agree, disagree or unsure")
        category = value.get("category") or None
        out[rid] = {"verdict": verdict, "category": int(category) if category else None}
    return out


def _normalise_added(added: Any) -> list[dict[str, Any]]:
    out = []
    for entry in added or []:
        if isinstance(entry, str):
            entry = {"text": entry}
        text = (entry.get("text") or "").strip()
        if text:
            category = entry.get("category") or None
            out.append({"text": text, "category": int(category) if category else None})
    return out


def _answer_of(assignment: Assignment) -> dict[str, Any]:
    """What an assignment holds now, as stored in LabelHistory and compared on retries."""
    return {
        "grade": assignment.grade,
        "verdicts": {
            str(v.reason_id): {"verdict": v.verdict, "category": v.category_id}
            for v in assignment.verdicts.all()
        },
        "added": [{"text": a.text, "category": a.category_id} for a in assignment.added_reasons.order_by("pk")],
        "comment": assignment.comment,
        "confidence": assignment.confidence,
    }



def _commit_submit(
    *,
    history: LabelHistory,
    assignment: Assignment,
    item: Item,
    now: Any,
    verdicts: Mapping[int, Mapping[str, Any]],
    added: Sequence[Mapping[str, Any]],
) -> int:
    """Write the submit's verdicts, added reasons, history row, the done assignment and
    the item's bumped count in one statement; returns the item's new completed count.

    Three ORM statements cost three round trips and three query compilations on the
    hottest write of the app; the caller holds the locks on both rows, so one plain SQL
    statement with data-modifying CTEs does the same work (PostgreSQL runs all of them
    whatever the outer query reads).
    """
    h, a, i = LabelHistory._meta.db_table, Assignment._meta.db_table, Item._meta.db_table
    v, ar = ReasonVerdict._meta.db_table, AddedReason._meta.db_table
    # Empty arrays insert no rows, so relevance submits (and no added reason) run the
    # same statement. unnest() of several arrays zips them row by row.
    sql = (
        f"WITH ver AS (INSERT INTO {v} (assignment_id, reason_id, verdict, category_id)"
        " SELECT %s, r, vd, c FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS t(r, vd, c)),"
        f" addr AS (INSERT INTO {ar} (assignment_id, text, category_id)"
        " SELECT %s, tx, c FROM unnest(%s::text[], %s::bigint[]) AS t(tx, c)),"
        f" hist AS (INSERT INTO {h} (user_id, at, action, item_id, assignment_id, target, before, after)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)),"
        f" asg AS (UPDATE {a} SET status = %s, submitted_at = %s, grade = %s, comment = %s, confidence = %s,"
        " seconds_spent = %s, draft = %s::jsonb WHERE id = %s)"
        f" UPDATE {i} SET completed_count = completed_count + 1 WHERE id = %s RETURNING completed_count"
    )
    params = [
        assignment.pk, list(verdicts), [x["verdict"] for x in verdicts.values()],
        [x["category"] for x in verdicts.values()],
        assignment.pk, [x["text"] for x in added], [x["category"] for x in added],
        history.user_id, now, history.action, item.pk, assignment.pk, history.target,
        None if history.before is None else json.dumps(history.before), json.dumps(history.after),
        assignment.status, assignment.submitted_at, assignment.grade, assignment.comment, assignment.confidence,
        assignment.seconds_spent, json.dumps(assignment.draft), assignment.pk,
        item.pk,
    ]
    if connection.vendor != "postgresql":  # the embedded SQLite: the same writes, one by one
        return _commit_submit_portable(history=history, assignment=assignment, item=item, verdicts=verdicts,
                                       added=added)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _commit_submit_portable(
    *,
    history: LabelHistory,
    assignment: Assignment,
    item: Item,
    verdicts: Mapping[int, Mapping[str, Any]],
    added: Sequence[Mapping[str, Any]],
) -> int:
    """``_commit_submit`` with the ORM, for databases without data-modifying CTEs."""
    ReasonVerdict.objects.bulk_create([
        ReasonVerdict(assignment_id=assignment.pk, reason_id=rid, verdict=v["verdict"], category_id=v["category"])
        for rid, v in verdicts.items()
    ])
    AddedReason.objects.bulk_create([
        AddedReason(assignment_id=assignment.pk, text=x["text"], category_id=x["category"]) for x in added
    ])
    history.save()
    assignment.save(update_fields=["status", "submitted_at", "grade", "comment", "confidence", "seconds_spent",
                                   "draft"])
    Item.objects.filter(pk=item.pk).update(completed_count=F("completed_count") + 1)
    return Item.objects.values_list("completed_count", flat=True).get(pk=item.pk)


def assignment_submit(
    *,
    assignment: Assignment,
    user: AbstractBaseUser,
    grade: int | None = None,
    verdicts: Any = None,
    added_reasons: Any = None,
    comment: str = "",
    confidence: int | None = None,
    seconds_spent: float | None = None,
) -> Assignment:
    """Commit the user's answer to their assignment.

    Relevance and cascade items take a ``grade`` 0-3, written as the Judgment of the
    user's human assessor; reasons items take a verdict for every proposed reason
    (``{reason_id: {"verdict": "agree", "category": id}}``) and optional added reasons.
    Retrying an identical submit of a done assignment succeeds and changes nothing.
    """
    if assignment.user_id != user.pk:
        raise NotAllowed("this assignment belongs to someone else")
    verdict_map = _normalise_verdicts(verdicts)
    added = _normalise_added(added_reasons)
    if confidence in ("", None):
        confidence = None
    else:
        confidence = int(confidence)
        if not 1 <= confidence <= 5:
            raise InvalidLabel("confidence must be between 1 and 5")
    comment = (comment or "").strip()
    now = timezone.now()

    with transaction.atomic():
        # The assignment and its item locked in one statement (the item's lock serialises
        # the completed_count bump with leases and other submits).
        current = _lock_with_item(pk=assignment.pk)
        item = current.item
        campaign = item.campaign
        is_relevance = campaign.kind in {Campaign.RELEVANCE, Campaign.CASCADE}

        if is_relevance:
            try:
                grade = int(grade)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise InvalidLabel("choose a grade from 0 to 3") from exc
            if not 0 <= grade <= 3:
                raise InvalidLabel("choose a grade from 0 to 3")
        else:
            grade = None
            reason_ids = set(selectors.item_reason_ids(item=item, task=campaign.task))
            if set(verdict_map) - reason_ids:
                raise InvalidLabel("a verdict names a reason that is not proposed for this query")
            missing = reason_ids - set(verdict_map)
            if missing:
                raise InvalidLabel(f"give a verdict for every proposed reason ({len(missing)} missing)")

        if current.status == Assignment.DONE:
            before = _answer_of(current)
            wanted = {
                "grade": grade,
                "verdicts": {str(k): v for k, v in verdict_map.items()},
                "added": added,
                "comment": comment,
                "confidence": confidence,
            }
            if before == wanted:
                return current  # a retried request: already committed, nothing to change
            raise AlreadySubmitted("this item is already submitted; undo it to change the answer")
        if current.status != Assignment.LEASED:
            raise AnnotationError("this item was skipped")
        if not campaign.is_open:
            raise AnnotationError("the campaign is closed")
        if item.completed_count >= item.overlap:
            raise LeaseLost("this item already has all its annotations")
        if current.expires_at <= now:
            others = (
                Assignment.objects.filter(item=item, status=Assignment.LEASED, expires_at__gt=now)
                .exclude(user=user)
                .count()
            )
            if item.completed_count + others >= item.overlap:
                raise LeaseLost("your lease expired and the item went to someone else")

        history: list[LabelHistory] = []
        if is_relevance:
            assessor = annotator_assessor(user=user)
            judgment = Judgment.objects.filter(assessor=assessor, query_id=item.query_id, passage_id=item.passage_id).first()
            previous = judgment.grade if judgment else None
            if judgment is None:
                Judgment.objects.create(
                    assessor=assessor, query_id=item.query_id, passage_id=item.passage_id, grade=grade, valid=True
                )
            else:
                judgment.grade, judgment.valid = grade, True
                judgment.save(update_fields=["grade", "valid", "updated_at"])
            history.append(
                LabelHistory(
                    user=user, action="submit", item=item, assignment=current,
                    target=f"judgment {assessor.name} q{item.query_id} p{item.passage_id}",
                    before=None if previous is None else {"grade": previous}, after={"grade": grade},
                )
            )
        else:
            # the verdicts and added reasons are inserted by _commit_submit below
            history.append(
                LabelHistory(
                    user=user, action="submit", item=item, assignment=current, target=f"verdicts item {item.pk}",
                    before=None,
                    after={"verdicts": {str(k): v for k, v in verdict_map.items()}, "added": added},
                )
            )
        spent = seconds_spent if seconds_spent is not None else (now - current.leased_at).total_seconds()
        current.status = Assignment.DONE
        current.submitted_at = now
        current.grade = grade
        current.comment = comment
        current.confidence = confidence
        current.seconds_spent = (current.seconds_spent or 0) + max(0.0, float(spent))
        current.draft = {}
        item.completed_count = _commit_submit(
            history=history[0], assignment=current, item=item, now=now,
            verdicts={} if is_relevance else verdict_map, added=[] if is_relevance else added,
        )
    return current


def assignment_skip(*, assignment: Assignment, user: AbstractBaseUser, reason: str) -> Assignment:
    """Give the item back with a reason; the user is not offered it again."""
    if assignment.user_id != user.pk:
        raise NotAllowed("this assignment belongs to someone else")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidLabel("say why you skip this item")
    updated = Assignment.objects.filter(pk=assignment.pk, status=Assignment.LEASED).update(
        status=Assignment.SKIPPED, skip_reason=reason, draft={}
    )
    if not updated:
        raise AnnotationError("only an open item can be skipped")
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
        .order_by("-submitted_at", "-pk")
        .first()
    )
    if last is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        last = _lock_with_item(pk=last.pk)
        item = last.item
        if last.status != Assignment.DONE:
            return None
        before = _answer_of(last)
        if campaign.kind in {Campaign.RELEVANCE, Campaign.CASCADE}:
            assessor = annotator_assessor(user=user)
            Judgment.objects.filter(assessor=assessor, query_id=item.query_id, passage_id=item.passage_id).delete()
            target = f"judgment {assessor.name} q{item.query_id} p{item.passage_id}"
            draft: dict[str, Any] = {"grade": str(last.grade) if last.grade is not None else ""}
        else:
            target = f"verdicts item {item.pk}"
            draft = {f"verdict_{rid}": v["verdict"] for rid, v in before["verdicts"].items()}
            draft.update({f"category_{rid}": str(v["category"] or "") for rid, v in before["verdicts"].items()})
            draft["added_text"] = [a["text"] for a in before["added"]]
            last.verdicts.all().delete()
            last.added_reasons.all().delete()
        draft.update({"comment": last.comment, "confidence": str(last.confidence or "")})
        LabelHistory.objects.create(
            user=user, action="undo", item=item, assignment=last, target=target, before=before, after=None
        )
        last.status = Assignment.LEASED
        last.submitted_at = None
        last.leased_at = now
        last.expires_at = now + timedelta(seconds=campaign.lease_seconds)
        last.draft = draft
        last.save(update_fields=["status", "submitted_at", "leased_at", "expires_at", "draft"])
        item.completed_count = F("completed_count") - 1
        item.save(update_fields=["completed_count"])
    return last


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
        item.final_verdicts = {str(k): v["verdict"] for k, v in _normalise_verdicts(verdicts).items()}
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
    "annotator_assessor", "campaign_create", "campaign_set_status", "campaign_progress",
    "assignment_next", "assignment_submit", "assignment_skip", "assignment_save_draft", "assignment_undo",
    "item_adjudicate",
]

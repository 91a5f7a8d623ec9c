"""Reads of the annotation app: item selection, the annotation screen, progress, review.

The screen selector runs a fixed number of SQL queries whatever the number of reasons or
passages (checked by tests with ``django_assert_num_queries``).
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from typing import Any
from xml.etree.ElementTree import Element

import markdown
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, Exists, F, FloatField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Abs, Cast
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

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
    Run,
    RunRow,
    System,
)
from annotation.models import GRADE_MEANINGS, Assignment, Campaign, Item, ReasonVerdict
from judges import selectors as judges_selectors
from annotation.rows import Joined, fetch

EVIDENCE_ROWS = 10


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


def disagreement_pairs(*, collection: Collection, assessor: Assessor, limit: int) -> list[Judgment]:
    """The ``limit`` pairs judged by ``assessor`` and the official qrels that differ most.

    Each returned Judgment (of ``assessor``) carries ``official_grade`` and ``gap``; ties
    are broken by qid and docid so that the selection is reproducible.
    """
    official = Judgment.objects.filter(
        query=OuterRef("query"), passage=OuterRef("passage"), assessor__kind=Assessor.OFFICIAL, grade__isnull=False
    ).values("grade")[:1]
    rows = (
        Judgment.objects.filter(assessor=assessor, query__collection=collection, valid=True, grade__isnull=False)
        .annotate(official_grade=Subquery(official))
        .filter(official_grade__isnull=False)
        .annotate(gap=Abs(F("grade") - F("official_grade")))
        .select_related("query", "passage")
        .order_by("-gap", "query__qid", "passage__docid")
    )
    return list(rows[:limit])


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


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def item_reason_ids(*, item: Item, task: str) -> list[int]:
    """The ids of every reason proposed for the item's query and task (plain SQL: it runs
    on every reasons submit)."""
    sql = (
        f"SELECT r.id FROM {_table(Reason)} r INNER JOIN {_table(ReasonProposal)} pr ON pr.id = r.proposal_id"
        " WHERE pr.query_id = %s AND pr.task = %s"
    )
    return [rid for (rid,) in fetch(sql, (item.query_id, task))]


# --- guidelines ---------------------------------------------------------------------

class _SafeLinks(markdown.treeprocessors.Treeprocessor):
    """Drop link targets that are not http(s), mailto or relative (no javascript: URLs)."""

    def run(self, root: Element) -> None:
        for el in root.iter():
            for attr in ("href", "src"):
                value = el.get(attr)
                if value is not None:
                    lowered = value.strip().lower()
                    if ":" in lowered.split("/")[0] and not lowered.startswith(("http:", "https:", "mailto:")):
                        el.set(attr, "#")


class _NoRawHtml(markdown.Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Markdown's API name)
        md.treeprocessors.register(_SafeLinks(md), "hardq_safe_links", 0)


@lru_cache(maxsize=64)
def render_guidelines(text: str) -> SafeString:
    """Markdown to HTML with any raw HTML in the source shown as text.

    The source is escaped before Markdown sees it, so tags typed into the guidelines
    become visible text; Markdown syntax (which uses no < or &) still renders.
    """
    html = markdown.markdown(escape(text or ""), extensions=[_NoRawHtml()])
    return mark_safe(html)  # noqa: S308 - built from escaped source, links filtered


# --- progress -----------------------------------------------------------------------

def _progress_fields(*, campaign_sql: str, user_sql: str | None = None, params: tuple = ()) -> dict[str, RawSQL]:
    """Scalar subqueries of the progress counts, as plain SQL.

    ``campaign_sql`` and ``user_sql`` are SQL expressions for the campaign id and user id
    (an outer column, or ``%s`` with its value in ``params``, used once each). Written as
    SQL rather than ORM subqueries because they are on every screen: building and
    compiling six ORM subqueries cost several milliseconds of CPU per request, more
    than running them. The SQL is portable (PostgreSQL and SQLite).
    """
    item, assignment = _table(Item), _table(Assignment)
    members = _table(Campaign.annotators.through)
    campaign_params = params[:1]
    fields = {
        "n_items": RawSQL(f"SELECT COUNT(*) FROM {item} WHERE campaign_id = {campaign_sql}", campaign_params),
        "n_slots": RawSQL(f"SELECT SUM(overlap) FROM {item} WHERE campaign_id = {campaign_sql}", campaign_params),
        "n_completed": RawSQL(
            f"SELECT SUM(completed_count) FROM {item} WHERE campaign_id = {campaign_sql}", campaign_params
        ),
    }
    if user_sql is not None:
        mine = (
            f"SELECT COUNT(*) FROM {assignment} pa INNER JOIN {item} pi ON pa.item_id = pi.id "
            f"WHERE pi.campaign_id = {campaign_sql} AND pa.user_id = {user_sql} AND pa.status = %s"
        )
        fields.update(
            n_annotators=RawSQL(f"SELECT COUNT(*) FROM {members} WHERE campaign_id = {campaign_sql}", campaign_params),
            n_done=RawSQL(mine, (*params, Assignment.DONE)),
            n_skipped=RawSQL(mine, (*params, Assignment.SKIPPED)),
        )
    return fields


def _progress_of(row: Any, *, personal: bool) -> dict[str, Any]:
    """The progress dict from the counts of ``_progress_fields`` (a dict or annotated object)."""
    get = row.get if isinstance(row, dict) else (lambda name: getattr(row, name, None))
    items_n, slots, completed = get("n_items") or 0, get("n_slots") or 0, get("n_completed") or 0
    out: dict[str, Any] = {
        "items": items_n,
        "slots": slots,
        "completed": completed,
        "percent": round(100 * completed / slots) if slots else 0,
    }
    if personal:
        n_annotators, done = get("n_annotators") or 0, get("n_done") or 0
        assigned = min(items_n, math.ceil(slots / n_annotators)) if n_annotators else 0
        out.update(
            done=done,
            skipped=get("n_skipped") or 0,
            assigned=assigned,
            my_percent=min(100, round(100 * done / assigned)) if assigned else 100,
        )
    return out


def campaign_progress(
    *, campaign: Campaign, user: AbstractBaseUser | None = None, user_id: int | None = None
) -> dict[str, Any]:
    """Campaign-wide and (with ``user``) personal progress, in one query.

    ``assigned`` is the user's share: the campaign's slots (sum of every item's k) split
    evenly over the annotators, at most one per item.
    """
    if user is not None:
        user_id = user.pk
    if user_id is None:
        fields = _progress_fields(campaign_sql="%s", params=(campaign.pk,))
    else:
        fields = _progress_fields(campaign_sql="%s", user_sql="%s", params=(campaign.pk, user_id))
    row = Campaign.objects.filter(pk=campaign.pk).values(**fields).get()
    return _progress_of(row, personal=user_id is not None)


def campaigns_for_user(*, user: AbstractBaseUser) -> list[dict[str, Any]]:
    """The campaigns the user annotates (staff: every campaign) with progress; two queries."""
    qs: QuerySet[Campaign] = Campaign.objects.select_related("collection")
    if not user.is_staff:
        qs = qs.filter(annotators=user)
    qs = qs.annotate(
        n_items=Count("items", distinct=True),
        n_slots=Sum("items__overlap"),
        n_completed=Sum("items__completed_count"),
    )
    campaigns = list(qs)
    mine = dict(
        Assignment.objects.filter(user=user, status=Assignment.DONE, item__campaign__in=campaigns)
        .values("item__campaign")
        .annotate(n=Count("pk"))
        .values_list("item__campaign", "n")
    )
    n_annotators = dict(
        Campaign.annotators.through.objects.filter(campaign__in=campaigns)
        .values("campaign")
        .annotate(n=Count("pk"))
        .values_list("campaign", "n")
    )
    out = []
    for c in campaigns:
        slots = c.n_slots or 0
        k = n_annotators.get(c.pk, 0)
        assigned = min(c.n_items, math.ceil(slots / k)) if k else 0
        out.append(
            {
                "campaign": c,
                "done": mine.get(c.pk, 0),
                "assigned": assigned,
                "completed": c.n_completed or 0,
                "slots": slots,
                "percent": round(100 * (c.n_completed or 0) / slots) if slots else 0,
            }
        )
    member_of = set(
        Campaign.annotators.through.objects.filter(user=user, campaign__in=campaigns).values_list("campaign", flat=True)
    )
    for row in out:
        row["is_member"] = row["campaign"].pk in member_of
    return out


def campaigns_with_membership(*, user: AbstractBaseUser) -> QuerySet[Campaign]:
    """Campaigns annotated with ``is_member``: whether ``user`` is one of their annotators."""
    member = Campaign.annotators.through.objects.filter(campaign_id=OuterRef("pk"), user_id=user.pk)
    return Campaign.objects.annotate(is_member=Exists(member))


def campaign_visible(*, campaign: Campaign, user: AbstractBaseUser) -> bool:
    return bool(user.is_staff or campaign.annotators.filter(pk=user.pk).exists())


# --- the annotation screen ----------------------------------------------------------

@dataclass
class Screen:
    """Everything the item template needs; built with a fixed number of queries."""

    assignment: Assignment
    campaign: Campaign
    item: Item
    query: Query
    passage: Passage | None
    blind: bool
    show_grades: bool
    reasons: list[dict[str, Any]] = field(default_factory=list)
    categories: list[FailureCategory] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    known_grades: list[dict[str, Any]] = field(default_factory=list)
    draft: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    grade_meanings: dict[int, str] = field(default_factory=lambda: dict(GRADE_MEANINGS))
    guidelines_html: str = ""
    category_options_html: str = ""


# The screen's row: the assignment with its item, campaign, analysis, query and passage.
_SCREEN_ROW = Joined(
    ("a", Assignment, None),
    ("i", Item, ("a", "item")),
    ("c", Campaign, ("i", "campaign")),
    ("an", HardnessAnalysis, ("c", "analysis")),
    ("q", Query, ("i", "query")),
    ("p", Passage, ("i", "passage")),
)
_SCREEN_SQL: dict[tuple[str, bool], tuple[str, list[str], tuple[Any, ...]]] = {}


def _screen_sql(where: str, *, progress: bool) -> tuple[str, list[str], tuple[Any, ...]]:
    """The screen row's SQL for a WHERE clause (and ORDER/LIMIT), its extra column names
    and the parameters of its select list (built once per process)."""
    key = (where, progress)
    if key not in _SCREEN_SQL:
        members = _table(Campaign.annotators.through)
        # The query's measure in the campaign's analysis (no row when the campaign has none)
        # and whether the user is still an annotator of the campaign.
        extra = {
            "hardness_value": f"(SELECT hl.value FROM {_table(HardnessLabel)} hl"
                              " WHERE hl.analysis_id = c.analysis_id AND hl.query_id = i.query_id LIMIT 1)",
            "is_member": f"EXISTS (SELECT 1 FROM {members} m WHERE m.campaign_id = i.campaign_id AND m.user_id = a.user_id)",
        }
        params: list[Any] = []
        if progress:
            for name, raw in _progress_fields(campaign_sql="i.campaign_id", user_sql="a.user_id").items():
                extra[name] = f"({raw.sql})"
                params.extend(raw.params)
        sql = (
            f"SELECT {_SCREEN_ROW.columns()}, {', '.join(extra.values())}"
            f" FROM {_table(Assignment)} a INNER JOIN {_table(Item)} i ON i.id = a.item_id"
            f" INNER JOIN {_table(Campaign)} c ON c.id = i.campaign_id"
            f" LEFT OUTER JOIN {_table(HardnessAnalysis)} an ON an.id = c.analysis_id"
            f" INNER JOIN {_table(Query)} q ON q.id = i.query_id"
            f" LEFT OUTER JOIN {_table(Passage)} p ON p.id = i.passage_id"
            f" WHERE {where}"
        )
        _SCREEN_SQL[key] = (sql, list(extra), tuple(params))
    return _SCREEN_SQL[key]


def _screen_rows(where: str, params: Iterable[Any], *, progress: bool) -> list[Assignment]:
    """Assignments with everything the screen reads, from one row each: item, query,
    passage, campaign, analysis, the query's measure in that analysis
    (``hardness_value``), whether the user is still an annotator of the campaign
    (``is_member``) and, with ``progress``, the counts of the progress bar.

    Plain SQL (see ``annotation.rows``): the ORM version of this query, with five joins
    and up to eight subqueries, cost more CPU to build than PostgreSQL took to run it.
    """
    sql, names, select_params = _screen_sql(where, progress=progress)
    out = []
    for row in fetch(sql, (*select_params, *params)):
        assignment = _SCREEN_ROW.first(row)
        for name, value in zip(names, row[_SCREEN_ROW.width:]):
            setattr(assignment, name, value)
        assignment.is_member = bool(assignment.is_member)
        assignment.has_progress = progress
        assignment.screen_loaded = True  # the views skip reloading it
        out.append(assignment)
    return out


def assignment_for_screen(*, pk: int, progress: bool = True) -> Assignment:
    """One query: the assignment with its item, query, passage, campaign and analysis."""
    rows = _screen_rows("a.id = %s", (pk,), progress=progress)
    if not rows:
        raise Assignment.DoesNotExist(f"no assignment {pk}")
    return rows[0]


# The user's latest live lease in a campaign: after an undo, the item taken back.
_CURRENT_LEASE_WHERE = (
    "i.campaign_id = %s AND a.user_id = %s AND a.status = %s AND a.expires_at > %s"
    " ORDER BY a.leased_at DESC, a.id DESC LIMIT 1"
)
_LEASE_ROW = Joined(("a", Assignment, None))


def current_lease(*, campaign_id: int, user_id: int, now: Any, for_screen: bool = True) -> Assignment | None:
    """The user's latest live lease in the campaign (one query): loaded for the screen,
    or (``for_screen=False``, for callers that rarely find one) as a bare row."""
    params = (campaign_id, user_id, Assignment.LEASED, now)
    if for_screen:
        rows = _screen_rows(_CURRENT_LEASE_WHERE, params, progress=True)
        return rows[0] if rows else None
    sql = (
        f"SELECT {_LEASE_ROW.columns()} FROM {_table(Assignment)} a INNER JOIN {_table(Item)} i"
        f" ON i.id = a.item_id WHERE {_CURRENT_LEASE_WHERE}"
    )
    found = fetch(sql, params)
    return _LEASE_ROW.first(found[0]) if found else None


def loaded_for_screen(assignment: Assignment) -> Assignment:
    """The assignment with everything the screen reads: as it is when it was loaded that
    way, read again (one query) when a service returned a bare row."""
    if getattr(assignment, "screen_loaded", False):
        return assignment
    return assignment_for_screen(pk=assignment.pk)


def item_screen(*, assignment: Assignment, reveal: bool = False) -> Screen:
    """The annotation screen of an assignment (loaded with ``assignment_for_screen``).

    In a blind campaign nothing here holds an official or LLM grade, nor the name of the
    model that proposed a reason, unless ``reveal`` (after commit, when the campaign
    allows it). Expected queries: relevance 3 (+1 when grades are shown); reasons 6
    (reasons, categories, two or three for the evidence) + 1 for progress unless the
    assignment was loaded with it.
    """
    item = assignment.item
    campaign = item.campaign
    blind = campaign.blind and not reveal
    screen = Screen(
        assignment=assignment, campaign=campaign, item=item, query=item.query, passage=item.passage,
        blind=blind, show_grades=not blind,
        draft=assignment.draft or {},
        guidelines_html=render_guidelines(campaign.guidelines),
        grade_meanings=grade_meanings(campaign),
    )
    if campaign.kind == Campaign.REASONS:
        screen.categories = _categories()
        screen.reasons = _reasons(item=item, campaign=campaign, assignment=assignment, blind=blind)
        _add_category_options(screen)
        screen.evidence = _evidence(
            item=item, campaign=campaign, show_grades=not blind, value=getattr(assignment, "hardness_value", None)
        )
    elif not blind:
        screen.known_grades = _known_grades(item=item, campaign=campaign)
    if getattr(assignment, "has_progress", False):  # counted in the row that loaded the assignment
        screen.progress = _progress_of(assignment, personal=True)
    else:
        screen.progress = campaign_progress(campaign=campaign, user_id=assignment.user_id)
    return screen


def grade_meanings(campaign: Campaign) -> dict[int, str]:
    """What grades 0-3 mean on this campaign's screen: its own wording where it has one,
    the TREC Deep Learning scale otherwise."""
    own = campaign.grade_meanings or {}
    return {g: own.get(str(g), meaning) for g, meaning in GRADE_MEANINGS.items()}


def _add_category_options(screen: Screen) -> None:
    """The ``<option>`` list of the category menus, rendered once per screen.

    Every reason has a menu of every category; rendering them in the template cost more
    CPU than the rest of the page (reasons x categories loop iterations with a filter
    each). Names are escaped by ``format_html``; ``options_html`` marks the reason's
    current category as selected, ``screen.category_options_html`` selects nothing.
    """
    # (pk, '<option value="pk"', '>name</option>'): the " selected" goes in between.
    options = [(str(cat.pk), format_html('<option value="{}"', cat.pk), format_html(">{}</option>", cat.name))
               for cat in screen.categories]
    screen.category_options_html = mark_safe("".join(head + tail for _, head, tail in options))  # noqa: S308
    for r in screen.reasons:
        r["options_html"] = mark_safe(  # noqa: S308 - pieces escaped by format_html above
            "".join(head + (" selected" if pk == r["category"] else "") + tail for pk, head, tail in options)
        )


def assignment_payload(*, assignment: Assignment) -> dict[str, Any]:
    """A JSON-ready description of a lease for the REST API (``POST /api/campaigns/{id}/next/``).

    ``item`` holds ``qid, query, docid, passage`` (docid/passage are None for reasons
    items, which list their ``reasons`` instead). Blind campaigns never name the model
    that proposed a reason, and no grade of anyone is included. Takes an assignment
    loaded by ``assignment_for_screen``; one more query for reasons items.
    """
    item = assignment.item
    campaign = item.campaign
    payload: dict[str, Any] = {
        "assignment": assignment.pk,
        "campaign": campaign.pk,
        "kind": campaign.kind,
        "task": campaign.task or None,
        "blind": campaign.blind,
        "status": assignment.status,
        "expires_at": assignment.expires_at.isoformat(),
        "item": {
            "id": item.pk,
            "qid": item.query.qid,
            "query": item.query.text,
            "docid": item.passage.docid if item.passage else None,
            "passage": item.passage.text if item.passage else None,
        },
    }
    if campaign.kind == Campaign.REASONS:
        payload["item"]["reasons"] = [
            {"id": r["id"], "text": r["text"], **({} if campaign.blind else {"model": r["model"]})}
            for r in _reasons(item=item, campaign=campaign, assignment=assignment, blind=campaign.blind)
        ]
    else:
        payload["grades"] = {str(g): meaning for g, meaning in grade_meanings(campaign).items()}
    return payload


_CATEGORY_ROW = Joined(("fc", FailureCategory, None))


def _categories() -> list[FailureCategory]:
    """The failure taxonomy in its order (plain SQL: one per reasons screen)."""
    sql = f"SELECT {_CATEGORY_ROW.columns()} FROM {_table(FailureCategory)} fc ORDER BY fc.position, fc.name"
    return [_CATEGORY_ROW.first(row) for row in fetch(sql, ())]



def _reasons(*, item: Item, campaign: Campaign, assignment: Assignment, blind: bool) -> list[dict[str, Any]]:
    """The reasons of every model for the query and task, one list.

    Blind: merged and shuffled with a seed of the assignment, so each annotator sees
    their own order and no model gets the top of the list, and the model is not named.
    """
    sql = (
        f"SELECT r.id, r.text, r.category_id, s.name FROM {_table(Reason)} r"
        f" INNER JOIN {_table(ReasonProposal)} pr ON pr.id = r.proposal_id"
        f" INNER JOIN {_table(Assessor)} s ON s.id = pr.assessor_id"
        " WHERE pr.query_id = %s AND pr.task = %s ORDER BY s.name, pr.label, r.position, r.id"
    )
    reasons = fetch(sql, (item.query_id, campaign.task))
    if blind:
        random.Random(f"hardq-{assignment.pk}").shuffle(reasons)
    draft = assignment.draft or {}
    out = []
    for n, (rid, text, category_id, model) in enumerate(reasons, start=1):
        out.append(
            {
                "n": n,
                "id": rid,
                "text": text,
                "model": None if blind else model,
                "suggested_category": category_id,
                "verdict": draft.get(f"verdict_{rid}", ""),
                "category": str(draft.get(f"category_{rid}", category_id or "")),
            }
        )
    return out


def _evidence(*, item: Item, campaign: Campaign, show_grades: bool, value: float | None) -> dict[str, Any]:
    analysis = campaign.analysis
    if analysis is None:
        return {"kind": "none"}
    subject = analysis.subject
    if campaign.task == "h2r":
        # The run's top ranks with the passages (plain SQL: one per H2R screen). Blind:
        # the official grades are not even read.
        grade_sql = "NULL"
        params: list[Any] = []
        if show_grades:
            grade_sql = (
                f"(SELECT j.grade FROM {_table(Judgment)} j INNER JOIN {_table(Assessor)} o ON o.id = j.assessor_id"
                " WHERE j.query_id = rr.query_id AND j.passage_id = rr.passage_id AND o.kind = %s"
                " AND j.grade IS NOT NULL LIMIT 1)"
            )
            params.append(Assessor.OFFICIAL)
        sql = (
            f"SELECT rr.rank, p.docid, p.text, {grade_sql} FROM {_table(RunRow)} rr"
            f" INNER JOIN {_table(Run)} run ON run.id = rr.run_id"
            f" INNER JOIN {_table(System)} sy ON sy.id = run.system_id"
            f" INNER JOIN {_table(Passage)} p ON p.id = rr.passage_id"
            " WHERE run.collection_id = %s AND sy.name = %s AND rr.query_id = %s ORDER BY rr.rank, rr.id LIMIT %s"
        )
        params += [campaign.collection_id, subject, item.query_id, EVIDENCE_ROWS]
        return {
            "kind": "h2r",
            "system": subject,
            "rows": [
                {"rank": rank, "docid": docid, "text": text, "grade": grade}
                for rank, docid, text, grade in fetch(sql, params)
            ],
            "measure": analysis.measure or "ndcg_cut_10",
            "value": value,
            "threshold": analysis.threshold,
        }
    if campaign.task == "h2g":
        setting = (analysis.parameters or {}).get("setting", Generation.ZERO_SHOT)
        generation = Generation.objects.filter(
            query_id=item.query_id, generator__name=subject, setting=setting
        ).first()
        scores = list(
            BertScore.objects.filter(query_id=item.query_id, generator__name=subject, setting=setting)
            .select_related("passage")
            .order_by("-f1", "position")[:EVIDENCE_ROWS]
        )
        return {
            "kind": "h2g",
            "generator": subject if show_grades else None,
            "generated": generation.text if generation else None,
            "rows": [
                {"docid": s.passage.docid, "text": s.passage.text, "f1": s.f1, "precision": s.precision, "recall": s.recall}
                for s in scores
            ],
            "threshold": analysis.threshold,
        }
    # H2J: the pairs where the judge and the official grades differ most.
    judged = list(
        Judgment.objects.filter(
            query_id=item.query_id, grade__isnull=False
        ).filter(Q(assessor__name=subject) | Q(assessor__kind=Assessor.OFFICIAL)).select_related("passage", "assessor")
    )
    llm = {j.passage_id: j for j in judged if j.assessor.name == subject}
    official = {j.passage_id: j.grade for j in judged if j.assessor.kind == Assessor.OFFICIAL}
    pairs = [
        (abs(j.grade - official[pid]), j.passage.docid, j, official[pid]) for pid, j in llm.items() if pid in official
    ]
    pairs.sort(key=lambda t: (-t[0], t[1]))
    return {
        "kind": "h2j",
        "judge": subject if show_grades else None,
        "rows": [
            {
                "docid": j.passage.docid,
                "text": j.passage.text,
                "llm_grade": j.grade if show_grades else None,
                "official_grade": off if show_grades else None,
            }
            for _, _, j, off in pairs[:EVIDENCE_ROWS]
        ],
    }


def _known_grades(*, item: Item, campaign: Campaign) -> list[dict[str, Any]]:
    """Official and reference-LLM grades of a pair (only shown when not blind)."""
    sql = (
        f"SELECT s.name, s.kind, j.grade FROM {_table(Judgment)} j INNER JOIN {_table(Assessor)} s"
        " ON s.id = j.assessor_id WHERE j.query_id = %s AND j.passage_id = %s AND (s.kind = %s OR s.id = %s)"
        " ORDER BY s.kind DESC, s.name"
    )
    rows = fetch(sql, (item.query_id, item.passage_id, Assessor.OFFICIAL, campaign.reference_assessor_id))
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


def campaign_review(*, campaign: Campaign) -> dict[str, Any]:
    """Per-annotator progress, gold accuracy and agreement; items with disagreement."""
    from sklearn.metrics import cohen_kappa_score

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
        kappa = cohen_kappa_score(x, y) if len(set(x) | set(y)) > 1 else None
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
    return {
        "annotators": rows,
        "pairs": pairs,
        "disagreements": disagreements,
        "progress": campaign_progress(campaign=campaign),
    }


def history_of_item(*, item: Item) -> list[Any]:
    return list(item.history.select_related("user"))

"""A campaign's labels as a flat table (CSV or JSON Lines), for analysis outside HardQ.

One row per human label: for reasons campaigns, one per verdict on a proposed reason
and one per reason the annotator added (verdict ``added``); for relevance and cascade
campaigns, one per graded pair. Skipped items are rows too (status ``skipped``, with the
reason given), so that what people could not decide is not lost. The adjudicated final
label and the gold answer sit beside every row. A fixed number of queries whatever the
campaign's size.
"""
from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from annotation.models import AddedReason, Assignment, Campaign, ReasonVerdict
from conventions.csv_cells import CsvDictWriter

FORMATS = ("csv", "jsonl")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}

COMMON = ["campaign", "item", "qid", "query", "annotator", "status", "skip_reason"]
TAIL = ["comment", "confidence", "seconds_spent", "submitted_at"]
REASONS_COLUMNS = [
    *COMMON[:4], "task", *COMMON[4:], "reason_id", "model", "reason", "llm_category", "verdict", "category",
    *TAIL, "gold_verdict", "final_verdict",
]
RELEVANCE_COLUMNS = [*COMMON[:4], "docid", *COMMON[4:], "grade", *TAIL, "gold_grade", "final_grade"]


def columns(campaign: Campaign) -> list[str]:
    return REASONS_COLUMNS if campaign.kind == Campaign.REASONS else RELEVANCE_COLUMNS


def campaign_label_rows(*, campaign: Campaign) -> Iterator[dict[str, Any]]:
    """The campaign's labels, ordered by item position and annotator (see the module)."""
    assignments = list(
        Assignment.objects.filter(item__campaign=campaign, status__in=[Assignment.DONE, Assignment.SKIPPED])
        .select_related("user", "item__query", "item__passage")
        .order_by("item__position", "item_id", "user__username")
    )
    if campaign.kind != Campaign.REASONS:
        for a in assignments:
            item = a.item
            yield {
                **_common(campaign, a),
                "docid": item.passage.docid if item.passage else None,
                "grade": a.grade,
                "gold_grade": item.gold_grade if item.is_gold else None,
                "final_grade": item.final_grade,
            }
        return
    ids = [a.pk for a in assignments]
    verdicts: dict[int, list[ReasonVerdict]] = defaultdict(list)
    for v in (
        ReasonVerdict.objects.filter(assignment__in=ids)
        .select_related("reason__proposal__assessor", "reason__category", "category")
        .order_by("reason__proposal__assessor__name", "reason__position", "reason_id")
    ):
        verdicts[v.assignment_id].append(v)
    added: dict[int, list[AddedReason]] = defaultdict(list)
    for r in AddedReason.objects.filter(assignment__in=ids).select_related("category").order_by("pk"):
        added[r.assignment_id].append(r)
    empty = {"reason_id": None, "model": None, "reason": None, "llm_category": None, "verdict": None, "category": None}
    for a in assignments:
        item = a.item
        base = {**_common(campaign, a), "task": campaign.task}
        if a.status == Assignment.SKIPPED:
            yield {**base, **empty, "gold_verdict": None, "final_verdict": None}
            continue
        for v in verdicts[a.pk]:
            reason = v.reason
            yield {
                **base,
                "reason_id": reason.pk,
                "model": reason.proposal.assessor.name,
                "reason": reason.text,
                "llm_category": reason.category.name if reason.category else None,
                "verdict": v.verdict,
                "category": v.category.name if v.category else None,
                "gold_verdict": (item.gold_verdicts or {}).get(str(reason.pk)) if item.is_gold else None,
                "final_verdict": (item.final_verdicts or {}).get(str(reason.pk)),
            }
        for r in added[a.pk]:
            yield {
                **base, **empty, "model": a.user.get_username(), "reason": r.text, "verdict": "added",
                "category": r.category.name if r.category else None, "gold_verdict": None, "final_verdict": None,
            }


def _common(campaign: Campaign, a: Assignment) -> dict[str, Any]:
    return {
        "campaign": campaign.pk,
        "item": a.item_id,
        "qid": a.item.query.qid,
        "query": a.item.query.text,
        "annotator": a.user.get_username(),
        "status": a.status,
        "skip_reason": a.skip_reason or None,
        "comment": a.comment or None,
        "confidence": a.confidence,
        "seconds_spent": round(a.seconds_spent, 3) if a.seconds_spent is not None else None,
        "submitted_at": a.submitted_at.isoformat() if a.submitted_at else None,
    }


def render(*, campaign: Campaign, fmt: str) -> Iterator[str]:
    """The export as chunks of text: CSV with a header, or one JSON object per line.

    Text is written as annotators and LLMs wrote it, except that in CSV a cell a
    spreadsheet would run as a formula (``=HYPERLINK(...)`` in a comment) gets a leading
    ``'`` (``conventions.csv_cells``); numbers stay numbers. Empty cells are None in
    JSON and empty in CSV.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    names = columns(campaign)
    if fmt == "jsonl":
        for row in campaign_label_rows(campaign=campaign):
            yield json.dumps({k: row[k] for k in names}, ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = CsvDictWriter(buffer, fieldnames=names)
    writer.writeheader()
    for n, row in enumerate(campaign_label_rows(campaign=campaign), start=1):
        writer.writerow(row)
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()

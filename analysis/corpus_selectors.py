"""Reads of the corpus tables for listings and exports (the API and any page that lists them).

Each selector returns a queryset with its joins already chosen, so that a listing runs a
constant number of queries whatever its page size.
"""
from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Avg, Count, Q, QuerySet

from analysis.models import (
    Assessor,
    Collection,
    HardnessAnalysis,
    HardnessLabel,
    ImportSource,
    Judgment,
    Passage,
    Query,
    Run,
    RunRow,
)


def collection_list() -> QuerySet[Collection]:
    """Every collection with its number of queries."""
    return Collection.objects.annotate(n_queries=Count("queries")).order_by("name")


def collection_get(*, name: str) -> Collection | None:
    return collection_list().filter(name=name).first()


def query_list(*, collection: str | None = None) -> QuerySet[Query]:
    """Queries, optionally of one collection (by name)."""
    qs = Query.objects.select_related("collection").order_by("collection__name", "qid")
    if collection:
        qs = qs.filter(collection__name=collection)
    return qs


def passage_list() -> QuerySet[Passage]:
    return Passage.objects.select_related("collection")


def assessor_list() -> QuerySet[Assessor]:
    return Assessor.objects.select_related("user").order_by("name")


def judgment_list() -> QuerySet[Judgment]:
    """Judgments with their query, passage, collection and assessor joined."""
    return Judgment.objects.select_related("query__collection", "passage", "assessor")


def run_list() -> QuerySet[Run]:
    return Run.objects.select_related("system", "collection").annotate(n_rows=Count("rows")).order_by(
        "collection__name", "system__name"
    )


def run_row_list(*, run: Run) -> QuerySet[RunRow]:
    return RunRow.objects.filter(run=run).select_related("query", "passage")


def qrels_lines(*, collection: Collection, assessor: Assessor, chunk_size: int = 5000) -> Iterator[str]:
    """One assessor's valid judgments of a collection as TREC qrels lines, sorted by qid and docid.

    Same lines as the ``export_qrels`` command (the second column is the one the
    assessor's imported file used, else ``0``; invalid LLM answers are left out), but
    read through a server-side cursor in chunks: memory stays flat however many
    judgments there are.
    """
    options = ImportSource.objects.filter(kind="judgments", collection=collection, label=assessor.name).values_list(
        "options", flat=True
    )
    column2 = next((o.get("column2") for o in options if isinstance(o, dict) and o.get("column2")), "0")
    rows = (
        Judgment.objects.filter(query__collection=collection, assessor=assessor, valid=True, grade__isnull=False)
        .order_by("query__qid", "passage__docid")
        .values_list("query__qid", "passage__docid", "grade")
        .iterator(chunk_size=chunk_size)
    )
    for qid, docid, grade in rows:
        yield f"{qid} {column2} {docid} {grade}\n"


def hardness_analysis_list() -> QuerySet[HardnessAnalysis]:
    """Every hardness analysis with its collection, hard count and hard mean (one query)."""
    return (
        HardnessAnalysis.objects.select_related("collection")
        .annotate(
            hard_count=Count("labels", filter=Q(labels__hard=True)),
            hard_mean=Avg("labels__value", filter=Q(labels__hard=True)),
            n_labels=Count("labels"),
        )
        .order_by("-created_at", "-id")
    )


def hardness_label_list(*, analysis: HardnessAnalysis) -> QuerySet[HardnessLabel]:
    """The per-query labels of an analysis with their queries, by qid."""
    return HardnessLabel.objects.filter(analysis=analysis).select_related("query").order_by("query__qid")

"""Reads of the corpus and its outputs: listings, lookups, exports, the inventory.

The one place for these reads: the pages, the API, the commands and the other apps
(judges, annotation) call them. Each listing returns a queryset with its joins already
chosen, so that a page runs a constant number of queries whatever its size.
"""
from __future__ import annotations

from collections.abc import Iterator

from typing import Any

from django.db.models import Avg, Count, Q, QuerySet

from analysis.models import (
    Assessor,
    BertScore,
    Collection,
    Generation,
    HardnessAnalysis,
    HardnessLabel,
    ImportSource,
    Judgment,
    PairwisePreference,
    Passage,
    Query,
    Reason,
    ReasonProposal,
    Run,
    RunRow,
)


def collection_list() -> QuerySet[Collection]:
    """Every collection with its number of queries (``n_queries``), by name."""
    return Collection.objects.annotate(n_queries=Count("queries")).order_by("name")


def collection_get(*, name: str) -> Collection | None:
    """The collection called ``name`` with its ``n_queries``, or None when there is none."""
    return collection_list().filter(name=name).first()


def query_list(*, collection: Collection | None = None, search: str = "") -> QuerySet[Query]:
    """Queries with their collection, by collection name then qid; optionally those of one
    collection and those whose qid or text contains ``search``.

    Ordering by qid as text keeps the order stable whatever the ids look like (ids are
    strings: "0042" stays "0042").
    """
    queries = Query.objects.select_related("collection").order_by("collection__name", "qid")
    if collection is not None:
        queries = queries.filter(collection=collection)
    search = search.strip()
    if search:
        queries = queries.filter(Q(qid__icontains=search) | Q(text__icontains=search))
    return queries


def passage_list() -> QuerySet[Passage]:
    return Passage.objects.select_related("collection")


def assessor_list() -> QuerySet[Assessor]:
    return Assessor.objects.select_related("user").order_by("name")


def assessor_get(*, name: str) -> Assessor | None:
    """The assessor called ``name``, or None when there is none."""
    return assessor_list().filter(name=name).first()


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
    """One assessor's valid judgments of a collection as TREC qrels lines
    ``qid <col2> docid grade\\n``, sorted by qid and docid (``export_qrels`` and the API).

    The second column is the one the assessor's imported file used (``Q0`` or ``0``),
    else ``0`` as trec_eval writes it; invalid LLM answers (``valid=False`` or no grade)
    are left out. Read through a server-side cursor in chunks: memory stays flat
    however many judgments there are.
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


# --- the inventory -------------------------------------------------------------------
def _counts(queryset: QuerySet[Any], *keys: str) -> dict[Any, Any]:
    """Nested ``{key1: {key2: count}}`` of a queryset grouped by ``keys``."""
    out: dict[Any, Any] = {}
    for row in queryset.values(*keys).annotate(n=Count("id")).order_by(*keys):
        node = out
        for key in keys[:-1]:
            node = node.setdefault(row[key], {})
        node[row[keys[-1]]] = row["n"]
    return out


def repeated_lists(rows: Iterator[tuple[tuple[Any, ...], str, tuple[str, ...]]]) -> list[dict[str, Any]]:
    """Group ``(key, qid, reasons)`` rows: the same non-empty list of reasons under one key
    (task, assessor, label) for several queries, as the reference script left it when it
    carried a query's list into the next one. Shared by the importer (from the file) and
    the inventory (from the database)."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for key, qid, reasons in rows:
        if reasons:
            groups.setdefault((*key, reasons), []).append(qid)
    out = [
        {"key": key[:-1], "qids": sorted(set(qids), key=lambda q: (len(q), q)), "reasons": len(key[-1])}
        for key, qids in groups.items() if len(set(qids)) > 1
    ]
    return sorted(out, key=lambda g: (tuple(str(k) for k in g["key"]), g["qids"]))


def repeated_reason_lists(*, collection: Collection, task: str | None = None,
                          label: str | None = None) -> list[dict[str, Any]]:
    """The reason lists stored for several queries of the collection under one task,
    assessor and label: ``[{"task", "assessor", "label", "qids", "reasons"}]``.
    One query over the reasons."""
    rows = Reason.objects.filter(proposal__query__collection=collection)
    if task is not None:
        rows = rows.filter(proposal__task=task)
    if label is not None:
        rows = rows.filter(proposal__label=label)
    texts: dict[int, list[str]] = {}
    keys: dict[int, tuple[tuple[str, str, str], str]] = {}
    for pid, t, assessor, lab, qid, text in rows.order_by("proposal_id", "position", "pk").values_list(
        "proposal_id", "proposal__task", "proposal__assessor__name", "proposal__label", "proposal__query__qid", "text"
    ):
        texts.setdefault(pid, []).append(text)
        keys[pid] = ((t, assessor, lab), qid)
    groups = repeated_lists((keys[pid][0], keys[pid][1], tuple(texts[pid])) for pid in texts)
    return [
        {"task": g["key"][0], "assessor": g["key"][1], "label": g["key"][2], "qids": g["qids"], "reasons": g["reasons"]}
        for g in groups
    ]


def inventory(*, collection: str | None = None) -> dict[str, Any]:
    """What the database holds, per collection; stable (no timestamps, no ids), so the
    same database always gives the same inventory.

    ``{"collections": {name: {queries, passages (with text), passages_without_text,
    judgments {assessor: n}, invalid_judgments {assessor: n}, run_rows {system: n},
    generations {generator: {setting: n}}, bertscore_rows {generator: {setting: n}},
    pairwise {assessor: n}, reason_lists {task: {assessor: n}}, repeated_reason_lists [{task,
    assessor, label, qids, reasons}] (one list stored for several queries), hardness_analyses}}}``
    """
    collections = Collection.objects.order_by("name")
    if collection is not None:
        collections = collections.filter(name=collection)
    result: dict[str, Any] = {}
    for c in collections:
        result[c.name] = {
            "queries": Query.objects.filter(collection=c).count(),
            "passages": Passage.objects.filter(collection=c, text__isnull=False).count(),
            "passages_without_text": Passage.objects.filter(collection=c, text__isnull=True).count(),
            "judgments": _counts(Judgment.objects.filter(query__collection=c, valid=True), "assessor__name"),
            "invalid_judgments": _counts(Judgment.objects.filter(query__collection=c, valid=False), "assessor__name"),
            "run_rows": _counts(RunRow.objects.filter(run__collection=c), "run__system__name"),
            "generations": _counts(Generation.objects.filter(query__collection=c), "generator__name", "setting"),
            "bertscore_rows": _counts(BertScore.objects.filter(query__collection=c), "generator__name", "setting"),
            "pairwise": _counts(PairwisePreference.objects.filter(query__collection=c), "assessor__name"),
            "reason_lists": _counts(ReasonProposal.objects.filter(query__collection=c), "task", "assessor__name"),
            "repeated_reason_lists": repeated_reason_lists(collection=c),
            "hardness_analyses": HardnessAnalysis.objects.filter(collection=c).count(),
        }
    return {"collections": result}

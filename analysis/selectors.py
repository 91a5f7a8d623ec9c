"""Reads of the corpus and its outputs."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from analysis.models import Collection, Query


def collection_overview() -> QuerySet[Collection]:
    """Collections with their number of queries, for the home page."""
    return Collection.objects.annotate(n_queries=Count("queries")).order_by("name")


def query_list(*, collection: Collection, search: str = "") -> QuerySet[Query]:
    """The queries of a collection in qid order, optionally those whose qid or text contains ``search``.

    Ordering by qid as text keeps the order stable whatever the ids look like (ids are
    strings: "0042" stays "0042").
    """
    queries = Query.objects.filter(collection=collection)
    search = search.strip()
    if search:
        queries = queries.filter(Q(qid__icontains=search) | Q(text__icontains=search))
    return queries.only("id", "qid", "text").order_by("qid")


# --- exports and the inventory -----------------------------------------------------
def qrels_lines(*, collection: str, assessor: str = "official") -> list[str]:
    """One assessor's judgments as TREC qrels lines ``qid <col2> docid grade``, sorted by
    qid then docid. Invalid LLM judgments (``valid=False`` or no grade) are left out.
    The second column is the one the assessor's imported file used (``Q0`` or ``0``),
    else ``0`` as trec_eval writes it."""
    from analysis.models import ImportSource, Judgment

    sources = ImportSource.objects.filter(kind="judgments", collection__name=collection, label=assessor)
    column2 = next((s.options.get("column2") for s in sources if s.options.get("column2")), "0")
    rows = (
        Judgment.objects.filter(query__collection__name=collection, assessor__name=assessor, valid=True,
                                grade__isnull=False)
        .values_list("query__qid", "passage__docid", "grade")
        .order_by("query__qid", "passage__docid")
    )
    return [f"{qid} {column2} {docid} {grade}" for qid, docid, grade in rows]


def _counts(queryset, *keys: str) -> dict:
    """Nested ``{key1: {key2: count}}`` of a queryset grouped by ``keys``."""
    from django.db.models import Count

    out: dict = {}
    for row in queryset.values(*keys).annotate(n=Count("id")).order_by(*keys):
        node = out
        for key in keys[:-1]:
            node = node.setdefault(row[key], {})
        node[row[keys[-1]]] = row["n"]
    return out


def inventory(*, collection: str | None = None) -> dict:
    """What the database holds, per collection; stable (no timestamps, no ids), so the
    same database always gives the same inventory.

    ``{"collections": {name: {queries, passages (with text), passages_without_text,
    judgments {assessor: n}, invalid_judgments {assessor: n}, run_rows {system: n},
    generations {generator: {setting: n}}, bertscore_rows {generator: {setting: n}},
    pairwise {assessor: n}, reason_lists {task: {assessor: n}}, hardness_analyses}}}``
    """
    from analysis.models import (
        BertScore, Collection, Generation, HardnessAnalysis, Judgment, PairwisePreference, Passage, Query,
        ReasonProposal, RunRow,
    )

    collections = Collection.objects.order_by("name")
    if collection is not None:
        collections = collections.filter(name=collection)
    result: dict = {}
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
            "hardness_analyses": HardnessAnalysis.objects.filter(collection=c).count(),
        }
    return {"collections": result}

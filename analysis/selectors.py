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

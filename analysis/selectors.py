"""Reads of the corpus and its outputs."""
from __future__ import annotations

from django.db.models import Count, QuerySet

from analysis.models import Collection


def collection_overview() -> QuerySet[Collection]:
    """Collections with their number of queries, for the home page."""
    return Collection.objects.annotate(n_queries=Count("queries")).order_by("name")

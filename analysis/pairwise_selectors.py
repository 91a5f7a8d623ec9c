"""Pairwise results: how often an LLM prefers the generated passage to the judged one.

A preference compares a judged passage (label 1) with a generated one (label 2). The
pipeline's files name the judging LLM but not always the generator: a preference whose
generation is not linked is counted under the generator ``None`` ("not named").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from analysis.models import Collection, PairwisePreference


@dataclass
class PairwiseCount:
    comparisons: int
    generated_preferred: int

    @property
    def share(self) -> float | None:
        """The share of comparisons the generated passage won (None without any)."""
        return self.generated_preferred / self.comparisons if self.comparisons else None


@dataclass
class QueryPairwise(PairwiseCount):
    qid: str = ""
    text: str = ""


@dataclass
class GeneratorPairwise(PairwiseCount):
    assessor: str = ""
    generator: str | None = None
    queries: list[QueryPairwise] = field(default_factory=list)


def pairwise_summary(*, collection: Collection) -> list[GeneratorPairwise]:
    """Per (judging assessor, generator): the overall count and one row per query.

    One query: the preferences grouped by assessor, generator and query.
    """
    rows = (
        PairwisePreference.objects.filter(query__collection=collection)
        .values("assessor__name", "generation__generator__name", "query__qid", "query__text")
        .annotate(n=Count("id"), generated=Count("id", filter=Q(label=2)))
        .order_by("assessor__name", "generation__generator__name", "query__qid")
    )
    groups: dict[tuple[str, str | None], GeneratorPairwise] = {}
    for r in rows:
        key = (r["assessor__name"], r["generation__generator__name"])
        group = groups.setdefault(key, GeneratorPairwise(0, 0, assessor=key[0], generator=key[1]))
        group.comparisons += r["n"]
        group.generated_preferred += r["generated"]
        group.queries.append(QueryPairwise(r["n"], r["generated"], qid=r["query__qid"], text=r["query__text"]))
    return list(groups.values())


def pairwise_summary_dict(*, collection: Collection) -> dict:
    """The summary as plain data (API, ``export_agreement``): full precision shares."""
    return {
        "collection": collection.name,
        "generators": [
            {"assessor": g.assessor, "generator": g.generator, "comparisons": g.comparisons,
             "generated_preferred": g.generated_preferred, "share": g.share,
             "queries": [{"qid": q.qid, "comparisons": q.comparisons, "generated_preferred": q.generated_preferred,
                          "share": q.share} for q in g.queries]}
            for g in pairwise_summary(collection=collection)
        ],
    }

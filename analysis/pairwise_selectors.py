"""Pairwise results: how often an LLM prefers the generated passage to the judged one.

A preference compares a judged passage with a generated one (``PairwisePreference``:
label 1 the judged passage, 2 the generated one, 0 a tie). A pairwise job asks both
orders and records a tie when they disagree; the pipeline's files hold one answer per
pair and no tie. The pipeline's files name the judging LLM but not the generator: a
preference whose generation is not linked is counted under the generator ``None``
("not named").

Position consistency is the share of the pairs asked in both orders whose two answers
named the same passage; ``first_position`` counts the answers, over both orders, that
named position 1 (a judge without position bias names it about half the time).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q

from analysis.models import Collection, PairwisePreference

BOTH_ORDERS = Q(forward_label__isnull=False, swapped_label__isnull=False)


@dataclass
class PairwiseCount:
    comparisons: int
    generated_preferred: int
    judged_preferred: int = 0
    ties: int = 0
    both_orders: int = 0
    consistent: int = 0
    first_position: int = 0

    @property
    def share(self) -> float | None:
        """The share of comparisons the generated passage won (None without any)."""
        return self.generated_preferred / self.comparisons if self.comparisons else None

    @property
    def tie_share(self) -> float | None:
        return self.ties / self.comparisons if self.comparisons else None

    @property
    def position_consistency(self) -> float | None:
        """The share of the pairs asked in both orders whose two answers agreed (None: none asked so)."""
        return self.consistent / self.both_orders if self.both_orders else None

    @property
    def first_position_share(self) -> float | None:
        """The share of the both-order answers that named position 1."""
        return self.first_position / (2 * self.both_orders) if self.both_orders else None

    def add(self, other: PairwiseCount) -> None:
        for name in ("comparisons", "generated_preferred", "judged_preferred", "ties", "both_orders", "consistent",
                     "first_position"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return {
            "comparisons": self.comparisons, "generated_preferred": self.generated_preferred,
            "judged_preferred": self.judged_preferred, "ties": self.ties, "share": self.share,
            "tie_share": self.tie_share, "both_orders": self.both_orders, "consistent": self.consistent,
            "position_consistency": self.position_consistency, "first_position": self.first_position,
            "first_position_share": self.first_position_share,
        }


@dataclass
class QueryPairwise(PairwiseCount):
    qid: str = ""
    text: str = ""


@dataclass
class GeneratorPairwise(PairwiseCount):
    assessor: str = ""
    generator: str | None = None
    queries: list[QueryPairwise] = field(default_factory=list)


def pairwise_summary(*, collection: Collection, generator: str | None = None) -> list[GeneratorPairwise]:
    """Per (judging assessor, generator): the overall counts and one row per query;
    only the comparisons with the passages of the generator named ``generator`` when given.

    One query: the preferences grouped by assessor, generator and query.
    """
    rows = PairwisePreference.objects.filter(query__collection=collection)
    if generator is not None:
        rows = rows.filter(generation__generator__name=generator)
    both = BOTH_ORDERS
    grouped = (
        rows.values("assessor__name", "generation__generator__name", "query__qid", "query__text")
        .annotate(
            n=Count("id"),
            generated=Count("id", filter=Q(label=PairwisePreference.GENERATED)),
            judged=Count("id", filter=Q(label=PairwisePreference.JUDGED)),
            ties=Count("id", filter=Q(label=PairwisePreference.TIE)),
            both=Count("id", filter=both),
            consistent=Count("id", filter=both & Q(forward_label=F("swapped_label"))),
            # position 1 named: the judged passage forward, the generated one swapped
            forward_first=Count("id", filter=both & Q(forward_label=PairwisePreference.JUDGED)),
            swapped_first=Count("id", filter=both & Q(swapped_label=PairwisePreference.GENERATED)),
        )
        .order_by("assessor__name", "generation__generator__name", "query__qid")
    )
    groups: dict[tuple[str, str | None], GeneratorPairwise] = {}
    for r in grouped:
        key = (r["assessor__name"], r["generation__generator__name"])
        group = groups.setdefault(key, GeneratorPairwise(0, 0, assessor=key[0], generator=key[1]))
        query = QueryPairwise(r["n"], r["generated"], r["judged"], r["ties"], r["both"], r["consistent"],
                              r["forward_first"] + r["swapped_first"], qid=r["query__qid"], text=r["query__text"])
        group.add(query)
        group.queries.append(query)
    return list(groups.values())


def pairwise_summary_dict(*, collection: Collection, generator: str | None = None) -> dict[str, Any]:
    """The summary as plain data (API, ``export_agreement``): full precision shares."""
    return {
        "collection": collection.name,
        "generator": generator,
        "generators": [
            {"assessor": g.assessor, "generator": g.generator, **g.as_dict(),
             "queries": [{"qid": q.qid, **q.as_dict()} for q in g.queries]}
            for g in pairwise_summary(collection=collection, generator=generator)
        ],
    }


def pairwise_generators(*, collection: Collection) -> list[str]:
    """The names of the generators whose passages were compared in the collection."""
    return list(
        PairwisePreference.objects.filter(query__collection=collection, generation__isnull=False)
        .values_list("generation__generator__name", flat=True).distinct().order_by("generation__generator__name")
    )

"""Reads behind agreement: aligned label arrays of any assessors on their shared pairs.

Kept apart from ``analysis/selectors.py`` because these reads return numpy arrays
for the statistics in ``analysis.agreement`` rather than querysets for pages.

The aligned read is one SQL statement per assessor set: the judgments of the first
assessor joined on (query, passage) to those of every other one, valid and graded
only. On PostgreSQL the rows come back through ``COPY ... TO STDOUT (FORMAT
binary)`` and are decoded by numpy in one call, because building a million Python
tuples (``fetchall``) costs more than the join itself; other databases use a
plain cursor.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, Max

from analysis.models import Assessor, Collection, ImportSource, Judgment, RunRow


class AgreementInputError(ValueError):
    """A collection or assessor that does not exist, or a wrong assessor list."""


@dataclass
class AlignedLabels:
    """The grades of k assessors on the n (query, passage) pairs all of them judged.

    ``grades[:, j]`` belongs to ``assessors[j]``; ``query_ids`` (database ids) say
    which query each pair belongs to, for resampling queries. Pairs are ordered by
    (query id, passage id), so the arrays are the same for the same data.
    """

    collection: str
    assessors: list[str]
    binary_scale: list[bool]
    query_ids: np.ndarray
    grades: np.ndarray

    @property
    def n(self) -> int:
        return int(self.grades.shape[0])


def resolve_assessors(*, collection: str, names: Sequence[str]) -> tuple[Collection, list[Assessor]]:
    """The collection and the named assessors, in the order given (one query each)."""
    try:
        coll = Collection.objects.get(name=collection)
    except Collection.DoesNotExist as exc:
        raise AgreementInputError(f"unknown collection {collection!r}") from exc
    names = list(names)
    if len(set(names)) != len(names):
        raise AgreementInputError("an assessor is named twice")
    found = {a.name: a for a in Assessor.objects.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise AgreementInputError(f"unknown assessor(s): {', '.join(missing)}")
    return coll, [found[n] for n in names]


def _aligned_sql(k: int) -> str:
    """The k-way join; every value cast to a fixed width so binary COPY rows are fixed size."""
    cols = ", ".join(["j0.query_id::int8"] + [f"j{i}.grade::int2" for i in range(k)])
    joins = "\n".join(
        f"JOIN analysis_judgment j{i} ON j{i}.query_id = j0.query_id AND j{i}.passage_id = j0.passage_id"
        f" AND j{i}.assessor_id = %s AND j{i}.valid AND j{i}.grade IS NOT NULL"
        for i in range(1, k)
    )
    return (
        f"SELECT {cols} FROM analysis_judgment j0\n"
        "JOIN analysis_query q ON q.id = j0.query_id AND q.collection_id = %s\n"
        f"{joins}\n"
        "WHERE j0.assessor_id = %s AND j0.valid AND j0.grade IS NOT NULL\n"
        "ORDER BY j0.query_id, j0.passage_id"
    )


def _decode_binary_copy(data: bytes, k: int) -> np.ndarray:
    """Rows of PostgreSQL's binary COPY format (int8, k x int2, no NULLs) as a structured array."""
    signature = b"PGCOPY\n\xff\r\n\x00"
    if not data.startswith(signature):
        raise ValueError("not a binary COPY stream")
    ext = int.from_bytes(data[15:19], "big")
    body = data[19 + ext : len(data) - 2]  # header, then the trailer (int16 -1)
    fields = [("nfields", ">i2"), ("len_q", ">i4"), ("query", ">i8")]
    for i in range(k):
        fields += [(f"len_{i}", ">i4"), (f"g{i}", ">i2")]
    rows = np.frombuffer(body, dtype=np.dtype(fields))
    if rows.size and (rows["nfields"] != k + 1).any():
        raise ValueError("unexpected row layout in COPY stream")
    return rows


def aligned_labels(*, collection: str, assessors: Sequence[str]) -> AlignedLabels:
    """Grades of the named assessors on the pairs of ``collection`` that all of them judged.

    Queries: the collection, the assessors, then one join over the judgments.
    """
    if len(assessors) < 2:
        raise AgreementInputError("agreement needs at least two assessors")
    coll, found = resolve_assessors(collection=collection, names=assessors)
    k = len(found)
    # Parameter order follows the SQL text: collection, joined assessors, first assessor.
    params = [coll.pk] + [a.pk for a in found[1:]] + [found[0].pk]
    sql = _aligned_sql(k)
    if connection.vendor == "postgresql":
        literal = sql % tuple(int(p) for p in params)  # ids only, all ints: safe to inline in COPY
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY ({literal}) TO STDOUT (FORMAT binary)") as copy:
                data = b"".join(bytes(block) for block in copy)
        rows = _decode_binary_copy(data, k)
        query_ids = rows["query"].astype(np.int64)
        grades = np.column_stack([rows[f"g{i}"].astype(np.int64) for i in range(k)]) if rows.size else np.zeros((0, k), dtype=np.int64)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            table = np.asarray(cursor.fetchall(), dtype=np.int64).reshape(-1, k + 1)
        query_ids, grades = table[:, 0], table[:, 1:]
    return AlignedLabels(
        collection=coll.name,
        assessors=[a.name for a in found],
        binary_scale=[a.scale == Assessor.BINARY for a in found],
        query_ids=query_ids,
        grades=grades,
    )


def collection_assessors(*, collection: str) -> list[dict[str, Any]]:
    """Assessors with judgments in the collection: name, kind, scale, model, count (one query)."""
    rows = (
        Judgment.objects.filter(query__collection__name=collection)
        .values("assessor__name", "assessor__kind", "assessor__scale", "assessor__model")
        .annotate(judgments=Count("id"), last_change=Max("updated_at"))
        .order_by("assessor__kind", "assessor__name")
    )
    return [
        {
            "name": r["assessor__name"],
            "kind": r["assessor__kind"],
            "scale": r["assessor__scale"],
            "model": r["assessor__model"],
            "judgments": r["judgments"],
            "last_change": r["last_change"],
        }
        for r in rows
    ]


def agreement_last_change(*, collection: str, assessors: Sequence[str]) -> datetime | None:
    """The latest change to any judgment the agreement of these assessors reads (for ETags)."""
    return Judgment.objects.filter(query__collection__name=collection, assessor__name__in=list(assessors)).aggregate(
        last=Max("updated_at")
    )["last"]


def assessor_sources(*, collection: str, assessors: Sequence[str]) -> list[dict[str, Any]]:
    """Per assessor: kind, scale, model, judgment count and the files its labels came from.

    Two queries: the counts per (assessor, source), then the sources themselves.
    """
    rows = list(
        Judgment.objects.filter(query__collection__name=collection, assessor__name__in=list(assessors))
        .values("assessor__name", "assessor__kind", "assessor__scale", "assessor__model", "source_id")
        .annotate(judgments=Count("id"))
        .order_by("assessor__name", "source_id")
    )
    sources = {
        s.pk: s
        for s in ImportSource.objects.filter(pk__in={r["source_id"] for r in rows if r["source_id"] is not None})
    }
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(
            r["assessor__name"],
            {
                "assessor": r["assessor__name"],
                "kind": r["assessor__kind"],
                "scale": r["assessor__scale"],
                "model": r["assessor__model"],
                "judgments": 0,
                "sources": [],
            },
        )
        entry["judgments"] += r["judgments"]
        src = sources.get(r["source_id"])
        entry["sources"].append(
            {
                "filename": src.filename if src else "(entered in HardQ)",
                "sha256": src.sha256 if src else "",
                "kind": src.kind if src else "",
                "judgments": r["judgments"],
            }
        )
    return [out[name] for name in assessors if name in out]


def qrels(*, collection: str, assessor: str) -> dict[str, dict[str, int]]:
    """One assessor's valid judgments as pytrec_eval qrels {qid: {docid: grade}} (one query)."""
    result: dict[str, dict[str, int]] = {}
    rows = Judgment.objects.filter(
        query__collection__name=collection, assessor__name=assessor, valid=True, grade__isnull=False
    ).values_list("query__qid", "passage__docid", "grade")
    for qid, docid, grade in rows.iterator(chunk_size=20000):
        result.setdefault(qid, {})[docid] = int(grade)
    return result


def runs(*, collection: str) -> dict[str, dict[str, dict[str, float]]]:
    """Every run of the collection as {system: {qid: {docid: score}}} (one query)."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    rows = RunRow.objects.filter(run__collection__name=collection).values_list(
        "run__system__name", "query__qid", "passage__docid", "score"
    )
    for system, qid, docid, score in rows.iterator(chunk_size=20000):
        result.setdefault(system, {}).setdefault(qid, {})[docid] = float(score)
    return result

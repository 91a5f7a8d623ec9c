"""Reads behind agreement: aligned label arrays of any assessors on their shared pairs.

Kept apart from ``analysis/selectors.py`` because these reads return numpy arrays
for the statistics in ``analysis.agreement`` rather than querysets for pages.

Each assessor's valid grades in a collection are kept as a packed copy
(``LabelArray``: sorted int64 pair keys and int8 grades) and aligned in numpy. Why:
joining two million judgment rows, or turning them into Python tuples, takes
seconds (bench/agreement_bench.py, BENCHMARKS.md), reading two packed arrays takes
milliseconds. A copy is used while its version equals the assessor's
``LabelVersion``, which the one write path (``analysis.judgments``) renews in the
transaction of every write; a stale or missing copy is rebuilt on the next read.
The same code runs on SQLite; only reading the judgments for a rebuild differs
(one PostgreSQL aggregate that packs them server-side, ``values_list`` elsewhere).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Case, Count, F, Max, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from analysis import agreement
from analysis.models import (
    Assessor,
    Collection,
    ImportSource,
    Judgment,
    LabelArray,
    LabelVersion,
    Query,
    RunRow,
)


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


class LabelSource:
    """The labels of a set of assessors in one collection, read once, aligned on demand.

    A report compares many pairs of the same assessors; reading every assessor's
    array once keeps the number of queries of a page independent of the number of
    pairs. Queries on creation: the collection, the assessors, one read of the fresh
    arrays, plus per stale array its version, its judgments and one upsert.
    """

    def __init__(self, *, collection: str, assessors: Sequence[str]) -> None:
        self.collection, found = resolve_assessors(collection=collection, names=assessors)
        self.assessors = {a.name: a for a in found}
        self.arrays = label_arrays(collection_id=self.collection.pk, assessor_ids=[a.pk for a in found])

    def aligned(self, names: Sequence[str]) -> AlignedLabels:
        """Grades of ``names`` (a subset of the source's assessors) on the pairs all judged."""
        if len(names) < 2:
            raise AgreementInputError("agreement needs at least two assessors")
        if len(set(names)) != len(names):
            raise AgreementInputError("an assessor is named twice")
        missing = [n for n in names if n not in self.assessors]
        if missing:
            raise AgreementInputError(f"unknown assessor(s): {', '.join(missing)}")
        found = [self.assessors[n] for n in names]
        query_ids, grades = _align([self.arrays[a.pk] for a in found])
        return AlignedLabels(
            collection=self.collection.name,
            assessors=[a.name for a in found],
            binary_scale=[a.scale == Assessor.BINARY for a in found],
            query_ids=query_ids,
            grades=grades,
        )


    def coverage(self, reference: str, assessor: str) -> dict[str, Any]:
        """``agreement.pair_coverage`` of ``assessor`` on ``reference``'s pairs (no query)."""
        keys = [self.arrays[self.assessors[name].pk][0] for name in (reference, assessor)]
        return agreement.pair_coverage(keys[0], keys[1])


def aligned_labels(*, collection: str, assessors: Sequence[str]) -> AlignedLabels:
    """Grades of the named assessors on the pairs of ``collection`` that all of them judged.

    The grades come from each assessor's packed label array (rebuilt from the
    judgments when a write renewed the assessor's version), aligned in numpy; see
    ``LabelSource`` for the queries.
    """
    if len(assessors) < 2:
        raise AgreementInputError("agreement needs at least two assessors")
    return LabelSource(collection=collection, assessors=assessors).aligned(list(assessors))


def _align(arrays: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Intersect sorted pair keys of k assessors; (query ids, (n, k) grades) in key order."""
    common = arrays[0][0]
    picks = [np.arange(common.size)]
    for keys, _ in arrays[1:]:
        if keys.size == 0 or common.size == 0:
            common = common[:0]
            picks = [p[:0] for p in picks] + [np.zeros(0, dtype=np.int64)]
            continue
        pos = np.minimum(np.searchsorted(keys, common), keys.size - 1)
        hit = keys[pos] == common
        common = common[hit]
        picks = [p[hit] for p in picks] + [pos[hit]]
    grades = np.column_stack([g[p].astype(np.int64) for (_, g), p in zip(arrays, picks)])
    return common >> 32, grades


_KEY_LIMIT = 1 << 31  # query ids below it and passage ids below 2**32 pack into one int64


def label_arrays(*, collection_id: int, assessor_ids: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each assessor's sorted pair keys and grades in the collection, fresh.

    A stored array is used when its version equals the assessor's current
    LabelVersion (one statement reads both, so they are consistent). A stale or
    missing one is rebuilt: the version is read *before* the judgments, so a write
    committed in between leaves the new copy marked stale rather than wrong.
    """
    current = Coalesce(
        Subquery(LabelVersion.objects.filter(assessor_id=OuterRef("assessor_id")).values("version")[:1]), Value(0)
    )
    fresh = LabelArray.objects.filter(
        collection_id=collection_id, assessor_id__in=list(assessor_ids), version=current
    ).values_list("assessor_id", "keys", "grades")
    out = {
        assessor_id: (np.frombuffer(keys, dtype="<i8"), np.frombuffer(grades, dtype=np.int8))
        for assessor_id, keys, grades in fresh
    }
    for assessor_id in assessor_ids:
        if assessor_id not in out:
            out[assessor_id] = _build_label_array(collection_id=collection_id, assessor_id=assessor_id)
    return out


def _build_label_array(*, collection_id: int, assessor_id: int) -> tuple[np.ndarray, np.ndarray]:
    version = LabelVersion.objects.filter(assessor_id=assessor_id).values_list("version", flat=True).first() or 0
    keys, grades = _packed_judgments(collection_id=collection_id, assessor_id=assessor_id)
    if keys.size and not (keys[1:] > keys[:-1]).all():
        order = np.argsort(keys, kind="stable")
        keys, grades = keys[order], grades[order]
    keys = np.ascontiguousarray(keys, dtype="<i8")
    grades = np.ascontiguousarray(grades, dtype=np.int8)
    LabelArray.objects.bulk_create(
        [
            LabelArray(
                collection_id=collection_id, assessor_id=assessor_id, version=version, n=int(keys.size),
                keys=keys.tobytes(), grades=grades.tobytes(), built_at=timezone.now(),
            )
        ],
        update_conflicts=True,
        unique_fields=["collection", "assessor"],
        update_fields=["version", "n", "keys", "grades", "built_at"],
    )
    return keys, grades


# One aggregate packs the pairs into bytes server-side (10 bytes a pair: the int64 key,
# the int16 grade, big-endian as int8send/int2send write them): one value crosses the
# wire, where a million rows would cost a Python object each (4-6 s for two
# assessors with the binary COPY this replaces; BENCHMARKS.md).
_PACKED_SQL = (
    "SELECT string_agg(int8send((j.query_id << 32) | j.passage_id) || int2send(j.grade), ''::bytea),"
    " max(j.query_id), max(j.passage_id)"
    " FROM {judgment} j JOIN {query} q ON q.id = j.query_id"
    " WHERE q.collection_id = %s AND j.assessor_id = %s AND j.valid AND j.grade IS NOT NULL"
)
_PACKED_PAIR = np.dtype([("key", ">i8"), ("grade", ">i2")])


def _packed_judgments(*, collection_id: int, assessor_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 pair keys, grades) of the assessor's valid judgments in the collection."""
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        sql = _PACKED_SQL.format(judgment=quote(Judgment._meta.db_table), query=quote(Query._meta.db_table))
        with connection.cursor() as cursor:
            cursor.execute(sql, [collection_id, assessor_id])
            packed, query_max, passage_max = cursor.fetchone()
        pairs = np.frombuffer(packed or b"", dtype=_PACKED_PAIR)
        keys, grades = pairs["key"].astype(np.int64), pairs["grade"].astype(np.int64)
    else:
        rows = np.array(
            Judgment.objects.filter(
                query__collection_id=collection_id, assessor_id=assessor_id, valid=True, grade__isnull=False
            ).values_list("query_id", "passage_id", "grade"),
            dtype=np.int64,
        ).reshape(-1, 3)
        query_max, passage_max = (int(rows[:, 0].max()), int(rows[:, 1].max())) if rows.size else (0, 0)
        keys, grades = (rows[:, 0] << 32) | rows[:, 1], rows[:, 2]
    if (query_max or 0) >= _KEY_LIMIT or (passage_max or 0) >= 2 * _KEY_LIMIT:
        raise AgreementInputError("ids too large to pack into label arrays")
    return keys, grades


def collection_assessors(*, collection: str) -> list[dict[str, Any]]:
    """Assessors with judgments in the collection: name, kind, scale, model, count (one query)."""
    rows = (
        Judgment.objects.filter(query__collection__name=collection)
        .values("assessor_id", "assessor__name", "assessor__kind", "assessor__scale", "assessor__model")
        .annotate(judgments=Count("id"), last_change=Max("updated_at"))
        .order_by("assessor__kind", "assessor__name")
    )
    return [
        {
            "id": r["assessor_id"],
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


def labels_state(*, collection: str, assessors: Sequence[str]) -> dict[str, Any]:
    """What identifies the current labels of these assessors: versions, counts, last change.

    Two queries; used for ETags, so that a report is rebuilt exactly when its data
    changed. Besides the versions the write path renews, a checksum of the grades
    is part of the state, so that even a write around ``analysis.judgments`` (a
    queryset ``update()`` leaves ``updated_at`` alone) is never answered with 304.
    """
    checksum = Sum(
        (Coalesce(F("grade"), Value(-1)) + Value(2))
        * (F("passage_id") % Value(65521) + F("query_id") % Value(251) + Value(1))
        * Case(When(valid=True, then=Value(1)), default=Value(3))
    )
    rows = (
        Judgment.objects.filter(query__collection__name=collection, assessor__name__in=list(assessors))
        .values("assessor_id", "assessor__name")
        .annotate(n=Count("id"), last=Max("updated_at"), checksum=checksum)
        .order_by("assessor__name")
    )
    counts = {
        r["assessor__name"]: [r["n"], r["last"].isoformat() if r["last"] else None, int(r["checksum"] or 0)]
        for r in rows
    }
    ids = {r["assessor_id"]: r["assessor__name"] for r in rows}
    versions = {ids[a]: v for a, v in LabelVersion.objects.filter(assessor_id__in=list(ids)).values_list("assessor_id", "version")}
    return {"counts": counts, "versions": versions}


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


def assessor_coverage(
    *, collection: str, reference: str, judged: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Every other assessor of the collection with its coverage of the reference's pairs.

    Per assessor: name, kind, scale, model, judgments, and ``agreement.pair_coverage``
    (shared pairs, the reference's pairs, the assessor's pairs, coverage = shared /
    reference's pairs) on valid grades. Queries: the assessors of the collection (1),
    the collection and the reference (2), one read of the fresh label arrays (1), plus
    a rebuild per stale array; the coverage itself is a numpy intersection. ``judged``
    (``collection_assessors``' answer) may be passed in when the caller has it.
    """
    judged = collection_assessors(collection=collection) if judged is None else judged
    coll, (ref,) = resolve_assessors(collection=collection, names=[reference])
    others = [a for a in judged if a["name"] != reference]
    arrays = label_arrays(collection_id=coll.pk, assessor_ids=[ref.pk, *(a["id"] for a in others)])
    ref_keys = arrays[ref.pk][0]
    return [{**a, **agreement.pair_coverage(ref_keys, arrays[a["id"]][0])} for a in others]


def query_qids(*, query_ids: Sequence[int]) -> dict[int, str]:
    """The qids of the given query ids (one query)."""
    return dict(Query.objects.filter(pk__in=list(set(query_ids))).values_list("pk", "qid"))

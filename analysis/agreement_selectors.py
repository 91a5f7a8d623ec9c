"""Reads behind agreement: aligned label arrays of any assessors on their shared pairs.

Kept apart from ``analysis/selectors.py`` because these reads return numpy arrays
for the statistics in ``analysis.agreement`` rather than querysets for pages.

On PostgreSQL each assessor's valid grades in a collection are kept as a packed
array (``LabelArray``: sorted int64 pair keys and int8 grades), invalidated by
triggers whenever the assessor's judgments change (``LabelVersion``), and aligned
in numpy. Why: joining two million judgment rows took 2-3 s on the CI machine
(bench/agreement_bench.py), reading two arrays takes milliseconds. A stale array
is rebuilt with ``COPY ... TO STDOUT (FORMAT binary)`` decoded by numpy in one
call, never by building Python tuples. Other databases (the embedded SQLite
default) use one k-way join over the judgments.
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
    """The k-way join (databases other than PostgreSQL)."""
    # Portable SQL (no PostgreSQL casts): this path serves SQLite, the embedded default.
    cols = ", ".join(["j0.query_id"] + [f"j{i}.grade" for i in range(k)])
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


def _decode_binary_copy(data: bytes, fields: list[tuple[str, str]], *, n_fields: int) -> np.ndarray:
    """Rows of PostgreSQL's binary COPY format with fixed-width, non-NULL columns.

    ``fields`` spells each row: the int16 field count, then per column its int32
    length and its big-endian value; numpy reads the whole body in one call.
    """
    signature = b"PGCOPY\n\xff\r\n\x00"
    if not data.startswith(signature):
        raise ValueError("not a binary COPY stream")
    ext = int.from_bytes(data[15:19], "big")
    body = data[19 + ext : len(data) - 2]  # after the header, before the trailer (int16 -1)
    rows = np.frombuffer(body, dtype=np.dtype(fields))
    if rows.size and (rows["nfields"] != n_fields).any():
        raise ValueError("unexpected row layout in COPY stream")
    return rows


class LabelSource:
    """The labels of a set of assessors in one collection, read once, aligned on demand.

    A report compares many pairs of the same assessors; reading every assessor's
    array once keeps the number of queries of a page independent of the number of
    pairs. Queries on creation (PostgreSQL): the collection, the assessors, one read
    of the fresh arrays, plus one COPY and one upsert per stale array. Elsewhere
    nothing is read up front and each ``aligned`` call runs one k-way join.
    """

    def __init__(self, *, collection: str, assessors: Sequence[str]) -> None:
        self.collection, found = resolve_assessors(collection=collection, names=assessors)
        self.assessors = {a.name: a for a in found}
        self.arrays: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
        if connection.vendor == "postgresql":
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
        if self.arrays is not None:
            query_ids, grades = _align([self.arrays[a.pk] for a in found])
        else:
            k = len(found)
            params = [self.collection.pk] + [a.pk for a in found[1:]] + [found[0].pk]
            with connection.cursor() as cursor:
                cursor.execute(_aligned_sql(k), params)
                table = np.asarray(cursor.fetchall(), dtype=np.int64).reshape(-1, k + 1)
            query_ids, grades = table[:, 0], table[:, 1:]
        return AlignedLabels(
            collection=self.collection.name,
            assessors=[a.name for a in found],
            binary_scale=[a.scale == Assessor.BINARY for a in found],
            query_ids=query_ids,
            grades=grades,
        )


def aligned_labels(*, collection: str, assessors: Sequence[str]) -> AlignedLabels:
    """Grades of the named assessors on the pairs of ``collection`` that all of them judged.

    On PostgreSQL the grades come from each assessor's packed label array (rebuilt
    from the judgments when the triggers say they changed), aligned in numpy; see
    ``LabelSource`` for the queries. Elsewhere: one k-way join.
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
    """Each assessor's sorted pair keys and grades in the collection, fresh (PostgreSQL only).

    A stored array is used when its version equals the assessor's current
    LabelVersion (one statement reads both, so they are consistent). A stale or
    missing one is rebuilt: the version is read *before* the judgments, so a write
    committed in between leaves the new copy marked stale rather than wrong.
    """
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    import psycopg

    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        # Django's cursors bind client-side, which rules out binary results; a plain
        # psycopg cursor on the same connection (same transaction) returns the
        # arrays as raw bytes instead of hex text.
        with psycopg.Cursor(connection.connection) as binary_cursor:
            binary_cursor.execute(
                "SELECT la.assessor_id, la.keys, la.grades FROM analysis_labelarray la"
                " LEFT JOIN analysis_labelversion v ON v.assessor_id = la.assessor_id"
                " WHERE la.collection_id = %s AND la.assessor_id = ANY(%s) AND la.version = COALESCE(v.version, 0)",
                [collection_id, list(assessor_ids)],
                binary=True,
            )
            for assessor_id, keys, grades in binary_cursor.fetchall():
                out[assessor_id] = (np.frombuffer(keys, dtype="<i8"), np.frombuffer(grades, dtype=np.int8))
        for assessor_id in assessor_ids:
            if assessor_id not in out:
                out[assessor_id] = _build_label_array(cursor, collection_id=collection_id, assessor_id=assessor_id)
    return out


def _build_label_array(cursor: Any, *, collection_id: int, assessor_id: int) -> tuple[np.ndarray, np.ndarray]:
    cursor.execute("SELECT version FROM analysis_labelversion WHERE assessor_id = %s", [assessor_id])
    row = cursor.fetchone()
    version = row[0] if row else 0
    select = (
        "SELECT j.query_id::int8, j.passage_id::int8, j.grade::int2 FROM analysis_judgment j"
        f" JOIN analysis_query q ON q.id = j.query_id AND q.collection_id = {int(collection_id)}"
        f" WHERE j.assessor_id = {int(assessor_id)} AND j.valid AND j.grade IS NOT NULL"
    )
    with cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT binary)") as copy:
        data = b"".join(bytes(block) for block in copy)
    fields = [("nfields", ">i2"), ("len_q", ">i4"), ("query", ">i8"), ("len_p", ">i4"), ("passage", ">i8")]
    rows = _decode_binary_copy(data, [*fields, ("len_g", ">i4"), ("grade", ">i2")], n_fields=3)
    query, passage = rows["query"].astype(np.int64), rows["passage"].astype(np.int64)
    if rows.size and (query.max() >= _KEY_LIMIT or passage.max() >= 2 * _KEY_LIMIT):
        raise AgreementInputError("ids too large to pack into label arrays")
    keys = (query << 32) | passage
    order = np.argsort(keys, kind="stable")
    keys = np.ascontiguousarray(keys[order], dtype="<i8")
    grades = rows["grade"][order].astype(np.int8)
    cursor.execute(
        "INSERT INTO analysis_labelarray (collection_id, assessor_id, version, n, keys, grades, built_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, now())"
        " ON CONFLICT (collection_id, assessor_id) DO UPDATE SET version = EXCLUDED.version,"
        " n = EXCLUDED.n, keys = EXCLUDED.keys, grades = EXCLUDED.grades, built_at = EXCLUDED.built_at",
        [collection_id, assessor_id, version, int(keys.size), keys.tobytes(), grades.tobytes()],
    )
    return keys, grades


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


def labels_state(*, collection: str, assessors: Sequence[str]) -> dict[str, Any]:
    """What identifies the current labels of these assessors: versions, counts, last change.

    Two queries; used for ETags, so that a report is rebuilt exactly when its data changed.
    """
    from analysis.models import LabelVersion

    rows = (
        Judgment.objects.filter(query__collection__name=collection, assessor__name__in=list(assessors))
        .values("assessor_id", "assessor__name")
        .annotate(n=Count("id"), last=Max("updated_at"))
        .order_by("assessor__name")
    )
    counts = {r["assessor__name"]: [r["n"], r["last"].isoformat() if r["last"] else None] for r in rows}
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

"""The one write path of the Judgment table (and the one place assessors are got or created).

Every relevance label enters HardQ here, whoever gives it: a qrels file (the
importer), an LLM (the judges' runner), an annotator (annotation submit and undo),
the admin. Writing in one place is what keeps the agreement copies honest without
database triggers: each write that changes an assessor's judgments gives the
assessor a new ``LabelVersion`` in the same transaction, so a packed label array
built before the write is never read after it (``analysis.agreement_selectors``).

Large writes on PostgreSQL go through COPY (``analysis.bulk_writes``): a 1M-line
qrels file is written in seconds instead of minutes. Everything else, and every
write on SQLite, is one ``bulk_create(update_conflicts=True)``.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

import numpy as np

from analysis.bulk_writes import insert_rows, update_rows
from analysis.models import Assessor, ImportSource, Judgment, LabelArray, LabelVersion, Passage, Query

# Below this many rows to write, one bulk_create beats setting up COPY (and a scratch
# table for the updates); above it COPY wins by a wide margin (BENCHMARKS.md, imports).
COPY_THRESHOLD = 5000
# Rows per DELETE statement: keeps the IN lists of a large --replace bounded.
DELETE_BATCH = 10000
VALID_GRADES = range(0, 4)
# A fresh packed label array is patched with a write's changes while they are at most
# this share of its pairs (and at least PATCH_MIN_PAIRS pairs change; a one-pair write,
# an annotation submit or undo, keeps its one-statement invalidation); a larger write
# leaves it stale, to be rebuilt on the next read (BENCHMARKS.md, agreement).
PATCH_SHARE = 0.05
PATCH_MIN_PAIRS = 2


class JudgmentWriteError(ValueError):
    """Rows that cannot be written as given (nothing was written)."""


class AssessorConflict(ValueError):
    """The name belongs to an assessor of another kind or scale than the one asked for."""


KIND_NAMES = {Assessor.OFFICIAL: "an official", Assessor.LLM: "an LLM", Assessor.HUMAN: "a human"}


def assessor_get_or_create(
    *,
    name: str,
    kind: str,
    scale: str = Assessor.GRADED,
    fields: dict[str, Any] | None = None,
    same_kind: bool = False,
    same_scale: bool = True,
) -> Assessor:
    """The assessor called ``name``, created (kind, scale and ``fields``) when new.

    The one place an assessor other than an annotator is got or created: an import,
    a judge job, an ensemble. An existing one must judge on ``scale`` (unless
    ``same_scale=False``) and, with ``same_kind``, be of ``kind``: else
    ``AssessorConflict``, so that labels never land in an assessor meant for others.
    Safe against a concurrent creation of the same name.
    """
    try:
        with transaction.atomic():
            assessor, created = Assessor.objects.get_or_create(
                name=name, defaults={"kind": kind, "scale": scale, **(fields or {})}
            )
    except IntegrityError:  # created concurrently
        assessor, created = Assessor.objects.get(name=name), False
    if not created:
        if same_kind and assessor.kind != kind:
            raise AssessorConflict(f"assessor {name!r} exists and is not {KIND_NAMES.get(kind, kind)} assessor")
        if same_scale and assessor.scale != scale:
            raise AssessorConflict(f"assessor {name} judges on the {assessor.scale} scale, not {scale}")
    return assessor


@dataclass(frozen=True)
class JudgmentRow:
    """One label of ``assessor`` for (query, passage), by database ids.

    ``grade`` is None for an answer that could not be parsed (then ``valid`` is
    False); ``probabilities`` is the assessor's probability of each grade (index =
    grade) when it reported them, else None.
    """

    query_id: int
    passage_id: int
    grade: int | None
    valid: bool = True
    raw_response: str = ""
    probabilities: list[float] | None = None


@dataclass(frozen=True)
class JudgmentWriteReport:
    """What a write did: rows created, changed, already stored so, and deleted."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def judgments_write(
    *,
    assessor: Assessor,
    rows: Iterable[JudgmentRow],
    source: ImportSource | None = None,
    replace: bool = False,
    stored: Mapping[tuple[int, int], JudgmentRow | None] | None = None,
) -> JudgmentWriteReport:
    """Upsert ``rows`` as ``assessor``'s judgments, by (query, passage), in one transaction.

    A row equal to what is stored (grade, valid flag, raw response, probabilities)
    is left alone, so re-writing the same labels changes nothing, not even
    ``updated_at``; created and changed rows get ``source``.

    ``replace=True`` also deletes the assessor's judgments that are not among the
    rows: those that came from ``source`` when one is given (what the earlier
    import of the same file wrote; labels from other files or from a judge job
    are kept), otherwise all of the assessor's judgments in the collections the
    rows touch.

    ``stored``: what the caller has just read of the assessor's judgment of every
    pair of ``rows`` (None: there is none), in its own transaction and under a lock
    that keeps it true (the annotation submit reads the annotator's grade of the
    pair with the assignment's lock). The write then reads nothing itself: a grade
    of one pair costs the upsert and the label version. Not with ``replace``.

    Raises ``JudgmentWriteError`` (before writing anything) for a pair given twice
    or a grade outside 0..3; a row naming a query or passage that does not exist
    fails the whole write with the database's ``IntegrityError``.
    """
    rows = list(rows)
    by_pair: dict[tuple[int, int], JudgmentRow] = {}
    for row in rows:
        key = (row.query_id, row.passage_id)
        if key in by_pair:
            raise JudgmentWriteError(f"query {row.query_id}, passage {row.passage_id} is given twice")
        if row.grade is not None and row.grade not in VALID_GRADES:
            raise JudgmentWriteError(f"grade {row.grade} of query {row.query_id}, passage {row.passage_id} is not 0..3")
        by_pair[key] = row
    if stored is not None:
        if replace:
            raise JudgmentWriteError("replace reads what is stored itself: give no stored rows with it")
        missing = set(by_pair) - set(stored)
        if missing:
            raise JudgmentWriteError(f"stored names no state for {len(missing)} pair(s) of the rows")
        return _write_known(assessor=assessor, by_pair=by_pair, stored=stored, source=source)
    query_ids = {q for q, _ in by_pair}
    scope: Q | None = None
    if replace:
        if source is not None:
            scope = Q(source=source)
        else:
            collections = set(Query.objects.filter(pk__in=query_ids).values_list("collection_id", flat=True))
            scope = Q(query__collection_id__in=collections)
    if not by_pair and scope is None:
        return JudgmentWriteReport()

    with transaction.atomic(savepoint=False):
        wanted = Q(query_id__in=query_ids) if query_ids else Q(pk__in=[])
        existing = (
            Judgment.objects.filter(assessor=assessor)
            .filter(wanted | scope if scope is not None else wanted)
            .values_list("id", "query_id", "passage_id", "grade", "valid", "raw_response", "probabilities", "source_id")
        )
        found: dict[tuple[int, int], tuple[int, tuple[object, ...]]] = {}
        stale: list[int] = []
        stale_pairs: list[tuple[int, int]] = []
        source_id = source.pk if source is not None else None
        by_collection_scope = replace and source is None
        for pk, q, p, grade, valid, raw, probabilities, row_source in existing.iterator(chunk_size=20000):
            if (q, p) in by_pair:
                found[(q, p)] = (pk, (grade, valid, raw, probabilities))
            elif replace and (by_collection_scope or row_source == source_id):
                stale.append(pk)
                stale_pairs.append((q, p))
        now = timezone.now()
        new = [row for key, row in by_pair.items() if key not in found]
        changed = [
            (found[key][0], row)
            for key, row in by_pair.items()
            if key in found and found[key][1] != (row.grade, row.valid, row.raw_response, row.probabilities)
        ]
        deleted = _delete_ids(stale)
        if connection.vendor == "postgresql" and len(new) + len(changed) >= COPY_THRESHOLD:
            _copy(assessor=assessor, new=new, changed=changed, source_id=source_id, now=now)
        elif new or changed:
            _upsert(assessor=assessor, rows=[*new, *(row for _, row in changed)], source_id=source_id, now=now)
        report = JudgmentWriteReport(
            created=len(new), updated=len(changed), unchanged=len(by_pair) - len(new) - len(changed), deleted=deleted
        )
        if report.changed:
            changes: dict[tuple[int, int], int | None] = dict.fromkeys(stale_pairs)
            changes.update({(r.query_id, r.passage_id): _label(r) for r in (*new, *(row for _, row in changed))})
            _labels_changed(assessor_id=assessor.pk, changes=changes)
    return report


def _same(row: JudgmentRow, other: JudgmentRow) -> bool:
    return (row.grade, row.valid, row.raw_response, row.probabilities) == (
        other.grade, other.valid, other.raw_response, other.probabilities)


def _write_known(
    *,
    assessor: Assessor,
    by_pair: Mapping[tuple[int, int], JudgmentRow],
    stored: Mapping[tuple[int, int], JudgmentRow | None],
    source: ImportSource | None,
) -> JudgmentWriteReport:
    """``judgments_write`` of a few rows whose stored state the caller read: one upsert
    of the new and changed rows, then the label version when anything changed."""
    new = [row for key, row in by_pair.items() if stored[key] is None]
    changed = [row for key, row in by_pair.items() if (old := stored[key]) is not None and not _same(row, old)]
    if new or changed:
        with transaction.atomic(savepoint=False):
            _upsert(assessor=assessor, rows=[*new, *changed], source_id=None if source is None else source.pk,
                    now=timezone.now())
            _labels_changed(assessor_id=assessor.pk)
    return JudgmentWriteReport(created=len(new), updated=len(changed), unchanged=len(by_pair) - len(new) - len(changed))


def _upsert(*, assessor: Assessor, rows: Sequence[JudgmentRow], source_id: int | None, now: object) -> None:
    """Insert or update ``rows`` by (assessor, query, passage), in batches of a thousand."""
    Judgment.objects.bulk_create(
        [
            Judgment(
                query_id=row.query_id, passage_id=row.passage_id, assessor=assessor, grade=row.grade,
                valid=row.valid, raw_response=row.raw_response, probabilities=row.probabilities,
                source_id=source_id, updated_at=now,
            )
            for row in rows
        ],
        update_conflicts=True,
        unique_fields=["assessor", "query", "passage"],
        update_fields=["grade", "valid", "raw_response", "probabilities", "source", "updated_at"],
        batch_size=1000,
    )


def _staged_json(expression: str) -> str:
    """SQL reading ``expression``, JSON text of a staging table, as a value of the JSONField.

    The one place the two databases differ: the field is ``jsonb`` on PostgreSQL (cast
    the text; compared as JSON) and text on SQLite, which Django writes with
    ``json.dumps`` as the importer stages it (compared as text).
    """
    return f"CAST({expression} AS jsonb)" if connection.vendor == "postgresql" else expression


def _differs(left: str, right: str) -> str:
    """SQL true when ``left`` and ``right`` differ, NULL counting as a value."""
    operator = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    return f"{left} {operator} {right}"


def judgments_write_staged(
    *,
    assessor: Assessor,
    stage: str,
    collection_id: int,
    source: ImportSource,
    probabilities_stage: str | None = None,
    replace: bool = False,
) -> JudgmentWriteReport:
    """``judgments_write`` for the rows of a file staged in a temporary table.

    ``stage`` is the (quoted, trusted) name of a table with columns ``qid``, ``docid``
    and ``grade``, one row per (qid, docid) of ``collection_id``, every qid a query
    and every docid a passage of it (the qrels importer checks both before it calls).
    ``probabilities_stage``, when given, is a table with columns ``qid``, ``docid`` and
    ``probabilities`` (JSON text: a list, index = grade), at most one row per pair of
    ``stage``: the judgments of its pairs get those probabilities, the others none.
    The same rules as ``judgments_write`` with valid grades and no raw response, in
    three statements instead of a Python object per row, so that the memory of a
    qrels import does not grow with the file.
    """
    judgments, queries, passages = (connection.ops.quote_name(m._meta.db_table) for m in (Judgment, Query, Passage))
    joined = (
        f"{stage} AS s JOIN {queries} AS q ON q.collection_id = %s AND q.qid = s.qid "
        f"JOIN {passages} AS p ON p.collection_id = %s AND p.docid = s.docid"
    )
    with_probabilities, probabilities = joined, "NULL"
    if probabilities_stage is not None:
        with_probabilities += f" LEFT JOIN {probabilities_stage} AS ps ON ps.qid = s.qid AND ps.docid = s.docid"
        probabilities = _staged_json("ps.probabilities")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        deleted = 0
        if replace:
            cursor.execute(
                f"DELETE FROM {judgments} WHERE assessor_id = %s AND source_id = %s AND NOT EXISTS "
                f"(SELECT 1 FROM {joined} WHERE q.id = {judgments}.query_id AND p.id = {judgments}.passage_id)",
                [assessor.pk, source.pk, collection_id, collection_id],
            )
            deleted = cursor.rowcount
        cursor.execute(
            f"UPDATE {judgments} SET grade = s.grade, valid = %s, raw_response = '', probabilities = {probabilities}, "
            f"source_id = %s, updated_at = %s FROM {with_probabilities} WHERE {judgments}.assessor_id = %s "
            f"AND {judgments}.query_id = q.id AND {judgments}.passage_id = p.id AND ({judgments}.grade IS NULL "
            f"OR {judgments}.grade <> s.grade OR NOT {judgments}.valid OR {judgments}.raw_response <> '' "
            f"OR {_differs(f'{judgments}.probabilities', probabilities)})",
            [True, source.pk, now, collection_id, collection_id, assessor.pk],
        )
        updated = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {judgments} (query_id, passage_id, assessor_id, grade, valid, raw_response, probabilities, "
            f"source_id, updated_at) SELECT q.id, p.id, %s, s.grade, %s, '', {probabilities}, %s, %s "
            f"FROM {with_probabilities} WHERE NOT EXISTS (SELECT 1 FROM {judgments} AS j WHERE j.assessor_id = %s "
            "AND j.query_id = q.id AND j.passage_id = p.id)",
            [assessor.pk, True, source.pk, now, collection_id, collection_id, assessor.pk],
        )
        created = cursor.rowcount
        cursor.execute(f"SELECT COUNT(*) FROM {stage}")
        total = cursor.fetchone()[0]
        report = JudgmentWriteReport(created=created, updated=updated, unchanged=total - created - updated,
                                     deleted=deleted)
        if report.changed:
            _labels_changed(assessor_id=assessor.pk)
    return report


def judgments_delete(*, assessor: Assessor, pairs: Iterable[tuple[int, int]]) -> int:
    """Delete ``assessor``'s judgments of the (query id, passage id) ``pairs``; returns how many."""
    by_query: dict[int, set[int]] = {}
    for query_id, passage_id in pairs:
        by_query.setdefault(query_id, set()).add(passage_id)
    if not by_query:
        return 0
    deleted = 0
    with transaction.atomic(savepoint=False):
        items = sorted(by_query.items())
        for start in range(0, len(items), 500):
            match = Q()
            for query_id, passages in items[start : start + 500]:
                match |= Q(query_id=query_id, passage_id__in=sorted(passages))
            deleted += Judgment.objects.filter(match, assessor=assessor).delete()[0]
        if deleted:
            _labels_changed(
                assessor_id=assessor.pk, changes={(q, p): None for q, passages in items for p in passages}
            )
    return deleted


def _delete_ids(ids: Sequence[int]) -> int:
    deleted = 0
    for start in range(0, len(ids), DELETE_BATCH):
        deleted += Judgment.objects.filter(pk__in=ids[start : start + DELETE_BATCH]).delete()[0]
    return deleted


def _copy(
    *, assessor: Assessor, new: list[JudgmentRow], changed: list[tuple[int, JudgmentRow]], source_id: int | None, now: object
) -> None:
    """The large write on PostgreSQL: COPY the new rows, COPY-and-UPDATE the changed ones."""

    def probabilities(row: JudgmentRow) -> str | None:
        # COPY bypasses the JSONField: jsonb reads its text form.
        return None if row.probabilities is None else json.dumps(row.probabilities)

    insert_rows(
        Judgment,
        ["query", "passage", "assessor", "grade", "valid", "raw_response", "probabilities", "source", "updated_at"],
        (
            (r.query_id, r.passage_id, assessor.pk, r.grade, r.valid, r.raw_response, probabilities(r), source_id, now)
            for r in new
        ),
    )
    update_rows(
        Judgment,
        ["grade", "valid", "raw_response", "probabilities", "source", "updated_at"],
        [(pk, r.grade, r.valid, r.raw_response, probabilities(r), source_id, now) for pk, r in changed],
    )


def _label(row: JudgmentRow) -> int | None:
    """What the agreement copies hold of a row: its grade when valid, else nothing."""
    return row.grade if row.valid and row.grade is not None else None


def _labels_changed(*, assessor_id: int, changes: Mapping[tuple[int, int], int | None] | None = None) -> None:
    """Give the assessor a new label version, in the writing transaction.

    A fresh random value rather than a counter: one upsert, no read, and two
    concurrent writers still leave a value that no array built before either
    write carries.

    ``changes``: what the write did, (query id, passage id) -> the grade the copies
    should now hold (None: the pair leaves them: deleted, or invalid). When given
    (for at least ``PATCH_MIN_PAIRS`` pairs), the assessor's fresh label arrays are
    patched with them in place and carry the new version too, so the next report
    reads them instead of rebuilding them from the judgments; see
    ``_patch_label_arrays``.
    """
    new_version = secrets.randbits(62)
    if changes is not None and len(changes) >= PATCH_MIN_PAIRS:
        # The version row locked first: every writer of the assessor passes here, in
        # order, before committing, so the arrays it patches hold exactly the
        # judgments committed before it plus its own changes.
        locked = LabelVersion.objects.select_for_update().filter(assessor_id=assessor_id)
        old = locked.values_list("version", flat=True).first()
        if old is None:  # never written here (loaded around the write path): arrays read it as 0
            LabelVersion.objects.bulk_create([LabelVersion(assessor_id=assessor_id, version=0)], ignore_conflicts=True)
            old = locked.values_list("version", flat=True).first()
        if old is not None:
            _patch_label_arrays(assessor_id=assessor_id, old=old, new=new_version, changes=changes)
            LabelVersion.objects.filter(assessor_id=assessor_id).update(version=new_version)
            return
    LabelVersion.objects.bulk_create(
        [LabelVersion(assessor_id=assessor_id, version=new_version)],
        update_conflicts=True,
        unique_fields=["assessor_id"],
        update_fields=["version"],
    )


_KEY_LIMIT = 1 << 31  # as analysis.agreement_selectors packs keys: query_id << 32 | passage_id


def _patch_label_arrays(*, assessor_id: int, old: int, new: int, changes: Mapping[tuple[int, int], int | None]) -> None:
    """Merge ``changes`` into the assessor's label arrays that carry version ``old``.

    An array of a collection the changes do not touch just takes the new version; one
    they touch is locked, patched (sorted keys: ``searchsorted``, then one insert and
    one mask) and takes the new version, unless the changes exceed ``PATCH_SHARE`` of
    its pairs: then it keeps the old version and is rebuilt on its next read.
    """
    by_query: dict[int, list[tuple[int, int | None]]] = {}
    for (query_id, passage_id), grade in changes.items():
        by_query.setdefault(query_id, []).append((passage_id, grade))
    collection_of = dict(Query.objects.filter(pk__in=list(by_query)).values_list("pk", "collection_id"))
    touched = set(collection_of.values())
    LabelArray.objects.filter(assessor_id=assessor_id, version=old).exclude(collection_id__in=touched).update(version=new)
    if max(by_query) >= _KEY_LIMIT or max(p for (_, p) in changes) >= 2 * _KEY_LIMIT:
        return  # keys that do not pack: the arrays stay stale (the rebuild says why)
    arrays = (
        LabelArray.objects.select_for_update()
        .filter(assessor_id=assessor_id, version=old, collection_id__in=touched)
        .values_list("pk", "collection_id", "n", "keys", "grades")
    )
    for pk, collection_id, n, keys_bytes, grades_bytes in arrays:
        mine = [(q, p, g) for q in by_query if collection_of.get(q) == collection_id for p, g in by_query[q]]
        if len(mine) > PATCH_SHARE * n:
            continue
        keys, grades = _merge(
            np.frombuffer(keys_bytes, dtype="<i8"), np.frombuffer(grades_bytes, dtype=np.int8), mine
        )
        LabelArray.objects.filter(pk=pk).update(
            version=new, n=int(keys.size), keys=keys.tobytes(), grades=grades.tobytes(), built_at=timezone.now()
        )


def _merge(
    keys: np.ndarray, grades: np.ndarray, changes: Sequence[tuple[int, int, int | None]]
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``keys`` and their ``grades`` with (query, passage, grade or None) applied."""
    change = np.array([(q << 32) | p for q, p, _ in changes], dtype=np.int64)
    value = np.array([-1 if g is None else g for _, _, g in changes], dtype=np.int8)
    order = np.argsort(change, kind="stable")
    change, value = change[order], value[order]
    pos = np.searchsorted(keys, change)
    found = pos < keys.size
    found[found] = keys[pos[found]] == change[found]
    grades = grades.copy()
    grades[pos[found]] = value[found]  # re-graded pairs; removed ones are marked -1
    add = ~found & (value >= 0)
    keys = np.insert(keys, pos[add], change[add])
    grades = np.insert(grades, pos[add], value[add])
    keep = grades >= 0
    return np.ascontiguousarray(keys[keep], dtype="<i8"), np.ascontiguousarray(grades[keep], dtype=np.int8)

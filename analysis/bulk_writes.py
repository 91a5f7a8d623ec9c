"""Bulk writes: PostgreSQL COPY where it pays, ``bulk_create`` elsewhere (SQLite)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models
from psycopg import sql

BATCH = 2000


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Insert ``rows`` (tuples in the order of ``fields``) into ``model``'s table.

    Every NOT NULL column must be among ``fields``: COPY bypasses Django, so field
    defaults and ``auto_now`` are not applied (callers pass the values). Returns the
    number of rows written. Must run inside the caller's transaction.
    """
    meta = model._meta
    columns = [meta.get_field(name).column for name in fields]
    if connection.vendor == "postgresql":
        written = 0
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(meta.db_table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        with connection.cursor() as cursor:
            with cursor.cursor.copy(statement) as copy:
                # psycopg's write_row adapts in C: faster than formatting COPY text in Python.
                for row in rows:
                    copy.write_row(row)
                    written += 1
        return written
    attnames = [meta.get_field(name).attname for name in fields]
    objects = [model(**dict(zip(attnames, row))) for row in rows]
    model.objects.bulk_create(objects, batch_size=BATCH)
    return len(objects)


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[object]]) -> int:
    """Set ``fields`` of existing rows; each row is ``(pk, value, ...)`` in ``fields`` order.

    On PostgreSQL the new values are COPYed into a scratch table shaped like the
    model's and applied with one ``UPDATE … FROM``; elsewhere ``bulk_update``.
    """
    if not rows:
        return 0
    meta = model._meta
    if connection.vendor == "postgresql":
        pk = meta.pk.column
        columns = [meta.get_field(name).column for name in fields]
        scratch = sql.Identifier(f"hardq_update_{meta.db_table}")
        table = sql.Identifier(meta.db_table)
        col_list = sql.SQL(", ").join(sql.Identifier(c) for c in [pk, *columns])
        with connection.cursor() as cursor:
            raw = cursor.cursor
            raw.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
            raw.execute(
                sql.SQL("CREATE TEMP TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(scratch, col_list, table)
            )
            with raw.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(scratch, col_list)) as copy:
                for row in rows:
                    copy.write_row(row)
            assignments = sql.SQL(", ").join(
                sql.SQL("{} = s.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in columns
            )
            raw.execute(
                sql.SQL("UPDATE {} AS t SET {} FROM {} AS s WHERE t.{} = s.{}").format(
                    table, assignments, scratch, sql.Identifier(pk), sql.Identifier(pk)
                )
            )
            raw.execute(sql.SQL("DROP TABLE {}").format(scratch))
        return len(rows)
    attnames = [meta.get_field(name).attname for name in fields]
    objects = []
    for row in rows:
        obj = model(pk=row[0])
        for attname, value in zip(attnames, row[1:]):
            setattr(obj, attname, value)
        objects.append(obj)
    model.objects.bulk_update(objects, list(fields), batch_size=500)
    return len(objects)

"""A file's rows staged in a temporary table, then checked and merged with set-based SQL.

Why: a run holds millions of short lines; kept as Python objects (records, a dict of
seen pairs, a dict of every docid, the rows to insert) an import needed 18 times the
file's size in memory. Staged in the database, the import's memory stays flat whatever
the file, and the checks (repeated pairs, unknown qids) and the merge (create, update,
leave unchanged) are one statement each instead of a Python loop per row. It is the
same SQL on PostgreSQL and SQLite; only the loading differs (COPY on PostgreSQL,
``executemany`` in batches elsewhere), as in ``bulk.insert_rows``.

The table lives in the import's transaction: a refusal rolls it back with everything
else, and ``drop`` removes it when the import is done.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models

BATCH = 5000
# Staged rows beyond which the passages' statistics are refreshed (see add_missing_passages).
ANALYZE_AFTER = 10000


def table(model: type[models.Model]) -> str:
    """The quoted table name of ``model``."""
    return connection.ops.quote_name(model._meta.db_table)


class Staging:
    """A temporary table ``name`` with ``columns`` (``(name, SQL type)``, trusted text)."""

    def __init__(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        self.name = connection.ops.quote_name(name)
        self.columns = [c for c, _ in columns]
        self.rows = 0
        # The columns keep the database's collation: the joins with the queries and
        # passages must be able to use those tables' indexes.
        definitions = [f"{column} {sql_type}" for column, sql_type in columns]
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
            cursor.execute(f"CREATE TEMPORARY TABLE {self.name} ({', '.join(definitions)})")

    def load(self, rows: Iterable[Sequence[Any]]) -> int:
        """Write ``rows`` (in ``columns`` order) into the table; returns how many."""
        self.rows = self._load(rows)
        return self.rows

    def _load(self, rows: Iterable[Sequence[Any]]) -> int:
        written = 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                with cursor.cursor.copy(f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        written += 1
                # Temporary tables are never analysed by autovacuum: without statistics
                # the planner takes the staged million rows for a few and loops.
                cursor.execute(f"ANALYZE {self.name}")
            return written
        statement = (
            f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({', '.join(['%s'] * len(self.columns))})"
        )
        batch: list[Sequence[Any]] = []
        with connection.cursor() as cursor:
            for row in rows:
                batch.append(row)
                if len(batch) == BATCH:
                    cursor.executemany(statement, batch)
                    written += len(batch)
                    batch = []
            if batch:
                cursor.executemany(statement, batch)
                written += len(batch)
        return written

    def first(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        """The first row ``sql`` selects (``{stage}`` is this table), or ``None``."""
        with connection.cursor() as cursor:
            cursor.execute(sql.format(stage=self.name), params)
            return cursor.fetchone()

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Every row ``sql`` selects (``{stage}`` is this table): for small summaries only."""
        with connection.cursor() as cursor:
            cursor.execute(sql.format(stage=self.name), params)
            return cursor.fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run ``sql`` (``{stage}`` is this table); returns the rows it changed."""
        with connection.cursor() as cursor:
            cursor.execute(sql.format(stage=self.name), params)
            return cursor.rowcount

    def first_repeat(self, key: Sequence[str], *, where: str = "", rows_per_line: bool = False) -> tuple | None:
        """``(line, *key, first line)`` of the first row whose ``key`` an earlier row had
        (among the rows ``where`` selects, an SQL condition); ``rows_per_line`` when a line
        stages several rows, which repeat a key only if they come from other lines."""
        cols = ", ".join(key)
        condition = f"WHERE {where}" if where else ""
        count = "COUNT(DISTINCT line)" if rows_per_line else "COUNT(*)"
        # Grouping (hashed) settles the usual case, a file without repeats, cheaply.
        if self.first(f"SELECT 1 FROM {{stage}} {condition} GROUP BY {cols} HAVING {count} > 1 LIMIT 1") is None:
            return None
        return self.first(
            f"SELECT line, {cols}, first_line FROM ("
            f"SELECT line, {cols}, MIN(line) OVER (PARTITION BY {cols}) AS first_line FROM {{stage}} {condition}"
            ") AS s WHERE line > first_line ORDER BY line LIMIT 1"
        )

    def first_other(self, key: str, value: str) -> tuple | None:
        """``(line, key, first line)`` of the first row whose ``key`` an earlier row had
        with another ``value``."""
        if self.first(f"SELECT 1 FROM {{stage}} GROUP BY {key} HAVING COUNT(*) > 1 LIMIT 1") is None:
            return None
        return self.first(
            f"SELECT line, {key}, first_line FROM (SELECT line, {key}, {value}, "
            f"FIRST_VALUE({value}) OVER (PARTITION BY {key} ORDER BY line) AS first_value, "
            f"MIN(line) OVER (PARTITION BY {key}) AS first_line FROM {{stage}}) AS s "
            f"WHERE {value} <> first_value ORDER BY line LIMIT 1"
        )

    def count_distinct(self, key: str) -> int:
        row = self.first(f"SELECT COUNT(DISTINCT {key}) FROM {{stage}}")
        return int(row[0]) if row else 0

    def first_unknown_qid(self, collection_id: int) -> tuple | None:
        """``(line, qid)`` of the first row whose qid is no query of the collection."""
        from analysis.models import Query

        return self.first(
            f"SELECT line, qid FROM {{stage}} AS s WHERE NOT EXISTS (SELECT 1 FROM {table(Query)} AS q "
            "WHERE q.collection_id = %s AND q.qid = s.qid) ORDER BY line LIMIT 1",
            [collection_id],
        )

    def add_missing_passages(self, collection_id: int) -> int:
        """Create a text-less Passage for every docid the collection does not have yet."""
        from analysis.models import Passage

        created = self.execute(
            f"INSERT INTO {table(Passage)} (collection_id, docid, text) "
            f"SELECT %s, d.docid, NULL FROM (SELECT DISTINCT docid FROM {{stage}} WHERE docid IS NOT NULL) AS d "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table(Passage)} AS p WHERE p.collection_id = %s AND p.docid = d.docid)",
            [collection_id, collection_id],
        )
        if self.rows > ANALYZE_AFTER and connection.vendor == "postgresql":
            # The large joins that follow must know the passages (those just added too):
            # with the table's old statistics (a new database: none) the planner may
            # scan them once per staged row.
            self.execute(f"ANALYZE {table(Passage)}")
        return created

    def analyze(self, *models: type[models.Model]) -> None:
        """Refresh the statistics of this table and of ``models``' tables after many rows
        were added or filled in (PostgreSQL): the joins that follow would otherwise be
        planned for the few rows the statistics remember and loop over every row."""
        if self.rows > ANALYZE_AFTER and connection.vendor == "postgresql":
            for name in [self.name, *(table(m) for m in models)]:
                self.execute(f"ANALYZE {name}")

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")

"""Model instances from hand-written SQL, for the few reads on every annotation request.

The ORM spends more CPU building and compiling a query with joins and annotations than
PostgreSQL spends running it (2-4 ms per query on the annotation screen, against well
under a millisecond of SQL). The hottest reads are therefore written as SQL once, and
their rows are turned into the same model instances the ORM would give: every concrete
column of each joined model, converted by the fields' own database converters (so JSON,
dates and booleans come out as the ORM returns them, on PostgreSQL and SQLite alike),
and linked through the relation caches, so that ``assignment.item.campaign`` reads no
more rows.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model


class Joined:
    """The SELECT list of several models joined under SQL aliases, and its row splitter.

    ``parts`` are ``(alias, model, parent)`` where ``parent`` is ``(alias, field name)``
    of the instance that points at this one (None for the first). A model reached by a
    LEFT JOIN whose primary key column is NULL becomes None.
    """

    def __init__(self, *parts: tuple[str, type[Model], tuple[str, str] | None]) -> None:
        self.parts = parts
        self._converters: list[tuple[Any, list[Callable[..., Any]]]] | None = None
        self._columns: str | None = None
        # Per part, worked out on first use (the models' fields are not ready at import):
        # its column count, the position of its primary key, and the relation that links
        # it to its parent.
        self._layout: list[tuple[str, type[Model], int, int, Any]] | None = None

    @property
    def width(self) -> int:
        return sum(len(model._meta.concrete_fields) for _, model, _ in self.parts)

    def columns(self) -> str:
        """``a."id", a."item_id", …`` for every part, in the order ``split`` reads."""
        if self._columns is None:
            qn = connection.ops.quote_name
            self._columns = ", ".join(
                f"{alias}.{qn(f.column)}" for alias, model, _ in self.parts for f in model._meta.concrete_fields
            )
        return self._columns

    def _field_converters(self) -> list[tuple[Any, list[Callable[..., Any]]]]:
        if self._converters is None:
            out = []
            for alias, model, _ in self.parts:
                for f in model._meta.concrete_fields:
                    col = f.get_col(alias)
                    out.append((col, [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]))
            self._converters = out
        return self._converters

    def first(self, row: Sequence[Any]) -> Any:
        """The instance of the first part (never None), with the others linked to it."""
        return self.split(row)[0]

    def _part_layout(self) -> list[tuple[str, type[Model], int, int, Any]]:
        if self._layout is None:
            self._layout = [
                (
                    alias,
                    model,
                    len(model._meta.concrete_fields),
                    model._meta.concrete_fields.index(model._meta.pk),
                    None if parent is None else (parent[0], self._model_of(parent[0])._meta.get_field(parent[1])),
                )
                for alias, model, parent in self.parts
            ]
        return self._layout

    def _model_of(self, alias: str) -> type[Model]:
        return next(model for a, model, _ in self.parts if a == alias)

    def split(self, row: Sequence[Any]) -> list[Any]:
        """The model instances of one row (in ``parts`` order, None for a missing LEFT
        JOIN), linked to each other through their relation caches."""
        converters = self._field_converters()
        values = list(row[: self.width])
        for n, (col, convs) in enumerate(converters):
            if convs and values[n] is not None:
                for conv in convs:
                    values[n] = conv(values[n], col, connection)
        instances: dict[str, Any] = {}
        start = 0
        for alias, model, width, pk_index, link in self._part_layout():
            chunk = values[start : start + width]
            start += width
            obj = None if chunk[pk_index] is None else model.from_db(connection.alias, None, chunk)
            instances[alias] = obj
            if link is not None and instances[link[0]] is not None:
                link[1].set_cached_value(instances[link[0]], obj)
        return [instances[alias] for alias, _, _ in self.parts]


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run plain SQL and return its rows. Datetime parameters are adapted as the ORM
    adapts them (SQLite stores them as text in its own format)."""
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(p) if isinstance(p, datetime) else p for p in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()

"""Cells of every CSV file HardQ writes: text that a spreadsheet would run is neutralised.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
as a formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` in an
annotator's comment becomes a link that leaks data when clicked). Such text gets a
leading apostrophe, which spreadsheets show as nothing and which keeps the text
readable elsewhere. Numbers are never touched: ``-0.3333`` is a number, not a formula,
and must stay one for whoever sums the column.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell: text starting like a formula gets a leading ``'``;
    numbers, booleans, None and other text are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Text(Protocol):
    def write(self, s: str, /) -> Any: ...


class CsvWriter:
    """``csv.writer`` whose every text cell goes through :func:`csv_cell`."""

    def __init__(self, out: _Text, *, lineterminator: str = "\n") -> None:
        self._writer = csv.writer(out, lineterminator=lineterminator)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class CsvDictWriter:
    """``csv.DictWriter`` (unknown keys ignored) whose every text cell goes through :func:`csv_cell`."""

    def __init__(self, out: _Text, *, fieldnames: Sequence[str]) -> None:
        self.fieldnames = list(fieldnames)
        self._writer = csv.writer(out, lineterminator="\n")

    def writeheader(self) -> None:
        self._writer.writerow([csv_cell(name) for name in self.fieldnames])

    def writerow(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow([csv_cell(row.get(name)) for name in self.fieldnames])

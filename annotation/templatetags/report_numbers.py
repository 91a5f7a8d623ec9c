"""An agreement report's figures for reading: counts as integers, statistics to three
decimals, and a reason wherever a figure or an interval is missing.

Only the pages and the HTML export use these; CSV, JSON and XLSX keep full precision.
"""
from __future__ import annotations

import math
from typing import Any

from django import template

from analysis.agreement import UNDEFINED_IN_RESAMPLES

register = template.Library()
PLACES = 3


def _number(value: float, places: int = PLACES) -> str:
    return f"{value:.{places}f}"


@register.filter
def stat(value: Any, places: int = PLACES) -> str:
    """``12`` for a count, ``0.333`` for 0.33333333333333337, ``undefined`` for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return _number(float(value), int(places))


@register.simple_tag
def interval(ci: list[float] | None, note: str | None = None) -> str:
    """``[0.212, 0.339]``, or why there is none (``note``: e.g. ``no interval: n_boot=0``)."""
    if ci:
        return f"[{_number(ci[0])}, {_number(ci[1])}]"
    return note or UNDEFINED_IN_RESAMPLES


@register.filter
def share(value: float | None) -> str:
    """A coverage for reading: ``9.7%``; ``–`` when the reference judged nothing."""
    return "–" if value is None else f"{100 * value:.1f}%"


@register.filter
def moment(iso: str | None) -> str:
    """An ISO time of the report for reading, to the second in UTC (the JSON keeps it whole)."""
    if not iso:
        return "no judgment yet"
    from datetime import datetime, timezone

    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")

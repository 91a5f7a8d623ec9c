"""What the columns hold, read from the model fields (the one copy of the numbers).

A name longer than its column or a number outside its column's range is refused with
the file's name (and line) before anything is written, instead of failing in the
database (PostgreSQL: "value too long", "integer out of range") or, on SQLite, in the
driver ("Python int too large"). Integer ranges are the portable ones Django documents
for each field type (PostgreSQL's), on SQLite too, so a file valid on one database is
valid on the other.
"""
from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

from analysis.models import COLLECTION_NAME_RULE, validate_collection_name

# Deeper JSON than any pipeline file has (the BERTScore lines are 3 deep); deeper lines
# are refused before Python's parser or its walk of the value could recurse too far.
MAX_JSON_DEPTH = 16


def max_length(model: type[models.Model], field: str) -> int:
    """The ``max_length`` of ``model.field``."""
    length = model._meta.get_field(field).max_length
    assert length is not None, f"{model.__name__}.{field} has no max_length"
    return length


def integer_range(model: type[models.Model], field: str) -> tuple[int, int]:
    """The (min, max) an integer column of ``model.field`` holds."""
    internal = model._meta.get_field(field).get_internal_type()
    low, high = BaseDatabaseOperations.integer_field_ranges[internal]
    return low, high


def name_problem(value: str, *, what: str, model: type[models.Model], field: str) -> str | None:
    """Why ``value`` cannot be stored as ``model.field`` (a name), or ``None`` when it can."""
    if not value or not value.strip():
        return f"{what} is empty"
    if "\x00" in value:
        return f"{what} contains a NUL character"
    limit = max_length(model, field)
    if len(value) > limit:
        return f"{what} {value[:40]!r}... is {len(value)} characters long; at most {limit} fit"
    return None


def collection_name_problem(value: str) -> str | None:
    """Why ``value`` is not a collection name (see ``analysis.models``), or ``None``."""
    from django.core.exceptions import ValidationError

    try:
        validate_collection_name(value)
    except ValidationError:
        shown = value if len(value) <= 70 else value[:70] + "..."
        return f"collection name {shown!r} is not a name: a collection name is {COLLECTION_NAME_RULE}"
    return None


def json_too_deep(text: str, value: Any) -> bool:
    """True when the parsed JSON ``value`` (of the line ``text``) nests deeper than MAX_JSON_DEPTH.

    Most lines have fewer brackets than the bound, which settles it without a walk.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def json_loads_bounded(text: str) -> tuple[Any, str | None]:
    """``json.loads(text)`` and ``None``, or ``(None, why)`` when it nests too deep to accept."""
    try:
        value = json.loads(text)
    except RecursionError:
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, (dict, list)) and json_too_deep(text, value):
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return value, None

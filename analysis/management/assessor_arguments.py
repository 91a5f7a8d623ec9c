"""What the commands that take assessors by name share: ``--assessors A,B,C`` lists and
the lookup of a collection and its assessors, with one wording of their errors."""
from __future__ import annotations

from collections.abc import Sequence

from django.core.management.base import CommandError

from analysis.estimation import EstimationError
from analysis.estimation_selectors import assessor_by_name, collection_by_name
from analysis.models import Assessor, Collection


def comma_separated(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: a comma-separated option (assessors, methods, budgets), spaces and empty items dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def collection_and_assessors(*, collection: str, names: Sequence[str], role: str) -> tuple[Collection, list[Assessor]]:
    """The collection and the assessors named, in order; an unknown one is a CommandError
    ("unknown collection 'x'", "unknown <role> assessor 'y'")."""
    try:
        return collection_by_name(collection), [assessor_by_name(name, role=role) for name in names]
    except EstimationError as exc:
        raise CommandError(str(exc)) from exc

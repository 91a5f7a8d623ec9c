"""What the commands that take assessors by name share: ``--assessors A,B,C`` lists and
the lookup of a collection and its assessors, with one wording of their errors."""
from __future__ import annotations

from collections.abc import Sequence

from django.core.management.base import CommandError

from analysis import corpus_selectors
from analysis.models import Assessor, Collection


def comma_separated(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: a comma-separated option (assessors, methods, budgets), spaces and empty items dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def collection_and_assessors(*, collection: str, names: Sequence[str], role: str) -> tuple[Collection, list[Assessor]]:
    """The collection and the assessors named, in order; an unknown one is a CommandError
    ("unknown collection 'x'", "unknown <role> assessor 'y'")."""
    found = corpus_selectors.collection_get(name=collection)
    if found is None:
        raise CommandError(f"unknown collection {collection!r}")
    assessors = []
    for name in names:
        assessor = corpus_selectors.assessor_get(name=name)
        if assessor is None:
            raise CommandError(f"unknown {role} assessor {name!r}")
        assessors.append(assessor)
    return found, assessors

"""The ``<collection:...>`` path converter: URLs accept exactly the names a collection may have.

Its pattern is the model's (``COLLECTION_NAME_PATTERN``), so every stored name can be
reversed into a URL and no URL reaches a view with a name no collection can have.
"""
from __future__ import annotations

from analysis.models import COLLECTION_NAME_PATTERN


class CollectionNameConverter:
    regex = COLLECTION_NAME_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value

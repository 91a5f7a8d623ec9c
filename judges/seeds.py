"""HardQ's own default prompt templates (version 1 of each), as the judges app starts.

Seeded by migration 0002 and again after every ``flush`` (``analysis.seeding``); the
functions take the app registry they are given (the migration's historical one, or
the installed one), so they work in both places.
"""
from __future__ import annotations

import hashlib

from judges.prompts import DEFAULT_TEMPLATES


def default_templates_seed(apps, schema_editor) -> None:
    """Create version 1 of each default template that is missing (idempotent)."""
    PromptTemplate = apps.get_model("judges", "PromptTemplate")
    for t in DEFAULT_TEMPLATES:
        # Same hash as PromptTemplate.compute_hash (historical models have no methods).
        digest = hashlib.sha256("\x1f".join([t["kind"], "", t["content"], ""]).encode("utf-8")).hexdigest()
        PromptTemplate.objects.get_or_create(
            name=t["name"], version=1,
            defaults={"kind": t["kind"], "content": t["content"], "description": t["description"], "content_hash": digest},
        )


def default_templates_unseed(apps, schema_editor) -> None:
    PromptTemplate = apps.get_model("judges", "PromptTemplate")
    PromptTemplate.objects.filter(name__in=[t["name"] for t in DEFAULT_TEMPLATES], version=1, jobs__isnull=True).delete()

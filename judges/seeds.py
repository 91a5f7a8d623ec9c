"""HardQ's own default prompt templates (version 1 of each), as the judges app starts.

Seeded by migration 0002 and again after every ``flush`` (``analysis.seeding``); the
functions take the app registry they are given (the migration's historical one, or
the installed one), so they work in both places.
"""
from __future__ import annotations

import hashlib

from judges.probe_texts import DEFAULT_PROBE_TEXTS
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


def probe_texts_seed(apps, schema_editor) -> None:
    """Create version 1 of each probe text that is missing (idempotent)."""
    ProbeText = apps.get_model("judges", "ProbeText")
    for t in DEFAULT_PROBE_TEXTS:
        digest = hashlib.sha256(t["content"].encode("utf-8")).hexdigest()
        ProbeText.objects.get_or_create(
            name=t["name"], version=1,
            defaults={"content": t["content"], "description": t["description"], "content_hash": digest},
        )


def probe_texts_unseed(apps, schema_editor) -> None:
    ProbeText = apps.get_model("judges", "ProbeText")
    ProbeText.objects.filter(name__in=[t["name"] for t in DEFAULT_PROBE_TEXTS], version=1).delete()

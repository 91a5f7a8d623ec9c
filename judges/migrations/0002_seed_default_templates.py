"""Seed HardQ's own default prompt templates (version 1 of each)."""
import hashlib

from django.db import migrations


def seed(apps, schema_editor):
    from judges.prompts import DEFAULT_TEMPLATES

    PromptTemplate = apps.get_model("judges", "PromptTemplate")
    for t in DEFAULT_TEMPLATES:
        # Same hash as PromptTemplate.compute_hash (historical models have no methods).
        digest = hashlib.sha256("\x1f".join([t["kind"], "", t["content"], ""]).encode("utf-8")).hexdigest()
        PromptTemplate.objects.get_or_create(
            name=t["name"], version=1,
            defaults={"kind": t["kind"], "content": t["content"], "description": t["description"], "content_hash": digest},
        )


def unseed(apps, schema_editor):
    from judges.prompts import DEFAULT_TEMPLATES

    PromptTemplate = apps.get_model("judges", "PromptTemplate")
    PromptTemplate.objects.filter(name__in=[t["name"] for t in DEFAULT_TEMPLATES], version=1, jobs__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("judges", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]

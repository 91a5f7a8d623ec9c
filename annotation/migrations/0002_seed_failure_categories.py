"""Seed the failure-category taxonomy with the paper's ten categories (editable afterwards)."""
from django.db import migrations

from annotation.seeds import failure_categories_seed, failure_categories_unseed


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0001_initial"),
        ("analysis", "0001_initial"),
    ]

    operations = [migrations.RunPython(failure_categories_seed, failure_categories_unseed)]

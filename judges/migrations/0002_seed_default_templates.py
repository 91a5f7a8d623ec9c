"""Seed HardQ's own default prompt templates (version 1 of each)."""
from django.db import migrations

from judges.seeds import default_templates_seed, default_templates_unseed


class Migration(migrations.Migration):
    dependencies = [("judges", "0001_initial")]

    operations = [migrations.RunPython(default_templates_seed, default_templates_unseed)]

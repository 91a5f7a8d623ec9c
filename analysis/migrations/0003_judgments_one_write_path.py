"""Judgments get one write path (analysis.judgments): the triggers that kept the
agreement copies in step with every writer are dropped, and a judgment can carry the
assessor's probability of each grade.

Copies built under the triggers stay valid: their version is the one the trigger
last set, and any later write gives the assessor a new one."""

from importlib import import_module

from django.db import migrations, models

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS analysis_judgment_labels_insert ON analysis_judgment;
DROP TRIGGER IF EXISTS analysis_judgment_labels_update ON analysis_judgment;
DROP TRIGGER IF EXISTS analysis_judgment_labels_delete ON analysis_judgment;
DROP TRIGGER IF EXISTS analysis_judgment_labels_truncate ON analysis_judgment;
DROP FUNCTION IF EXISTS analysis_label_version_bump();
DROP FUNCTION IF EXISTS analysis_label_arrays_clear();
"""


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGERS)


def restore_triggers(apps, schema_editor):
    # Migrating back to 0002 means running its triggers again; the module name
    # starts with a digit, hence import_module.
    import_module("analysis.migrations.0002_agreement_label_arrays").create_triggers(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ("analysis", "0002_agreement_label_arrays"),
    ]

    operations = [
        migrations.RunPython(drop_triggers, restore_triggers),
        migrations.AddField(
            model_name="judgment",
            name="probabilities",
            field=models.JSONField(
                blank=True,
                help_text="the assessor's probability of each grade (index = grade), when it gave them",
                null=True,
            ),
        ),
    ]

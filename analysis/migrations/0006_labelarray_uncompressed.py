"""Store the packed label arrays uncompressed (PostgreSQL).

A small write patches an assessor's array in place (``analysis.judgments``): writing
back 9 MB of a million pairs took 0.8-0.9 s with the default pglz compression and
0.3-0.4 s uncompressed (BENCHMARKS.md, agreement). The arrays are sorted keys and
small grades that compress to about 40%; the space is the lesser cost.
"""
from django.db import migrations


def uncompressed(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("analysis", "LabelArray")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN keys SET STORAGE EXTERNAL, ALTER COLUMN grades SET STORAGE EXTERNAL")


def compressed(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("analysis", "LabelArray")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN keys SET STORAGE EXTENDED, ALTER COLUMN grades SET STORAGE EXTENDED")


class Migration(migrations.Migration):
    dependencies = [("analysis", "0005_reason_list_subject")]
    operations = [migrations.RunPython(uncompressed, compressed)]

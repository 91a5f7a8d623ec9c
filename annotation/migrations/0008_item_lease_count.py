"""Item.lease_count: the item's assignments in the leased state, which a lease writes
on the item's row (so a competing lease reads it under the row lock instead of
counting the live leases again). Filled from the assignments that exist."""
from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_leases(apps: Any, schema_editor: Any) -> None:
    Item = apps.get_model("annotation", "Item")
    Assignment = apps.get_model("annotation", "Assignment")
    leased = (
        Assignment.objects.filter(item_id=OuterRef("pk"), status="leased")
        .order_by().values("item_id").annotate(n=Count("pk")).values("n")
    )
    Item.objects.update(lease_count=Coalesce(Subquery(leased, output_field=IntegerField()), 0))


class Migration(migrations.Migration):
    dependencies = [("annotation", "0007_anchoring_control")]

    operations = [
        migrations.AddField(model_name="item", name="lease_count", field=models.PositiveIntegerField(default=0)),
        migrations.RunPython(count_leases, migrations.RunPython.noop),
    ]

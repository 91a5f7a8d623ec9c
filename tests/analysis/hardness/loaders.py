"""Test database helpers for the hardness tests."""
from __future__ import annotations

from analysis.models import Collection, Judgment, RunRow


def delete_collection(collection: Collection) -> None:
    """Delete a loaded collection fast: raw deletes of the big tables, then the rest."""
    from django.db import connection

    with connection.cursor() as cur:
        for model, column in [(RunRow, "run_id IN (SELECT id FROM analysis_run WHERE collection_id = %s)"),
                              (Judgment, "query_id IN (SELECT id FROM analysis_query WHERE collection_id = %s)")]:
            cur.execute(f"DELETE FROM {model._meta.db_table} WHERE {column}", [collection.id])
        cur.execute("DELETE FROM analysis_passage WHERE collection_id = %s AND id NOT IN "
                    "(SELECT passage_id FROM analysis_bertscore UNION SELECT passage_id FROM analysis_pairwisepreference)",
                    [collection.id])
    collection.delete()

"""Celery tasks of the analysis app: thin wrappers that take ids and call a service."""
from __future__ import annotations

from celery import shared_task

from analysis import hardness_services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def hardness_compute(analysis_id: int) -> dict:
    """Compute a started hardness analysis of any task (H2R, H2G, H2J).

    Idempotent: a done analysis is not computed again; a failure is stored on the analysis.
    """
    analysis = hardness_services.hardness_analysis_compute(analysis_id=analysis_id)
    return {"analysis": analysis.id, "status": analysis.status}

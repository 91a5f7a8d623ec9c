"""Celery tasks of the analysis app: thin wrappers that take ids and call the computation.

``analysis.hardness_services`` sends these (on commit); a task module imports only what
it runs (``analysis.hardness_computations``), never the services, so the two do not import
each other.
"""
from __future__ import annotations

from celery import shared_task

from analysis import hardness_computations


@shared_task(acks_late=True, reject_on_worker_lost=True)
def hardness_compute(analysis_id: int) -> dict:
    """Compute a started hardness analysis of any task (H2R, H2G, H2J).

    Idempotent: a done analysis is not computed again; a failure is stored on the analysis.
    """
    analysis = hardness_computations.hardness_analysis_compute(analysis_id=analysis_id)
    return {"analysis": analysis.id, "status": analysis.status}

"""Celery tasks of the analysis app: thin wrappers that take ids and call a service."""
from __future__ import annotations

from celery import shared_task

from analysis import hardness_services


@shared_task(acks_late=True)
def h2g_compute(analysis_id: int) -> int:
    """Compute the BERTScores of a pending H2G analysis (resumes where it stopped)."""
    return hardness_services.h2g_analysis_compute(analysis_id=analysis_id).id

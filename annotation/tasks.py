"""Celery tasks of the annotation app: thin wrappers that take ids and call the write.

``annotation.services`` sends these (on commit); the task imports only what it runs
(``annotation.budget_services``), never the services.
"""
from __future__ import annotations

from celery import shared_task

from annotation import budget_services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def budget_round_check(campaign_id: int) -> dict:
    """Add a budget campaign's next round if its last one is complete.

    Idempotent: the plan's row is locked and a round is added only after a complete one,
    so a retried or duplicated task adds nothing more.
    """
    added = budget_services.budget_round_add(campaign_id=campaign_id)
    return {"campaign": campaign_id, "round": added.number if added else None}

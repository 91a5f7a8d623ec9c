"""Celery tasks of the judges app: thin, they take ids and call the runner.

The services send these (``services.job_start``, on commit); a task module imports
only what it runs (``judges.runner``, ``judges.selectors``), never the services, so
the two do not import each other.
"""
from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.signals import worker_ready

from judges import runner, selectors

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def run_llm_job(self: Task, job_id: int) -> dict:
    """Run (or resume) one LLM job, or this worker's share of it: several of these tasks
    (``job.runners``), on any workers, claim its items in batches and finish it together.
    Idempotent: finished items are skipped, answered calls come from the cache."""
    job = runner.job_run(job_id=job_id, worker=self.request.hostname or "")
    if job is None:
        return {"job": job_id, "skipped": True}
    return {"job": job_id, "status": job.status, "done": job.done, "invalid": job.invalid, "failed": job.failed}


@worker_ready.connect
def resume_interrupted_jobs(sender=None, **kwargs) -> None:
    """A worker that starts picks up jobs left running by a dead one (``kill -9``).

    Their items' leases expire and are claimed again; calls already answered are in the cache.
    """
    for job in selectors.jobs_to_resume():
        log.warning("resuming interrupted LLM job %s", job.pk)
        run_llm_job.delay(job.pk)

"""Celery tasks of the judges app: thin, they take ids and call the runner.

The services send these (``services.job_start``, on commit); a task module imports
only what it runs (``judges.runner``, ``judges.batch``, ``judges.selectors``), never the
services, so the two do not import each other. ``poll_llm_batches`` is celery beat's
(``CELERY_BEAT_SCHEDULE`` in the settings) and may be called directly.
"""
from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.signals import worker_ready

from judges import batch, runner, selectors

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def run_llm_job(self: Task, job_id: int) -> dict:
    """Run (or resume) one LLM job, or this worker's share of it: several of these tasks
    (``job.runners``), on any workers, claim its items in batches and finish it together;
    for a batch-mode job, take one step of it (``judges.batch``).
    Idempotent: finished items are skipped, answered calls come from the cache."""
    if selectors.job_is_batch(job_id=job_id):
        job = batch.job_batch_step(job_id=job_id)
    else:
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


@shared_task
def poll_llm_batches() -> dict:
    """Celery beat's: a step for every running batch-mode job (read what its batches
    answered, send what is left), and the status of the batches of cancelled jobs."""
    running = selectors.batch_jobs_running()
    for job_id in running:
        run_llm_job.delay(job_id)
    for job_id in selectors.cancelled_jobs_with_open_batches():
        cancel_llm_batches.delay(job_id)
    return {"jobs": running}


@shared_task
def cancel_llm_batches(job_id: int) -> dict:
    """Cancel a cancelled job's open batches at the endpoint."""
    batch.job_batches_cancel(job_id=job_id)
    return {"job": job_id}

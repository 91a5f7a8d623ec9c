"""The kind handler of a job, whatever its kind (the runner's one entry to the handlers).

The probe handler (``judges.probe_kinds``) builds on ``judges.kinds``; choosing here
keeps the two modules free of each other's imports.
"""
from __future__ import annotations

from judges.kinds import Handler, handler_for as kind_handler_for
from judges.models import JobKind, LLMJob
from judges.probe_kinds import ProbeHandler


def handler_for(job: LLMJob) -> Handler:
    if job.kind == JobKind.PROBE:
        return ProbeHandler(job)
    return kind_handler_for(job)

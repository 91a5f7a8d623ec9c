"""Reads of the probes: an assessor's configuration, what a probe may sample, the results.

``probe_summaries`` is what the judge card and the leaderboard show: for each assessor,
the latest finished result of each probe.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef

from analysis.models import Assessor, Collection, Judgment, PairwisePreference
from judges import probe_texts
from judges.models import Endpoint, JobKind, LLMCall, LLMJob, ProbeResult, ProbeText, PromptTemplate


@dataclass
class JudgeConfiguration:
    """How an LLM assessor asked: endpoint (URL, model, parameters), template, samples."""

    endpoint: Endpoint
    template: PromptTemplate
    samples: int
    source_job: LLMJob | None

    @property
    def pairwise(self) -> bool:
        return self.template.kind == "pairwise"


def assessor_configuration(*, assessor: Assessor) -> JudgeConfiguration | None:
    """The configuration an LLM assessor's labels came from: the latest judge or pairwise
    job that wrote as it; else its recorded model, template and version with the one
    endpoint of that model and parameters. None when neither is known."""
    job = (
        LLMJob.objects.select_related("endpoint", "template")
        .filter(assessor=assessor, kind__in=[JobKind.JUDGE, JobKind.PAIRWISE])
        .order_by("-created_at", "-pk")
        .first()
    )
    if job is not None:
        return JudgeConfiguration(endpoint=job.endpoint, template=job.template, samples=job.samples, source_job=job)
    if not (assessor.model and assessor.prompt_template and assessor.prompt_version.isdigit()):
        return None
    template = PromptTemplate.objects.filter(name=assessor.prompt_template, version=int(assessor.prompt_version)).first()
    endpoints = [e for e in Endpoint.objects.filter(model=assessor.model) if (e.parameters or {}) == (assessor.parameters or {})]
    if template is None or len(endpoints) != 1:
        return None
    return JudgeConfiguration(endpoint=endpoints[0], template=template, samples=1, source_job=None)


def reference_default(*, collection: Collection) -> Assessor | None:
    """The collection's official qrels: the official assessor that judged it (``official`` first)."""
    officials = Assessor.objects.filter(
        kind=Assessor.OFFICIAL, judgments__query__collection=collection
    ).distinct().order_by("name")
    return officials.filter(name="official").first() or officials.first()


def probe_text_latest(*, name: str) -> ProbeText | None:
    return ProbeText.objects.filter(name=name).order_by("-version").first()


def probe_candidates(*, collection: Collection, assessor: Assessor, reference: Assessor, probe: str) -> list[tuple[str, str]]:
    """The (qid, docid) pairs ``probe`` may sample, sorted: pairs the assessor judged
    (validly) whose reference grade is 0 (stuffing, injection) or the top of the
    reference's scale (truncation, passages of more than one sentence); for position,
    the pairs the pairwise assessor compared with a generated passage."""
    if probe == probe_texts.POSITION:
        prefs = PairwisePreference.objects.filter(
            assessor=assessor, query__collection=collection, generation__isnull=False, passage__text__isnull=False,
        ).values_list("query__qid", "passage__docid").order_by("query__qid", "passage__docid")
        return list(prefs)
    grade = 0 if probe_texts.RISES[probe] else Assessor.SCALE_GRADES[reference.scale][-1]
    graded_by_reference = Judgment.objects.filter(
        assessor=reference, query_id=OuterRef("query_id"), passage_id=OuterRef("passage_id"), grade=grade, valid=True,
    )
    rows = (
        Judgment.objects.filter(assessor=assessor, query__collection=collection, valid=True, passage__text__isnull=False)
        .filter(Exists(graded_by_reference))
        .exclude(passage__text="")
        .values_list("query__qid", "passage__docid", "passage__text")
        .order_by("query__qid", "passage__docid")
    )
    if probe == probe_texts.TRUNCATION:
        return [(q, d) for q, d, text in rows if probe_texts.first_sentence(text) != text.strip()]
    return [(q, d) for q, d, _ in rows]


def _summary(result: ProbeResult) -> dict[str, Any]:
    job = result.job
    return {
        "probe": result.probe, "version": result.version, "job": result.job_id, "status": job.status,
        "reference": result.reference.name if result.reference_id and result.reference else None,
        "sampled": result.sampled, "n": result.n, "flipped": result.flipped, "at_ceiling": result.at_ceiling,
        "flip_rate": result.flip_rate, "ci_low": result.ci_low, "ci_high": result.ci_high,
        "created_at": result.created_at.isoformat(),
    }


def probe_summaries(*, assessor_ids: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """assessor id -> probe name -> the latest result of a finished probe job
    (``probe``, ``version``, ``job``, ``n``, ``flipped``, ``flip_rate``, ``ci_low``,
    ``ci_high``, ``sampled``, ``at_ceiling``, ``reference``, ``created_at``). Assessors
    never probed are missing; one query."""
    out: dict[int, dict[str, dict[str, Any]]] = {}
    results = (
        ProbeResult.objects.select_related("job", "reference")
        .filter(assessor_id__in=assessor_ids, job__status=LLMJob.DONE)
        .order_by("assessor_id", "probe", "-created_at", "-pk")
    )
    for result in results:
        out.setdefault(result.assessor_id, {}).setdefault(result.probe, _summary(result))
    return out


def probe_result_list(*, assessor: Assessor) -> list[dict[str, Any]]:
    """Every probe result of the assessor, newest first (running jobs included)."""
    return [
        _summary(r)
        for r in ProbeResult.objects.select_related("job", "reference").filter(assessor=assessor).order_by("-created_at", "-pk", "probe")
    ]


def probed_items(*, job: LLMJob, limit: int = 200) -> list[dict[str, Any]]:
    """The job's probed pairs with both answers and the prompt of the probe's call
    (from the call log: the job's own calls, or the cached one it reused)."""
    items = list(job.items.order_by("id")[:limit])
    keys = {k for item in items for part in (item.result or {}).get("calls", []) for k in part}
    calls = {
        c.cache_key: c for c in LLMCall.objects.filter(cache_key__in=keys, error="").only("cache_key", "request", "job_id")
    }
    rows = []
    for item in items:
        probe, qid, docid = item.key.split("\t", 2)
        result = item.result or {}
        parts = result.get("calls", [[], []])
        probed = calls.get(parts[1][0]) if len(parts) > 1 and parts[1] else None
        messages = (probed.request or {}).get("messages", []) if probed else []
        rows.append({
            "probe": probe, "qid": qid, "docid": docid, "status": item.status, "error": item.error,
            "original": result.get("original"), "modified": result.get("modified"),
            "flipped": result.get("flipped"), "at_ceiling": result.get("ceiling"),
            "answers": result.get("raw", [None, None]),
            "prompt": messages[-1]["content"] if messages else "",
            "call_job": probed.job_id if probed else None,
        })
    return rows


def probe_jobs(*, assessor: Assessor) -> list[LLMJob]:
    return list(LLMJob.objects.filter(kind=JobKind.PROBE, assessor=assessor).order_by("-created_at", "-pk"))

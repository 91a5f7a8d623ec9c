"""Writes of the probes: a probe job over sampled judged pairs, with its result rows.

A probe job is an LLM job (``JobKind.PROBE``) like any other: the runner claims its
items, asks through the call cache with retries, and the probe handler
(``judges.probe_kinds``) keeps the job's ``ProbeResult`` rows up to date.
"""
from __future__ import annotations

import random

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from analysis.models import Assessor, Collection
from judges import probe_selectors, probe_texts
from judges.models import JobKind, LLMJob, LLMJobItem, ProbeResult


class ProbeRefusal(ValueError):
    """A probe that cannot be run as asked; ``str()`` says why, naming the probe or assessor."""


def probes_parse(text: str) -> list[str]:
    """``stuffing,injection`` -> the probe names; unknown names refused, all listed."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in probe_texts.PROBES]
    if unknown:
        raise ProbeRefusal(f"unknown probe{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                           f"the probes are {', '.join(probe_texts.PROBES)}")
    if not names:
        raise ProbeRefusal(f"no probe named: the probes are {', '.join(probe_texts.PROBES)}")
    return list(dict.fromkeys(names))


def probe_job_create(
    *, collection: Collection, assessor: Assessor, probes: list[str] | None, sample: int, seed: int = 0,
    reference: Assessor | None = None, concurrency: int = 16, created_by: AbstractBaseUser | None = None,
) -> LLMJob:
    """A probe job: for each probe, ``sample`` pairs drawn (seeded) from its candidates,
    asked with the assessor's own configuration (``probes`` None: every probe that fits it). Raises ProbeRefusal, writing nothing, for
    an assessor that is not an LLM or whose configuration is unknown, a probe that does
    not fit its kind (position needs a pairwise judge; the others a graded or binary one),
    or a probe with nothing to sample."""
    if assessor.kind != Assessor.LLM:
        raise ProbeRefusal(f"assessor {assessor.name} is not an LLM judge (kind {assessor.kind}): only LLM judges can be probed")
    if sample < 1:
        raise ProbeRefusal("--sample must be at least 1")
    config = probe_selectors.assessor_configuration(assessor=assessor)
    if config is None:
        raise ProbeRefusal(
            f"the configuration of assessor {assessor.name} is unknown: no judge or pairwise job wrote its labels and "
            "its recorded model, template and version name no single endpoint and template (an imported label set "
            "cannot be asked again)"
        )
    fitting = probe_texts.PAIRWISE_PROBES if config.pairwise else probe_texts.PASSAGE_PROBES
    probes = list(fitting) if probes is None else probes
    for probe in probes:
        if probe not in fitting:
            kind = "pairwise" if config.pairwise else config.template.kind
            raise ProbeRefusal(
                f"probe {probe} does not apply to assessor {assessor.name}, a {kind} judge: "
                f"its probes are {', '.join(fitting)}"
            )
    if not config.pairwise:
        reference = reference or probe_selectors.reference_default(collection=collection)
        if reference is None:
            raise ProbeRefusal(f"collection {collection.name} has no official qrels: name a --reference")
    keys: list[str] = []
    texts: dict[str, dict[str, object]] = {}
    sampled: dict[str, int] = {}
    for probe in probes:
        text = probe_selectors.probe_text_latest(name=probe)
        if text is None:
            raise ProbeRefusal(f"probe {probe} has no text (the seeded probe texts are missing)")
        texts[probe] = {"version": text.version, "content": text.content}
        candidates = probe_selectors.probe_candidates(
            collection=collection, assessor=assessor, reference=reference or assessor, probe=probe
        )
        if not candidates:
            what = ("no compared pair with a generated passage" if probe == probe_texts.POSITION
                    else f"no pair judged by {assessor.name} that {reference.name if reference else ''} graded "
                         f"{'0' if probe_texts.RISES[probe] else 'at the top of its scale'}")
            raise ProbeRefusal(f"probe {probe}: nothing to sample in {collection.name}: {what}")
        # Each probe its own seeded draw, so adding a probe does not change another's sample.
        chosen = random.Random(f"{seed}:{probe}").sample(candidates, min(sample, len(candidates)))
        sampled[probe] = len(chosen)
        keys += [f"{probe}\t{q}\t{d}" for q, d in sorted(chosen)]
    spec = {
        "probes": probes, "sample": sample, "seed": seed, "texts": texts,
        "reference_id": reference.pk if reference else None,
        "source_job": config.source_job.pk if config.source_job else None,
    }
    with transaction.atomic():
        job = LLMJob.objects.create(
            kind=JobKind.PROBE, endpoint=config.endpoint, template=config.template, collection=collection,
            assessor=assessor, samples=config.samples, concurrency=concurrency, total=len(keys), item_spec=spec,
            created_by=created_by,
        )
        LLMJobItem.objects.bulk_create([LLMJobItem(job=job, key=k) for k in keys], batch_size=2000)
        ProbeResult.objects.bulk_create([
            ProbeResult(assessor=assessor, reference=reference, job=job, probe=probe,
                        version=int(str(texts[probe]["version"])), sampled=sampled[probe])
            for probe in probes
        ])
    return job

"""The judge card: how far one LLM assessor can be trusted, in one plain dict.

The page (``/judges/assessors/<name>/``), ``manage.py judge_card`` and
``GET /api/assessors/{name}/card/`` all render :func:`judge_card`. Every figure comes
from the statistics of ``analysis.agreement`` over the label arrays of
``analysis.agreement_selectors``; this module only picks what to compare: the
assessor's configuration and usage from its LLM jobs, and each official or human
assessor of the collection it shares pairs with as a reference.

The ``probes`` key is the place of the probes' flip rates (what fools the judge): an
empty list until the assessor was probed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from django.db.models import Count, Max, Min, Q, Sum
from django.urls import reverse

from analysis import agreement
from analysis import agreement_selectors as labels
from analysis.models import Assessor, Collection, Judgment
from judges import probe_selectors
from judges.models import JobKind, LLMCall, LLMJob, LLMJobItem, PromptTemplate

# The references a card compares with: assessors whose labels people would trust.
REFERENCE_KINDS = (Assessor.OFFICIAL, Assessor.HUMAN)


class JudgeCardError(ValueError):
    """A card that cannot be made; ``status`` is the HTTP status it means (404 or 400),
    ``field`` the parameter at fault."""

    def __init__(self, message: str, *, status: int = 400, field: str = "collection") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def llm_assessor(*, name: str) -> Assessor:
    """The LLM assessor called ``name``; 404-like errors for an unknown or non-LLM name."""
    assessor = Assessor.objects.filter(name=name).first()
    if assessor is None:
        raise JudgeCardError(f"unknown assessor {name!r}", status=404, field="assessor")
    if assessor.kind != Assessor.LLM:
        raise JudgeCardError(
            f"assessor {name!r} is not an LLM judge (its kind is {assessor.kind}): judge cards are for LLM assessors",
            status=404, field="assessor",
        )
    return assessor


def card_collection(*, assessor: Assessor, collection: str | None) -> Collection | None:
    """The collection of the card: the one named (where the assessor has labels), else the
    only one it has labels in; None when it has none. Several without a name is an error."""
    judged = list(
        Collection.objects.filter(queries__judgments__assessor=assessor).distinct().order_by("name")
    )
    if collection:
        coll = Collection.objects.filter(name=collection).first()
        if coll is None:
            raise JudgeCardError(f"unknown collection {collection!r}", status=404)
        if coll not in judged:
            raise JudgeCardError(f"assessor {assessor.name!r} has no labels in collection {collection!r}"
                                 f" (it has labels in: {', '.join(c.name for c in judged) or 'none'})")
        return coll
    if len(judged) > 1:
        raise JudgeCardError(
            f"assessor {assessor.name!r} has labels in several collections ({', '.join(c.name for c in judged)}):"
            " name one with collection"
        )
    return judged[0] if judged else None


def endpoint_host(base_url: str) -> str:
    """The host (and port) of an endpoint's URL: never its path, query or credentials."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def assessor_usage(*, assessor_ids: list[int], collection: Collection | None = None) -> dict[int, dict[str, Any]]:
    """Per assessor: its LLM jobs' calls, tokens, invalid and failed items (one query).
    Probe jobs, which run under the probed assessor's name, are the probes' own (their
    figures are the probes' section), not the labels'."""
    jobs = LLMJob.objects.filter(assessor_id__in=assessor_ids).exclude(kind=JobKind.PROBE)
    if collection is not None:
        jobs = jobs.filter(collection=collection)
    rows = jobs.values("assessor_id").annotate(
        jobs=Count("id"), calls=Sum("calls"), cached=Sum("cached"), tokens=Sum("tokens"),
        invalid=Sum("invalid"), failed=Sum("failed"), done=Sum("done"),
    )
    return {
        r["assessor_id"]: {k: int(r[k] or 0) for k in ("jobs", "calls", "cached", "tokens", "invalid", "failed", "done")}
        for r in rows
    }


def configuration(*, assessor: Assessor, collection: Collection | None) -> dict[str, Any]:
    """Model, template (with the link to its text), parameters, endpoint host, dates and usage.

    The endpoint's API key is never stored; the name of the variable holding it is left
    out too. Queries: the jobs with their endpoint and template (1), the template (1),
    the usage (1), the calls' dates and time (1).
    """
    jobs = list(
        LLMJob.objects.filter(assessor=assessor, **({"collection": collection} if collection else {}))
        .exclude(kind=JobKind.PROBE)
        .select_related("endpoint", "template")
        .order_by("created_at")
    )
    template = (
        jobs[-1].template if jobs
        else PromptTemplate.objects.filter(
            name=assessor.prompt_template, version=int(assessor.prompt_version)
        ).first() if assessor.prompt_template and assessor.prompt_version.isdigit() else None
    )
    usage = assessor_usage(assessor_ids=[assessor.pk], collection=collection).get(
        assessor.pk, {"jobs": 0, "calls": 0, "cached": 0, "tokens": 0, "invalid": 0, "failed": 0, "done": 0}
    )
    calls = LLMCall.objects.filter(job__in=[j.pk for j in jobs]).aggregate(
        first=Min("created_at"), last=Max("created_at"), latency=Sum("latency_ms"),
        errors=Count("id", filter=~Q(error="")),
    )
    started = [j.started_at for j in jobs if j.started_at]
    finished = [j.finished_at for j in jobs if j.finished_at]
    elapsed = sum(((j.finished_at - j.started_at).total_seconds() for j in jobs if j.started_at and j.finished_at), 0.0)
    hosts = sorted({endpoint_host(j.endpoint.base_url) for j in jobs})
    return {
        "model": assessor.model or (jobs[-1].endpoint.model if jobs else ""),
        "scale": assessor.scale,
        "template": {
            "name": template.name if template else assessor.prompt_template,
            "version": template.version if template else assessor.prompt_version,
            "kind": template.kind if template else "",
            "url": reverse("admin:judges_prompttemplate_change", args=[template.pk]) if template else None,
        },
        "parameters": assessor.parameters or (jobs[-1].endpoint.parameters if jobs else {}),
        "endpoint_hosts": hosts,
        "jobs": [{"id": j.pk, "kind": j.kind, "status": j.status, "samples": j.samples} for j in jobs],
        "first": _iso(min(started) if started else calls["first"]),
        "last": _iso(max(finished) if finished else calls["last"]),
        **{k: usage[k] for k in ("calls", "cached", "tokens", "invalid", "failed")},
        "elapsed_seconds": elapsed,
        "call_seconds": (calls["latency"] or 0) / 1000.0,
        "failed_attempts": calls["errors"],
    }


def _key_positions(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each wanted key sits in the sorted ``keys``, and which were found."""
    if keys.size == 0:
        return np.zeros(wanted.size, dtype=np.int64), np.zeros(wanted.size, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    return pos, keys[pos] == wanted


def _probabilities(*, collection: Collection, assessor: Assessor) -> tuple[np.ndarray, np.ndarray]:
    """(pair keys, (n, k) grade probabilities) of the assessor's valid judgments that have them."""
    rows = list(
        Judgment.objects.filter(
            query__collection=collection, assessor=assessor, valid=True, grade__isnull=False, probabilities__isnull=False
        ).values_list("query_id", "passage_id", "probabilities")
    )
    k = 2 if assessor.scale == Assessor.BINARY else 4
    keys = np.array([(q << 32) | p for q, p, _ in rows], dtype=np.int64)
    probs = np.zeros((len(rows), k))
    for i, (_, _, values) in enumerate(rows):
        probs[i, : min(k, len(values))] = values[:k]
    return keys, probs


def _samples(*, assessor: Assessor, collection: Collection) -> list[list[int]]:
    """The valid answers of each pair a judge job of the assessor asked several times."""
    items = LLMJobItem.objects.filter(
        job__assessor=assessor, job__collection=collection, job__kind="judge", job__samples__gt=1,
        status=LLMJobItem.DONE,
    ).values_list("result", flat=True)
    return [
        [int(v) for v in (result or {}).get("samples") or [] if v is not None]
        for result in items.iterator(chunk_size=5000)
    ]


def heatmap_rows(matrix: list[list[int]]) -> list[list[dict[str, Any]]]:
    """The confusion matrix as cells with a shade 0..9 of their row's share (CSS classes)."""
    cm = np.asarray(matrix, dtype=np.float64)
    shares = agreement.row_normalised(cm)
    return [
        [{"count": int(cm[i, j]), "share": float(shares[i, j]), "shade": min(9, int(shares[i, j] * 10))}
         for j in range(cm.shape[1])]
        for i in range(cm.shape[0])
    ]


@dataclass
class AgreementFigures:
    """The figures of one assessor against one reference on their shared pairs."""

    pair: agreement.PairAgreement
    kappa_binary: float | None
    alpha_ordinal: float | None
    reference_labels: np.ndarray
    assessor_labels: np.ndarray


def agreement_figures(data: labels.AlignedLabels) -> AgreementFigures:
    """Cohen's kappas (``agreement.pair_agreement``), the kappa of the grade >= 2 split and
    Krippendorff's ordinal alpha of ``data``'s two columns (reference first).

    A binary-scale assessor on either side puts every figure on the grade >= 2 split, as
    the agreement report does.
    """
    ref, oth = data.grades[:, 0], data.grades[:, 1]
    pair = agreement.pair_agreement(
        ref, oth, data.query_ids, reference=data.assessors[0], assessor=data.assessors[1],
        reference_is_binary=data.binary_scale[0], other_is_binary=data.binary_scale[1], n_boot=0,
    )
    if pair.binary:
        ref = ref if data.binary_scale[0] else agreement.to_binary(ref)
        oth = oth if data.binary_scale[1] else agreement.to_binary(oth)
    k = len(pair.labels)
    alpha = kappa_binary = None
    if pair.n:
        counts = agreement.category_counts(np.column_stack([ref, oth]), n_categories=k)
        alpha = agreement.krippendorff_alpha_from_counts(counts, level="ordinal", n_categories=k)
        split = (ref, oth) if pair.binary else (agreement.to_binary(ref), agreement.to_binary(oth))
        kappa_binary = agreement.kappa_from_matrix(
            agreement.confusion_matrix(*split, labels=agreement.BINARY_LABELS)
        )
    return AgreementFigures(pair, kappa_binary, alpha, ref, oth)


def reference_section(
    *, source: labels.LabelSource, reference: Assessor, assessor: Assessor, probabilities: tuple[np.ndarray, np.ndarray],
    runs: dict[str, Any],
) -> dict[str, Any]:
    """Agreement of the assessor with one reference on their shared pairs."""
    coverage = source.coverage(reference.name, assessor.name)
    data = source.aligned([reference.name, assessor.name])
    figures = agreement_figures(data)
    pair = figures.pair
    ref_labels, oth_labels, k = figures.reference_labels, figures.assessor_labels, len(pair.labels)
    binary_kappa, alpha = figures.kappa_binary, figures.alpha_ordinal
    # calibration: the assessor's probabilities on the pairs the reference graded
    ref_keys, ref_grades = source.arrays[reference.pk]
    prob_keys, probs = probabilities
    calibration = None
    if prob_keys.size:
        pos, hit = _key_positions(ref_keys, prob_keys)
        truth = ref_grades[pos[hit]].astype(np.int64)
        if probs.shape[1] == 2 and not data.binary_scale[0]:
            truth = agreement.to_binary(truth)
        calibration = agreement.calibration(probs[hit], np.minimum(truth, probs.shape[1] - 1))
    effect = None
    if runs:
        effect = agreement.evaluation_effect(
            runs, reference=labels.qrels(collection=source.collection.name, assessor=reference.name),
            assessor=labels.qrels(collection=source.collection.name, assessor=assessor.name),
        )
    return {
        "reference": reference.name,
        "reference_kind": reference.kind,
        **coverage,
        "n": pair.n,
        "n_queries": pair.n_queries,
        "binary": pair.binary,
        "labels": pair.labels,
        "percent_agreement": pair.percent_agreement,
        "kappa": pair.kappa,
        "kappa_linear": pair.kappa_linear,
        "kappa_quadratic": pair.kappa_quadratic,
        "kappa_binary": binary_kappa,
        "alpha_ordinal": alpha,
        "undefined_note": pair.undefined_note,
        "confusion_matrix": pair.confusion_matrix,
        "heatmap": heatmap_rows(pair.confusion_matrix),
        "per_grade": agreement.precision_recall_from_matrix(np.asarray(pair.confusion_matrix)),
        "distribution": {
            "labels": pair.labels,
            "assessor": np.bincount(oth_labels, minlength=k).tolist(),
            "reference": np.bincount(ref_labels, minlength=k).tolist(),
        },
        "calibration": calibration,
        "evaluation_effect": effect,
    }


def judge_card(*, assessor: str, collection: str | None = None) -> dict[str, Any]:
    """Everything the card shows for one LLM assessor, JSON-ready.

    Keys: assessor, collection, configuration (``configuration``), references (one
    entry per official or human assessor of the collection it shares pairs with:
    coverage, kappa plain/linear/quadratic, kappa on the grade >= 2 split, Krippendorff's
    ordinal alpha, the confusion matrix and its heatmap shades, per-grade precision and
    recall, both grade distributions on the shared pairs, calibration when the assessor
    stored grade probabilities, the effect on the runs' evaluation), self_consistency
    (when a job asked several samples per pair), probes. Raises :class:`JudgeCardError`.
    """
    judge = llm_assessor(name=assessor)
    coll = card_collection(assessor=judge, collection=collection)
    card: dict[str, Any] = {
        "assessor": judge.name,
        "kind": judge.kind,
        "collection": coll.name if coll else None,
        "configuration": configuration(assessor=judge, collection=coll),
        "references": [],
        "self_consistency": None,
        "probes": sorted(probe_selectors.probe_summaries(assessor_ids=[judge.pk]).get(judge.pk, {}).values(),
                         key=lambda p: p["probe"]),
    }
    if coll is None:
        return agreement.json_ready(card)
    references = sorted(
        (a for a in labels.collection_assessors(collection=coll.name)
         if a["kind"] in REFERENCE_KINDS and a["name"] != judge.name),
        key=lambda a: (a["kind"] != Assessor.OFFICIAL, a["name"]),
    )
    source = labels.LabelSource(collection=coll.name, assessors=[judge.name, *(a["name"] for a in references)])
    probabilities = _probabilities(collection=coll, assessor=judge)
    runs = labels.runs(collection=coll.name)
    for ref in references:
        if source.coverage(ref["name"], judge.name)["shared_pairs"] == 0:
            continue
        card["references"].append(reference_section(
            source=source, reference=source.assessors[ref["name"]], assessor=judge, probabilities=probabilities,
            runs=runs,
        ))
    samples = _samples(assessor=judge, collection=coll)
    if samples:
        card["self_consistency"] = agreement.split_vote_share(samples)
    return agreement.json_ready(card)

"""Agreement reports: humans vs LLMs and among humans, built from the judgments.

One report is built from the selectors and statistics of ``analysis.agreement`` and
rendered to every export format (``annotation.report_renderers``: CSV, JSON, XLSX,
self-contained HTML, with ``annotation.report_charts`` for the pictures). The web
page, the ``agreement`` / ``export_agreement`` commands and the API all parse their
parameters with ``annotation.report_params`` and call the same entry points:

* ``pair_report(...)``   -> dict, the JSON of ``agreement --reference A --assessor B``
* ``set_report(...)``    -> dict, the JSON of ``agreement --assessors A,B,C``
* ``report_export(...)`` -> ``ExportedReport(content, content_type, filename, ...)``

Reports are deterministic for the same judgments and parameters except for their
``generated_at`` time; ``report_etag`` and ``last_change`` let HTTP caching (Django's
``condition``) skip building them at all.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from django.conf import settings
from django.utils import timezone

from analysis import agreement
from analysis import agreement_selectors as selectors
from analysis.models import Collection
from analysis.pairwise_selectors import pairwise_summary_dict
from annotation import selectors as annotation_selectors
from annotation.models import ReasonVerdict
from annotation.report_params import DEFAULT_COVERAGE, ReportParams
from annotation.report_renderers import FORMATS, RENDERERS


def hardq_version() -> str:
    """The platform version written into every report (settings.HARDQ_VERSION, else the API's)."""
    return str(
        getattr(settings, "HARDQ_VERSION", None)
        or getattr(settings, "SPECTACULAR_SETTINGS", {}).get("VERSION")
        or "unknown"
    )


# --------------------------------------------------------------------------- JSON entry points


def pair_report(
    *,
    collection: str,
    reference: str,
    assessor: str,
    binary: bool = False,
    n_boot: int = agreement.DEFAULT_N_BOOT,
    seed: int = agreement.DEFAULT_SEED,
    source: selectors.LabelSource | None = None,
    name_queries: bool = True,
) -> dict[str, Any]:
    """Agreement of ``assessor`` with ``reference`` on their shared pairs, JSON-ready.

    Keys: n, n_queries, labels, confusion_matrix (rows: reference), percent_agreement,
    kappa, kappa_linear, kappa_quadratic, per_grade_accuracy, each statistic's
    ``*_ci`` [lo, hi] (95%, bootstrap over queries) and ``ci_note`` saying why there
    is none, binary, n_boot, seed; ``shared_pairs``, ``reference_pairs``,
    ``assessor_pairs`` and ``coverage`` (shared / the reference's pairs);
    ``disagreement_by_query`` (the queries with the most differing pairs, with their
    qid unless ``name_queries`` is False: the caller then names them in one read).
    A binary-scale assessor is compared on the grade >= 2 split.
    """
    source = source or selectors.LabelSource(collection=collection, assessors=[reference, assessor])
    data = source.aligned([reference, assessor])
    result = agreement.pair_agreement(
        data.grades[:, 0],
        data.grades[:, 1],
        data.query_ids,
        reference=reference,
        assessor=assessor,
        binary=binary,
        reference_is_binary=data.binary_scale[0],
        other_is_binary=data.binary_scale[1],
        n_boot=n_boot,
        seed=seed,
        by_query=True,
    )
    out = result.as_dict()
    out.pop("extra", None)
    out["collection"] = collection
    out.update(source.coverage(reference, assessor))
    if name_queries:
        _name_queries([out])
    return out


def _name_queries(pairs: Sequence[dict[str, Any]]) -> None:
    """Put each disagreeing query's qid beside its database id (one query for all pairs)."""
    ids = [d["query_id"] for p in pairs for d in p["disagreement_by_query"]]
    qids = selectors.query_qids(query_ids=ids) if ids else {}
    for p in pairs:
        for d in p["disagreement_by_query"]:
            d["qid"] = qids.get(d["query_id"], "")


def set_report(
    *,
    collection: str,
    assessors: Sequence[str],
    binary: bool = False,
    n_boot: int = agreement.DEFAULT_N_BOOT,
    seed: int = agreement.DEFAULT_SEED,
    source: selectors.LabelSource | None = None,
) -> dict[str, Any]:
    """Fleiss' kappa and Krippendorff's alpha (nominal, ordinal) on the pairs all assessors judged.

    Keys: n, n_queries, labels, fleiss_kappa, alpha_nominal, alpha_ordinal,
    percent_unanimous and the ``*_ci`` intervals; binary-scale assessors switch the
    whole set to the grade >= 2 split.
    """
    source = source or selectors.LabelSource(collection=collection, assessors=list(assessors))
    data = source.aligned(list(assessors))
    result = agreement.set_agreement(
        data.grades,
        data.query_ids,
        assessors=data.assessors,
        binary=binary,
        binary_assessors=data.binary_scale,
        n_boot=n_boot,
        seed=seed,
    )
    out = result.as_dict()
    out["collection"] = collection
    return out


def evaluation_effect_report(
    *,
    collection: str,
    reference: str,
    assessor: str,
    runs: dict[str, Any] | None = None,
    reference_qrels: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any] | None:
    """Each run's nDCG@10 under the reference's and the assessor's qrels cut to the pairs
    both judged, Kendall's tau-b, the coverage and the notes (``agreement.evaluation_effect``).

    ``runs`` and ``reference_qrels`` may be passed in when several assessors are
    compared, so that they are read once.
    """
    runs = selectors.runs(collection=collection) if runs is None else runs
    if not runs:
        return None
    effect = agreement.evaluation_effect(
        runs,
        reference=reference_qrels or selectors.qrels(collection=collection, assessor=reference),
        assessor=selectors.qrels(collection=collection, assessor=assessor),
    )
    effect["assessor"] = assessor
    return effect


# --------------------------------------------------------------------------- reasons


def reason_verdict_frame(*, collection: str, task: str = "", model: str = "", annotator: str = "") -> pd.DataFrame:
    """Human verdicts on LLM-proposed reasons as the frame ``analysis.agreement`` expects.

    One row per ``ReasonVerdict`` (agree / disagree / unsure on an LLM's reason, with
    the human's category), the annotator being the verdict's assignment's user; with
    no verdict yet the frame is empty and the reports say so. One query.
    """
    columns = list(agreement.REASON_COLUMNS) + ["reason_text"]
    user = "assignment__user__username"
    rows = ReasonVerdict.objects.filter(reason__proposal__query__collection__name=collection)
    if task:
        rows = rows.filter(reason__proposal__task=task)
    if model:
        rows = rows.filter(reason__proposal__assessor__name__icontains=model)
    if annotator:
        rows = rows.filter(**{user: annotator})
    values = rows.order_by("reason_id", user).values_list(
        "reason_id",
        "reason__proposal__task",
        "reason__proposal__assessor__name",
        "reason__category__name",
        user,
        "verdict",
        "category__name",
        "reason__text",
    )
    return pd.DataFrame(list(values), columns=columns)


def reasons_report(frame: pd.DataFrame) -> dict[str, Any]:
    """Acceptance per model/task/category, verdict agreement, category confusion, top reasons."""
    if frame.empty:
        return {"verdicts": 0}
    texts = dict(zip(frame["reason_id"], frame["reason_text"])) if "reason_text" in frame else None
    confusion = agreement.category_confusion(frame)

    def records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return agreement.json_ready(df.to_dict(orient="records"))

    return {
        "verdicts": int(len(frame)),
        "acceptance_by_model_task": records(agreement.reason_acceptance(frame, by=("model", "task"))),
        "acceptance_by_category": records(agreement.reason_acceptance(frame, by=("task", "category_llm"))),
        "verdict_agreement": agreement.verdict_agreement(frame),
        "category_confusion": {
            "categories": [str(c) for c in confusion.index],
            "matrix": confusion.to_numpy().tolist(),
        },
        "most_accepted": records(agreement.most_accepted_reasons(frame, texts=texts)),
    }


# --------------------------------------------------------------------------- the whole report


def last_change(params: ReportParams) -> datetime | None:
    """Latest change to any judgment the report reads (Last-Modified)."""
    p = params.resolved()
    return selectors.agreement_last_change(collection=p.collection, assessors=p.involved())


def report_etag(params: ReportParams, fmt: str) -> str:
    """A strong validator from the parameters, the state of the data and the version.

    Cheap (no statistics): the content is a function of exactly these. The state is
    the assessors' label versions (bumped by database triggers on any write, even a
    queryset ``update()`` that leaves ``updated_at`` alone), their judgment counts
    and the last ``updated_at``.
    """
    p = params.resolved()
    names = p.involved()
    state = selectors.labels_state(collection=p.collection, assessors=names)
    key = json.dumps([asdict(p), fmt, state, hardq_version()], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def build_report(params: ReportParams, *, with_effect: bool = True) -> dict[str, Any]:
    """Everything the exports show: parameters, coverage, sources, pairs, set, effect,
    reasons, pairwise."""
    p, coverage = params.resolved_with_coverage()
    involved = p.involved()
    # Queries: resolve (2) + labels of every involved assessor (LabelSource) + runs (1)
    # + one qrels read per assessor when the collection has runs + sources (2)
    # + last change (1) + reason verdicts (1): independent of the number of pairs.
    source = selectors.LabelSource(collection=p.collection, assessors=involved) if len(involved) >= 2 else None
    pairs = []
    effects = []
    runs = selectors.runs(collection=p.collection) if (with_effect and p.reference and p.assessors) else {}
    reference_qrels = selectors.qrels(collection=p.collection, assessor=p.reference) if runs and p.reference else None
    if p.reference:
        for name in p.assessors:
            if name == p.reference:
                continue
            pairs.append(
                pair_report(
                    collection=p.collection, reference=p.reference, assessor=name, binary=p.binary,
                    n_boot=p.n_boot, seed=p.seed, source=source, name_queries=False,
                )
            )
            if runs:
                effect = evaluation_effect_report(
                    collection=p.collection, reference=p.reference, assessor=name,
                    runs=runs, reference_qrels=reference_qrels,
                )
                if effect:
                    effects.append(effect)
    _name_queries(pairs)
    set_result = None
    if len(involved) >= 3 or (not p.reference and len(involved) >= 2):
        set_result = set_report(
            collection=p.collection, assessors=involved, binary=p.binary, n_boot=p.n_boot, seed=p.seed, source=source
        )
    changed = selectors.agreement_last_change(collection=p.collection, assessors=involved)
    reasons = reasons_report(
        reason_verdict_frame(collection=p.collection, task=p.task, model=p.model, annotator=p.annotator)
    )
    return {
        "title": f"Agreement report: {p.collection}",
        "hardq_version": hardq_version(),
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "last_change": changed.isoformat() if changed else None,
        "parameters": asdict(p),
        "coverage": coverage_section(coverage),
        "ndcg": agreement.NDCG_USED,
        "sources": selectors.assessor_sources(collection=p.collection, assessors=involved),
        "pairs": pairs,
        "set": set_result,
        "evaluation_effect": effects,
        "reasons": reasons,
        "pairwise": pairwise_section(collection=p.collection),
        "anchoring": annotation_selectors.collection_anchoring(collection=Collection.objects.get(name=p.collection)),
    }


def coverage_section(coverage: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """Every assessor's coverage of the reference's pairs and whether it is compared.

    The default set holds those at or above ``DEFAULT_COVERAGE``; ``excluded`` lists
    the others, which the page offers to add.
    """
    if coverage is None:
        return None
    keys = ("name", "kind", "scale", "model", "judgments", "shared_pairs", "reference_pairs", "assessor_pairs",
            "coverage", "included")
    rows = [{k: a[k] for k in keys} for a in coverage]
    return {
        "threshold": DEFAULT_COVERAGE,
        "rule": f"by default, the assessors that judged at least {DEFAULT_COVERAGE:.0%} of the reference's pairs",
        "assessors": rows,
        "excluded": [a["name"] for a in rows if not a["included"]],
    }


def pairwise_section(*, collection: str) -> dict[str, Any]:
    """Pairwise preferences per generator: how often the generated passage is preferred to
    the judged one, the ties, and for the pairs asked in both orders the position
    consistency, overall and per query (``analysis.pairwise_selectors``, one query).

    The pipeline's files record a winner for every comparison (label 1 or 2) and one
    order: their ties are 0 and their position consistency is None. A pairwise job asks
    both orders and counts a tie where they disagree.
    """
    return pairwise_summary_dict(collection=Collection.objects.get(name=collection))


@dataclass
class ExportedReport:
    content: bytes
    content_type: str
    filename: str
    last_modified: datetime | None
    etag: str


def report_export(
    *, params: ReportParams, fmt: str, estimates: list[dict[str, Any]] | None = None
) -> ExportedReport:
    """The report in one format: (content, content type, filename) plus HTTP validators.
    ``estimates`` (``annotation.report_estimates.estimates_section``) adds that section."""
    if fmt not in RENDERERS:
        raise ValueError(f"format must be one of {', '.join(RENDERERS)}")
    report = build_report(params)
    if estimates is not None:
        report = {**report, "estimates": estimates}
    content = RENDERERS[fmt](report)
    stem = "-".join(["agreement", params.collection, *(["binary"] if params.binary else [])])
    return ExportedReport(
        content=content,
        content_type=FORMATS[fmt],
        filename=f"{stem}.{fmt}",
        last_modified=datetime.fromisoformat(report["last_change"]) if report["last_change"] else None,
        etag=report_etag(params, fmt),
    )

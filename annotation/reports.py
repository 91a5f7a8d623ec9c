"""Agreement reports: humans vs LLMs and among humans, as data, pictures and files.

One report is built from the selectors and statistics of ``analysis.agreement`` and
rendered to every export format (CSV, JSON, XLSX, self-contained HTML). The web page,
the ``agreement`` / ``export_agreement`` commands and the API all call the same three
entry points:

* ``pair_report(...)``   -> dict, the JSON of ``agreement --reference A --assessor B``
* ``set_report(...)``    -> dict, the JSON of ``agreement --assessors A,B,C``
* ``report_export(...)`` -> ``ExportedReport(content, content_type, filename, ...)``

Reports are deterministic for the same judgments and parameters except for their
``generated_at`` time; ``report_etag`` and ``last_change`` let HTTP caching skip
building them at all.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from analysis import agreement
from analysis import agreement_selectors as selectors
from analysis.models import Assessor

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


def hardq_version() -> str:
    """The platform version written into every report (settings.HARDQ_VERSION, else the API's)."""
    return str(
        getattr(settings, "HARDQ_VERSION", None)
        or getattr(settings, "SPECTACULAR_SETTINGS", {}).get("VERSION")
        or "unknown"
    )


@dataclass
class ReportParams:
    """What a report is about; the same parameters give the same report."""

    collection: str
    reference: str | None = None
    assessors: list[str] = field(default_factory=list)
    binary: bool = False
    n_boot: int = agreement.DEFAULT_N_BOOT
    seed: int = agreement.DEFAULT_SEED
    task: str = ""
    model: str = ""
    annotator: str = ""

    def resolved(self) -> ReportParams:
        """Fill the defaults: reference = the official assessor, assessors = everyone else judged."""
        from analysis.models import Collection

        if not Collection.objects.filter(name=self.collection).exists():
            raise selectors.AgreementInputError(f"unknown collection {self.collection!r}")
        judged = selectors.collection_assessors(collection=self.collection)
        reference = self.reference
        if reference is None and not self.assessors:
            official = [a["name"] for a in judged if a["kind"] == Assessor.OFFICIAL]
            reference = official[0] if official else None
        assessors = list(self.assessors) or [a["name"] for a in judged if a["name"] != reference]
        if self.model:
            by_name = {a["name"]: a for a in judged}
            assessors = [
                a for a in assessors if self.model.lower() in (by_name.get(a, {}).get("model") or a).lower()
            ]
        return ReportParams(**{**asdict(self), "reference": reference, "assessors": assessors})

    def involved(self) -> list[str]:
        return ([self.reference] if self.reference else []) + [a for a in self.assessors if a != self.reference]


MAX_N_BOOT = 10_000


def params_from_query(query: Any, *, n_boot: int = agreement.DEFAULT_N_BOOT) -> ReportParams | None:
    """Report parameters from a query string (a QueryDict or a plain dict); None without a collection.

    Keys: collection, reference, assessor (repeatable) or assessors (comma-separated),
    binary (1/on/true), n_boot (capped at 10,000), seed, task, model, annotator.
    Shared by the dashboard, the downloads and the API.
    """
    get = query.get
    collection = (get("collection") or "").strip()
    if not collection:
        return None
    repeated = query.getlist("assessor") if hasattr(query, "getlist") else [get("assessor") or ""]
    assessors = [a for a in repeated if a] or [a.strip() for a in (get("assessors") or "").split(",") if a.strip()]
    try:
        n_boot = min(max(int(get("n_boot") or n_boot), 0), MAX_N_BOOT)
        seed = int(get("seed") or agreement.DEFAULT_SEED)
    except ValueError:
        seed = agreement.DEFAULT_SEED
    return ReportParams(
        collection=collection,
        reference=get("reference") or None,
        assessors=assessors,
        binary=str(get("binary") or "").lower() in {"1", "on", "true", "yes"},
        n_boot=n_boot,
        seed=seed,
        task=get("task") or "",
        model=get("model") or "",
        annotator=get("annotator") or "",
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
) -> dict[str, Any]:
    """Agreement of ``assessor`` with ``reference`` on their shared pairs, JSON-ready.

    Keys: n, n_queries, labels, confusion_matrix (rows: reference), percent_agreement,
    kappa, kappa_linear, kappa_quadratic, per_grade_accuracy, each statistic's
    ``*_ci`` [lo, hi] (95%, bootstrap over queries), binary, n_boot, seed.
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
    )
    out = result.as_dict()
    out.pop("extra", None)
    out["collection"] = collection
    return out


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
    """Each run's nDCG@10 under the reference's and the assessor's qrels, and Kendall's tau.

    ``runs`` and ``reference_qrels`` may be passed in when several assessors are
    compared, so that they are read once.
    """
    runs = selectors.runs(collection=collection) if runs is None else runs
    if not runs:
        return None
    effect = agreement.evaluation_effect(
        runs,
        official=reference_qrels or selectors.qrels(collection=collection, assessor=reference),
        llm=selectors.qrels(collection=collection, assessor=assessor),
    )
    effect["assessor"] = assessor
    return effect


# --------------------------------------------------------------------------- reasons


def reason_verdict_frame(*, collection: str, task: str = "", model: str = "", annotator: str = "") -> pd.DataFrame:
    """Human verdicts on LLM-proposed reasons as the frame ``analysis.agreement`` expects.

    Adapter over ``annotation.models.ReasonVerdict`` (owned by the annotation app):
    fields ``reason`` (FK to analysis.Reason), ``verdict`` (agree / disagree /
    unsure), ``category`` (FK to FailureCategory, optional) and the annotator either
    as ``user`` or through ``assignment.user``. One query. Until that model exists
    the frame is empty and the reports say "no verdicts yet".
    """
    columns = list(agreement.REASON_COLUMNS) + ["reason_text"]
    try:
        from annotation.models import ReasonVerdict  # type: ignore[attr-defined]
    except ImportError:
        return pd.DataFrame(columns=columns)
    field_names = {f.name for f in ReasonVerdict._meta.get_fields()}
    user = "user__username" if "user" in field_names else "assignment__user__username"
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
    """Everything the exports show: parameters, sources, pairs, set, effect, reasons."""
    p = params.resolved()
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
                    n_boot=p.n_boot, seed=p.seed, source=source,
                )
            )
            if runs:
                effect = evaluation_effect_report(
                    collection=p.collection, reference=p.reference, assessor=name,
                    runs=runs, reference_qrels=reference_qrels,
                )
                if effect:
                    effects.append(effect)
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
        "sources": selectors.assessor_sources(collection=p.collection, assessors=involved),
        "pairs": pairs,
        "set": set_result,
        "evaluation_effect": effects,
        "reasons": reasons,
    }


# --------------------------------------------------------------------------- charts


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    # No "Software" metadata: the same data gives the same bytes.
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def confusion_heatmap_png(pair: dict[str, Any], *, normalised: bool = False) -> bytes:
    """A heatmap of one pair's confusion matrix (counts, or each row divided by its total)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(pair["confusion_matrix"], dtype=float)
    shown = agreement.row_normalised(cm) if normalised else cm
    labels = [str(v) for v in pair["labels"]]
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalised else max(shown.max(), 1))
    for i in range(shown.shape[0]):
        for j in range(shown.shape[1]):
            text = f"{shown[i, j]:.2f}" if normalised else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > (0.6 if normalised else 0.6 * shown.max()) else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(pair["assessor"])
    ax.set_ylabel(f"{pair['reference']} (reference)")
    ax.set_title("row-normalised" if normalised else "counts", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _png(fig)


def kappa_chart_png(pairs: Sequence[dict[str, Any]]) -> bytes:
    """Cohen's kappa (unweighted, linear, quadratic) per assessor with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p["assessor"] for p in pairs]
    keys = [("kappa", "unweighted"), ("kappa_linear", "linear"), ("kappa_quadratic", "quadratic")]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(names) + 2), 3.2))
    width = 0.8 / len(keys)
    x = np.arange(len(names))
    for i, (key, label) in enumerate(keys):
        values = np.array([p[key] if p[key] is not None else np.nan for p in pairs], dtype=float)
        ci = [p.get(f"{key}_ci") or [v, v] for p, v in zip(pairs, values)]
        err = np.array([[v - lo for v, (lo, _) in zip(values, ci)], [hi - v for v, (_, hi) in zip(values, ci)]])
        ax.bar(x + (i - 1) * width, values, width, yerr=np.nan_to_num(err), capsize=3, label=label)
    ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("Cohen's kappa (95% CI)")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7)
    return _png(fig)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def report_images(report: dict[str, Any]) -> dict[str, Any]:
    """Base64 PNGs for the HTML report and the dashboard: heatmaps per pair, the kappa chart."""
    return {
        "heatmaps": [
            {
                "assessor": pair["assessor"],
                "counts": _data_uri(confusion_heatmap_png(pair)),
                "normalised": _data_uri(confusion_heatmap_png(pair, normalised=True)),
            }
            for pair in report["pairs"]
        ],
        "kappa_chart": _data_uri(kappa_chart_png(report["pairs"])) if report["pairs"] else None,
    }


# --------------------------------------------------------------------------- renderers


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (names, file names) gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeCsvWriter:
    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Sequence[Any]) -> None:
        self._writer.writerow([_spreadsheet_safe(v) for v in row])


def render_json(report: dict[str, Any]) -> bytes:
    return (json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def summary_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per compared pair and one for the set: the table of the CSV and the pages."""
    rows = []
    for p in report["pairs"]:
        rows.append(
            {
                "kind": "pair",
                "reference": p["reference"],
                "assessor": p["assessor"],
                "binary": p["binary"],
                "n": p["n"],
                "n_queries": p["n_queries"],
                "percent_agreement": p["percent_agreement"],
                "percent_agreement_ci": p["percent_agreement_ci"],
                "kappa": p["kappa"],
                "kappa_ci": p["kappa_ci"],
                "kappa_linear": p["kappa_linear"],
                "kappa_linear_ci": p["kappa_linear_ci"],
                "kappa_quadratic": p["kappa_quadratic"],
                "kappa_quadratic_ci": p["kappa_quadratic_ci"],
            }
        )
    return rows


def render_csv(report: dict[str, Any]) -> bytes:
    """Sections separated by a blank line: parameters, pair summary, confusion matrices, set, effect."""
    out = io.StringIO()
    w = _SafeCsvWriter(out)
    w.writerow(["# HardQ agreement report", report["hardq_version"], report["generated_at"]])
    for key, value in report["parameters"].items():
        w.writerow(["parameter", key, ",".join(value) if isinstance(value, list) else _fmt(value)])
    for src in report["sources"]:
        for s in src["sources"]:
            w.writerow(["source", src["assessor"], src["kind"], s["filename"], s["judgments"], s["sha256"]])
    w.writerow([])
    head = ["reference", "assessor", "binary", "n", "n_queries"]
    stats = ["percent_agreement", "kappa", "kappa_linear", "kappa_quadratic"]
    w.writerow(head + [c for s in stats for c in (s, f"{s}_ci_low", f"{s}_ci_high")])
    for p in report["pairs"]:
        values = [v for s in stats for v in (p[s], *(p.get(f"{s}_ci") or [None, None]))]
        w.writerow([p["reference"], p["assessor"], p["binary"], p["n"], p["n_queries"]] + [_fmt(v) for v in values])
    for p in report["pairs"]:
        w.writerow([])
        w.writerow([f"confusion matrix: rows {p['reference']}, columns {p['assessor']}"] + p["labels"])
        for label, row in zip(p["labels"], p["confusion_matrix"]):
            w.writerow([label] + row)
        w.writerow(["per-grade accuracy"] + [_fmt(v) for v in p["per_grade_accuracy"]])
    if report["set"]:
        s = report["set"]
        w.writerow([])
        w.writerow(["assessors", "n", "fleiss_kappa", "fleiss_kappa_ci_low", "fleiss_kappa_ci_high",
                    "alpha_nominal", "alpha_nominal_ci_low", "alpha_nominal_ci_high",
                    "alpha_ordinal", "alpha_ordinal_ci_low", "alpha_ordinal_ci_high"])
        row = [" ".join(s["assessors"]), s["n"]]
        for key in ("fleiss_kappa", "alpha_nominal", "alpha_ordinal"):
            row += [_fmt(s[key]), *[_fmt(v) for v in (s.get(f"{key}_ci") or [None, None])]]
        w.writerow(row)
    for effect in report["evaluation_effect"]:
        w.writerow([])
        w.writerow(["run", "ndcg_cut_10 " + (report["parameters"]["reference"] or ""), f"ndcg_cut_10 {effect['assessor']}"])
        for r in effect["runs"]:
            w.writerow([r["run"], _fmt(r["ndcg_cut_10_official"]), _fmt(r["ndcg_cut_10_llm"])])
        w.writerow(["kendall_tau", _fmt(effect["kendall_tau"])])
    return out.getvalue().encode("utf-8")


def render_xlsx(report: dict[str, Any]) -> bytes:
    """A workbook: Summary, one Confusion sheet per pair, Set, Effect, Sources."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    ws.append(["HardQ agreement report", report["hardq_version"], report["generated_at"]])
    for key, value in report["parameters"].items():
        ws.append([key, ",".join(value) if isinstance(value, list) else value])
    ws.append([])
    rows = summary_rows(report)
    cols = ["reference", "assessor", "binary", "n", "n_queries", "percent_agreement", "kappa", "kappa_linear", "kappa_quadratic"]
    ws.append(cols + ["kappa_ci_low", "kappa_ci_high"])
    for r in rows:
        ws.append([r[c] for c in cols] + list(r["kappa_ci"] or [None, None]))
    for i, p in enumerate(report["pairs"], start=1):
        sheet = wb.create_sheet(f"Confusion {i}")
        sheet.append([f"rows: {p['reference']} (reference), columns: {p['assessor']}"])
        sheet.append([""] + p["labels"])
        for label, row in zip(p["labels"], p["confusion_matrix"]):
            sheet.append([label] + row)
        sheet.append(["per-grade accuracy"] + p["per_grade_accuracy"])
    if report["set"]:
        s = report["set"]
        sheet = wb.create_sheet("Set")
        sheet.append(["assessors", ", ".join(s["assessors"])])
        for key in ("n", "n_queries", "fleiss_kappa", "alpha_nominal", "alpha_ordinal", "percent_unanimous"):
            sheet.append([key, s[key]] + list(s.get(f"{key}_ci") or []))
    if report["evaluation_effect"]:
        sheet = wb.create_sheet("Effect")
        for effect in report["evaluation_effect"]:
            sheet.append(["assessor", effect["assessor"], "kendall_tau", effect["kendall_tau"]])
            for r in effect["runs"]:
                sheet.append([r["run"], r["ndcg_cut_10_official"], r["ndcg_cut_10_llm"]])
    sheet = wb.create_sheet("Sources")
    sheet.append(["assessor", "kind", "scale", "model", "judgments", "file", "sha256"])
    for src in report["sources"]:
        for s in src["sources"]:
            sheet.append([src["assessor"], src["kind"], src["scale"], src["model"], s["judgments"], s["filename"], s["sha256"]])
    for worksheet in wb.worksheets:
        for row in worksheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                    cell.data_type = "s"  # text, never a formula
    # Fixed document dates so that the same data gives the same workbook contents.
    stamp = datetime.fromisoformat(report["last_change"]).replace(tzinfo=None) if report["last_change"] else datetime(2000, 1, 1)
    wb.properties.created = wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def report_context(report: dict[str, Any]) -> dict[str, Any]:
    """Template context of the report body (HTML export and dashboard)."""
    images = report_images(report)
    pair_views = [
        {
            "pair": pair,
            "heatmap": heatmap,
            "rows": list(zip(pair["labels"], pair["confusion_matrix"], pair["per_grade_accuracy"])),
        }
        for pair, heatmap in zip(report["pairs"], images["heatmaps"])
    ]
    confusion = report["reasons"].get("category_confusion") or {"categories": [], "matrix": []}
    return {
        "report": report,
        "images": images,
        "rows": summary_rows(report),
        "pair_views": pair_views,
        "category_rows": list(zip(confusion["categories"], confusion["matrix"])),
    }


def render_html(report: dict[str, Any]) -> bytes:
    """One self-contained page: tables plus charts as base64 PNG; every data text escaped."""
    return render_to_string("agreement/report.html", report_context(report)).encode("utf-8")


RENDERERS = {"csv": render_csv, "json": render_json, "xlsx": render_xlsx, "html": render_html}


@dataclass
class ExportedReport:
    content: bytes
    content_type: str
    filename: str
    last_modified: datetime | None
    etag: str


def report_export(*, params: ReportParams, fmt: str) -> ExportedReport:
    """The report in one format: (content, content type, filename) plus HTTP validators."""
    if fmt not in RENDERERS:
        raise ValueError(f"format must be one of {', '.join(RENDERERS)}")
    report = build_report(params)
    content = RENDERERS[fmt](report)
    stem = "-".join(["agreement", params.collection, *(["binary"] if params.binary else [])])
    return ExportedReport(
        content=content,
        content_type=FORMATS[fmt],
        filename=f"{stem}.{fmt}",
        last_modified=datetime.fromisoformat(report["last_change"]) if report["last_change"] else None,
        etag=report_etag(params, fmt),
    )

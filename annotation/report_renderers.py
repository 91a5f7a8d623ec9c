"""An agreement report (the dict ``reports.build_report`` returns) in each export format.

CSV, JSON, XLSX and one self-contained HTML page; the dashboard shows the same body as
the HTML export (``report_context``). Text cells that a spreadsheet would run as a
formula are neutralised in the CSV and typed as text in the workbook
(``conventions.csv_cells``); numbers stay numbers.
"""
from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string

from annotation.report_charts import report_images
from conventions.csv_cells import FORMULA_STARTS, CsvWriter

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


def _fmt(value: Any) -> Any:
    """A statistic as a CSV cell: rounded to 4 places, still a number (None: empty)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    return value


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
    w = CsvWriter(out)
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
    _estimates_csv(w, report)
    return out.getvalue().encode("utf-8")


# --- the estimates section (export_agreement --estimates; see annotation.report_estimates) ---

ESTIMATE_COLUMNS = ["source", "llm", "human", "measure", "level", "interval", "run", "n_labeled", "n_unlabeled",
                    "llm_only", "human_only", "human_only_ci_low", "human_only_ci_high", "ppi", "ppi_ci_low",
                    "ppi_ci_high", "error"]


def estimate_rows(report: dict[str, Any]) -> list[list[Any]]:
    """One row per (estimate, run), and one per estimate that could not be made."""
    rows = []
    for e in report.get("estimates") or []:
        source = f"campaign {e['campaign']}" if e.get("campaign") else e["source"]
        head = [source, e.get("llm", ""), e.get("human", ""), e.get("measure", ""), e.get("level", ""),
                e.get("interval", "")]
        if e.get("error"):
            rows.append(head + [""] * 10 + [e["error"]])
            continue
        for r in e["runs"]:
            h, p = r["human_only"], r["ppi"]
            rows.append(head + [r["run"], r["n_labeled"], r["n_unlabeled"], r["llm_only"], h["estimate"], h["ci_low"],
                                h["ci_high"], p["estimate"], p["ci_low"], p["ci_high"], ""])
    return rows


def _estimates_csv(w: Any, report: dict[str, Any]) -> None:
    if "estimates" not in report:
        return
    w.writerow([])
    w.writerow(["# estimates"])
    w.writerow(ESTIMATE_COLUMNS)
    for row in estimate_rows(report):
        w.writerow([_fmt(v) for v in row])


def _estimates_xlsx(wb: Any, report: dict[str, Any]) -> None:
    if "estimates" not in report:
        return
    sheet = wb.create_sheet("Estimates")
    sheet.append(ESTIMATE_COLUMNS)
    for row in estimate_rows(report):
        sheet.append(row)


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
    _estimates_xlsx(wb, report)
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

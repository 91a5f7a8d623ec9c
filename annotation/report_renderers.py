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
    """A statistic as a CSV cell: full precision, still a number (None: empty).

    Exports keep every digit (a reader re-computes from them); pages round for reading.
    """
    if value is None:
        return ""
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
                "shared_pairs": p.get("shared_pairs"),
                "coverage": p.get("coverage"),
                "ci_note": p.get("ci_note"),
                "undefined_note": p.get("undefined_note"),
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
    _csv_coverage(w, report)
    w.writerow([])
    head = ["reference", "assessor", "binary", "n", "n_queries", "shared_pairs", "reference_pairs", "coverage"]
    stats = ["percent_agreement", "kappa", "kappa_linear", "kappa_quadratic"]
    w.writerow(head + [c for s in stats for c in (s, f"{s}_ci_low", f"{s}_ci_high")] + ["ci_note", "undefined_note"])
    for p in report["pairs"]:
        values = [v for s in stats for v in (p[s], *(p.get(f"{s}_ci") or [None, None]))]
        w.writerow([_fmt(p.get(k)) for k in head] + [_fmt(v) for v in values]
                   + [_fmt(p.get("ci_note")), _fmt(p.get("undefined_note"))])
    for p in report["pairs"]:
        w.writerow([])
        w.writerow([f"confusion matrix: rows {p['reference']}, columns {p['assessor']}"] + p["labels"])
        for label, row in zip(p["labels"], p["confusion_matrix"]):
            w.writerow([label] + row)
        w.writerow(["per-grade accuracy"] + [_fmt(v) for v in p["per_grade_accuracy"]])
    for p in report["pairs"]:
        w.writerow([])
        w.writerow([f"queries with the most differing pairs: {p['reference']} vs {p['assessor']}", "qid", "pairs", "differing"])
        for d in p["disagreement_by_query"]:
            w.writerow(["", d.get("qid", ""), d["pairs"], d["differing"]])
    if report["set"]:
        s = report["set"]
        w.writerow([])
        w.writerow(["assessors", "n", "n_queries", "fleiss_kappa", "fleiss_kappa_ci_low", "fleiss_kappa_ci_high",
                    "alpha_nominal", "alpha_nominal_ci_low", "alpha_nominal_ci_high",
                    "alpha_ordinal", "alpha_ordinal_ci_low", "alpha_ordinal_ci_high", "ci_note", "undefined_note"])
        row = [" ".join(s["assessors"]), s["n"], s["n_queries"]]
        for key in ("fleiss_kappa", "alpha_nominal", "alpha_ordinal"):
            row += [_fmt(s[key]), *[_fmt(v) for v in (s.get(f"{key}_ci") or [None, None])]]
        w.writerow(row + [_fmt(s.get("ci_note")), _fmt(s.get("undefined_note"))])
    for effect in report["evaluation_effect"]:
        w.writerow([])
        w.writerow(["ndcg", effect["ndcg"]])
        w.writerow(["run", "ndcg_cut_10 " + (report["parameters"]["reference"] or ""), f"ndcg_cut_10 {effect['assessor']}",
                    "n_queries"])
        for r in effect["runs"]:
            w.writerow([r["run"], _fmt(r["ndcg_cut_10_reference"]), _fmt(r["ndcg_cut_10_assessor"]), r["n_queries"]])
        for key in ("kendall_tau_b", "kendall_tau_b_p", "n_runs", "shared_pairs", "reference_pairs", "coverage",
                    "kendall_tau_b_note", "p_value_note"):
            w.writerow([key, _fmt(effect[key])])
    _csv_pairwise(w, report)
    _estimates_csv(w, report)
    return out.getvalue().encode("utf-8")


def _csv_coverage(w: CsvWriter, report: dict[str, Any]) -> None:
    """Each assessor's coverage of the reference's pairs, and whether it is compared."""
    coverage = report.get("coverage")
    if not coverage:
        return
    w.writerow([])
    w.writerow(["coverage", coverage["rule"]])
    w.writerow(["assessor", "kind", "judgments", "shared_pairs", "reference_pairs", "coverage", "included"])
    for a in coverage["assessors"]:
        w.writerow([a["name"], a["kind"], a["judgments"], a["shared_pairs"], a["reference_pairs"], _fmt(a["coverage"]),
                    a["included"]])


PAIRWISE_COLUMNS = ["comparisons", "generated_preferred", "judged_preferred", "ties", "share", "tie_share",
                    "both_orders", "consistent", "position_consistency", "first_position_share"]


def _csv_pairwise(w: CsvWriter, report: dict[str, Any]) -> None:
    """Pairwise preferences per generator, overall then per query: wins, ties, and for the
    pairs asked in both orders the position consistency (empty for a one-order file)."""
    pairwise = report.get("pairwise") or {}
    if not pairwise.get("generators"):
        return
    w.writerow([])
    w.writerow(["pairwise: judging assessor", "generator", "qid", "comparisons", "generated_preferred",
                "judged_preferred", "ties", "share_generated", "tie_share", "both_orders", "consistent",
                "position_consistency", "first_position_share"])
    for g in pairwise["generators"]:
        generator = g["generator"] or "(not named)"
        for q in [{"qid": "(all)", **g}, *g["queries"]]:
            w.writerow([g["assessor"], generator, q["qid"], *(_fmt(q[c]) for c in PAIRWISE_COLUMNS)])


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
            sheet.append(["assessor", effect["assessor"], "kendall_tau_b", effect["kendall_tau_b"],
                          "kendall_tau_b_p", effect["kendall_tau_b_p"], "coverage", effect["coverage"],
                          "shared_pairs", effect["shared_pairs"]])
            sheet.append(["ndcg", effect["ndcg"]])
            for note in (effect["kendall_tau_b_note"], effect["p_value_note"]):
                if note:
                    sheet.append(["note", note])
            for r in effect["runs"]:
                sheet.append([r["run"], r["ndcg_cut_10_reference"], r["ndcg_cut_10_assessor"], r["n_queries"]])
    if report.get("coverage"):
        sheet = wb.create_sheet("Coverage")
        sheet.append(["assessor", "kind", "judgments", "shared_pairs", "reference_pairs", "coverage", "included"])
        for a in report["coverage"]["assessors"]:
            sheet.append([a["name"], a["kind"], a["judgments"], a["shared_pairs"], a["reference_pairs"], a["coverage"],
                          a["included"]])
    if (report.get("pairwise") or {}).get("generators"):
        sheet = wb.create_sheet("Pairwise")
        sheet.append(["judging assessor", "generator", "qid", "comparisons", "generated_preferred", "judged_preferred",
                      "ties", "share_generated", "tie_share", "both_orders", "consistent", "position_consistency",
                      "first_position_share"])
        for g in report["pairwise"]["generators"]:
            for q in [{"qid": "(all)", **g}, *g["queries"]]:
                sheet.append([g["assessor"], g["generator"] or "(not named)", q["qid"],
                              *(q[c] for c in PAIRWISE_COLUMNS)])
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
        # (assessor's coverage, the query string that adds it): the dashboard fills the latter
        "coverage_rows": [(a, None) for a in (report.get("coverage") or {}).get("assessors", [])],
    }


def render_html(report: dict[str, Any]) -> bytes:
    """One self-contained page: tables plus charts as base64 PNG; every data text escaped."""
    return render_to_string("agreement/report.html", report_context(report)).encode("utf-8")


RENDERERS = {"csv": render_csv, "json": render_json, "xlsx": render_xlsx, "html": render_html}

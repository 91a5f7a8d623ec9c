"""The agreement dashboard and report downloads (staff only).

Staff see every assessor, so the pages are staff-only for now; per-annotator views
of one's own agreement belong to the annotation screens.
"""
from __future__ import annotations

from datetime import datetime

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import condition, require_GET

from analysis.agreement_selectors import AgreementInputError, collection_assessors
from analysis.models import Collection, Task
from annotation import reports
from annotation.report_params import DEFAULT_COVERAGE, AgreementParamsError, ReportParams, report_params_parse
from annotation.report_renderers import RENDERERS, report_context
from conventions.access import staff_required

# The dashboard recomputes on every visit; fewer resamples keep it quick, exports use the default.
DASHBOARD_N_BOOT = 500


@require_GET
@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Filters, summary, heatmaps, kappa chart, set agreement, reasons and downloads.

    Parameters the parser refuses (``seed=-1``) are shown as the form's error, with 400.
    """
    collections = list(Collection.objects.order_by("name").values_list("name", flat=True))
    context: dict = {
        "collections": collections, "tasks": Task.choices, "params": None, "error": None,
        "coverage_percent": f"{DEFAULT_COVERAGE:.0%}",
        # LLM assessors' names link to their judge cards (not in the exported files)
        "card_links": True,
    }
    try:
        params = report_params_parse(request.GET, n_boot=DASHBOARD_N_BOOT)
    except AgreementParamsError as exc:
        context["error"] = str(exc)
        return render(request, "agreement/dashboard.html", context, status=400)
    if params is None and collections:
        params = ReportParams(collection=collections[0], n_boot=DASHBOARD_N_BOOT)
    context["params"] = params
    if params is not None:
        context["assessors"] = collection_assessors(collection=params.collection)
        try:
            report = reports.build_report(params)
        except AgreementInputError as exc:
            context["error"] = str(exc)
        else:
            context.update(report_context(report))
            context.update(_coverage_links(request, report))
            context["download_query"] = request.GET.urlencode() or f"collection={params.collection}"
            context["formats"] = list(RENDERERS)
    return render(request, "agreement/dashboard.html", context)


def _coverage_links(request: HttpRequest, report: dict) -> dict:
    """The query strings that add one excluded assessor, or all of them, to the compared set."""
    coverage = report.get("coverage")
    if not coverage or not coverage["excluded"]:
        return {}
    compared = list(report["parameters"]["assessors"])

    def with_assessors(names: list[str]) -> str:
        query = request.GET.copy()
        query.pop("assessors", None)
        query.setlist("assessor", names)
        query["collection"] = report["parameters"]["collection"]
        query["reference"] = report["parameters"]["reference"]
        return query.urlencode()

    return {
        "coverage_rows": [
            (a, None if a["included"] else with_assessors(compared + [a["name"]])) for a in coverage["assessors"]
        ],
        "add_all_query": with_assessors(compared + coverage["excluded"]),
    }


def _export_params(request: HttpRequest, fmt: str) -> ReportParams | None:
    """The download's parameters, or None when there is nothing to validate against
    (the view itself then answers 400 or 404)."""
    if fmt not in RENDERERS:
        return None
    try:
        return report_params_parse(request.GET)
    except AgreementParamsError:
        return None


def _etag(request: HttpRequest, fmt: str) -> str | None:
    params = _export_params(request, fmt)
    try:
        return reports.report_etag(params, fmt) if params else None
    except AgreementInputError:
        return None


def _last_modified(request: HttpRequest, fmt: str) -> datetime | None:
    params = _export_params(request, fmt)
    try:
        return reports.last_change(params) if params else None
    except AgreementInputError:
        return None


def _bad_request(message: str) -> HttpResponse:
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


@require_GET
@staff_required
@condition(etag_func=_etag, last_modified_func=_last_modified)
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The report as a download; 304 when the judgments have not changed since (``condition``)."""
    if fmt not in RENDERERS:
        raise Http404("unknown format")
    try:
        params = report_params_parse(request.GET)
    except AgreementParamsError as exc:
        return _bad_request(str(exc))
    if params is None:
        return _bad_request("collection: This field is required.")
    try:
        exported = reports.report_export(params=params, fmt=fmt)
    except AgreementInputError as exc:
        return _bad_request(str(exc))
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response

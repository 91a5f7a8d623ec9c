"""The agreement dashboard and report downloads (staff only).

Staff see every assessor, so the pages are staff-only for now; per-annotator views
of one's own agreement belong to the annotation screens.
"""
from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import http_date, quote_etag
from django.views.decorators.http import condition, require_GET

from analysis.agreement import DEFAULT_N_BOOT
from analysis.agreement_selectors import AgreementInputError, collection_assessors
from analysis.models import Collection, Task
from annotation import reports
from conventions.access import staff_required


# The dashboard recomputes on every visit; fewer resamples keep it quick, exports use the default.
DASHBOARD_N_BOOT = 500


def params_from_request(request: HttpRequest, *, n_boot: int = DEFAULT_N_BOOT) -> reports.ReportParams | None:
    """Report parameters from the query string; None without a collection."""
    return reports.params_from_query(request.GET, n_boot=n_boot)


@require_GET
@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Filters, summary, heatmaps, kappa chart, set agreement, reasons and downloads."""
    collections = list(Collection.objects.order_by("name").values_list("name", flat=True))
    params = params_from_request(request, n_boot=DASHBOARD_N_BOOT)
    if params is None and collections:
        params = reports.ReportParams(collection=collections[0], n_boot=DASHBOARD_N_BOOT)
    context: dict = {"collections": collections, "tasks": Task.choices, "params": params, "error": None}
    if params is not None:
        context["assessors"] = collection_assessors(collection=params.collection)
        try:
            report = reports.build_report(params)
        except AgreementInputError as exc:
            context["error"] = str(exc)
        else:
            context.update(reports.report_context(report))
            context["download_query"] = request.GET.urlencode() or f"collection={params.collection}"
            context["formats"] = list(reports.RENDERERS)
    return render(request, "agreement/dashboard.html", context)


def _etag(request: HttpRequest, fmt: str) -> str | None:
    params = params_from_request(request)
    if params is None or fmt not in reports.RENDERERS:
        return None
    try:
        return reports.report_etag(params, fmt)
    except AgreementInputError:
        return None


def _last_modified(request: HttpRequest, fmt: str):
    params = params_from_request(request)
    if params is None:
        return None
    try:
        return reports.last_change(params)
    except AgreementInputError:
        return None


@require_GET
@staff_required
@condition(etag_func=_etag, last_modified_func=_last_modified)
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The report as a download; 304 when the judgments have not changed since."""
    params = params_from_request(request)
    if params is None or fmt not in reports.RENDERERS:
        raise Http404("unknown format or no collection")
    try:
        exported = reports.report_export(params=params, fmt=fmt)
    except AgreementInputError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    response["ETag"] = quote_etag(exported.etag)
    if exported.last_modified:
        response["Last-Modified"] = http_date(exported.last_modified.timestamp())
    return response

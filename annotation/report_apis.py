"""The agreement reports through the API (admins): the ``agreement --json`` figures and
the report downloads, with ETag / Last-Modified from Django's ``condition``.

Parameters are parsed by ``annotation.report_params`` (the same limits and messages as
the dashboard, its downloads and the commands); a refused value is a 400 naming it.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.http import condition
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.agreement_selectors import AgreementInputError
from annotation import reports
from annotation.apis import IgnoreFormatParameter
from annotation.report_params import MAX_N_BOOT, MAX_SEED, AgreementParamsError, ReportParams, report_params_parse
from annotation.report_renderers import RENDERERS
from conventions.api import ApiError, IsAdmin

T = TypeVar("T")

AGREEMENT_PARAMETERS = [
    OpenApiParameter("collection", str, required=True, description="collection name"),
    OpenApiParameter("reference", str, description="reference assessor (rows of the confusion matrix)"),
    OpenApiParameter("assessor", str, description="assessor compared with the reference"),
    OpenApiParameter("assessors", str, description="three or more assessors, comma-separated (Fleiss, Krippendorff)"),
    OpenApiParameter("binary", bool, description="compare on the grade >= 2 split"),
    OpenApiParameter("n_boot", int, description=f"bootstrap resamples over queries (0..{MAX_N_BOOT}; default as the command)"),
    OpenApiParameter("seed", int, description=f"bootstrap seed (0..{MAX_SEED})"),
]


def _params(request: Request) -> ReportParams:
    """The report parameters, or a 400 naming each refused one."""
    try:
        params = report_params_parse(request.query_params)
    except AgreementParamsError as exc:
        raise serializers.ValidationError(exc.errors) from exc
    if params is None:
        raise serializers.ValidationError({"collection": ["This field is required."]})
    return params


def _kind(request: Request) -> str:
    """``pair`` (reference and assessor) or ``set`` (assessors=A,B,C); 400 for anything else."""
    query = request.query_params
    if query.get("assessors"):
        if query.get("reference") or query.get("assessor"):
            raise serializers.ValidationError({"assessors": ["give either reference and assessor, or assessors"]})
        return "set"
    if query.get("reference") and query.get("assessor"):
        return "pair"
    raise serializers.ValidationError({"reference": ["give reference and assessor, or assessors=A,B,C"]})


def _format(request: Request) -> str:
    fmt = request.query_params.get("format") or "json"
    if fmt not in RENDERERS:
        raise serializers.ValidationError({"format": [f"one of {', '.join(RENDERERS)}"]})
    return fmt


# Validators for ``condition``: None (no validator) whenever the request is refused, so
# that the view itself answers with the error.
def _validator(request: Request, compute: Callable[[ReportParams], T]) -> T | None:
    try:
        return compute(_params(request))
    except (serializers.ValidationError, AgreementInputError):
        return None


def _agreement_etag(request: Request) -> str | None:
    return _validator(request, lambda p: reports.report_etag(p, f"api-{_kind(request)}"))


def _report_etag(request: Request) -> str | None:
    return _validator(request, lambda p: reports.report_etag(p, _format(request)))


def _last_modified(request: Request) -> datetime | None:
    return _validator(request, reports.last_change)


class AgreementApi(APIView):
    """Relevance agreement, as the ``agreement --json`` command prints it (admins).

    Two assessors: ``reference`` and ``assessor`` (confusion matrix rows are the
    reference; Cohen's kappa unweighted, linear, quadratic, with 95% bootstrap intervals
    over queries). Three or more: ``assessors=A,B,C`` (Fleiss' kappa, Krippendorff's
    alpha nominal and ordinal). ETag and Last-Modified follow the judgments read.
    """

    permission_classes = [IsAdmin]
    content_negotiation_class = IgnoreFormatParameter

    @extend_schema(
        parameters=AGREEMENT_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT, 304: OpenApiResponse(description="not modified")},
        examples=[OpenApiExample("llama3.2 vs NIST", response_only=True, value={
            "n": 10828, "labels": [0, 1, 2, 3], "confusion_matrix": [[1215, 1260, 859, 1004]],
            "percent_agreement": 0.289, "kappa": 0.08, "kappa_ci": [0.07, 0.09]})],
    )
    @method_decorator(condition(etag_func=_agreement_etag, last_modified_func=_last_modified))
    def get(self, request: Request) -> Response:
        params = _params(request)
        kind = _kind(request)
        try:
            if kind == "set":
                return Response(reports.set_report(
                    collection=params.collection, assessors=params.assessors, binary=params.binary,
                    n_boot=params.n_boot, seed=params.seed,
                ))
            return Response(reports.pair_report(
                collection=params.collection, reference=params.reference or "", assessor=params.assessors[0],
                binary=params.binary, n_boot=params.n_boot, seed=params.seed,
            ))
        except AgreementInputError as exc:
            raise ApiError(str(exc), code="invalid") from exc


class AgreementReportApi(APIView):
    """The agreement report in an export format (csv, json, xlsx, html), as ``export_agreement`` writes it."""

    permission_classes = [IsAdmin]
    content_negotiation_class = IgnoreFormatParameter

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(RENDERERS), description="export format (default json)"),
            OpenApiParameter("task", str, enum=["h2r", "h2g", "h2j"], description="reason agreement: this task only"),
            OpenApiParameter("model", str, description="only assessors whose model matches"),
            OpenApiParameter("annotator", str, description="reason agreement: this annotator only"),
            *AGREEMENT_PARAMETERS,
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY,
            (200, "text/html"): OpenApiTypes.STR,
            304: OpenApiResponse(description="not modified"),
        },
    )
    @method_decorator(condition(etag_func=_report_etag, last_modified_func=_last_modified))
    def get(self, request: Request) -> HttpResponse:
        params = _params(request)
        fmt = _format(request)
        try:
            export = reports.report_export(params=params, fmt=fmt)
        except AgreementInputError as exc:
            raise ApiError(str(exc), code="invalid") from exc
        response = HttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response

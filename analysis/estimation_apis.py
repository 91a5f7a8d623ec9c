"""``GET /api/estimate/``: every run's LLM-only, human-only and prediction-powered estimate
(admins only; the error body and roles of conventions/api.py)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.estimation import DEFAULT_LEVEL, DEFAULT_MEASURE, INTERVALS, EstimationError
from analysis.estimation_selectors import UnknownName, estimate_report
from conventions.api import ApiError, IsAdmin


class IntervalSerializer(serializers.Serializer):
    estimate = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()


class RunEstimateSerializer(serializers.Serializer):
    run = serializers.CharField()
    n_labeled = serializers.IntegerField(help_text="queries both the human and the LLM judged")
    n_unlabeled = serializers.IntegerField(help_text="queries only the LLM judged")
    llm_only = serializers.FloatField(help_text="mean over every query the LLM judged (biased; no interval)")
    human_only = IntervalSerializer(help_text="mean over the human's queries, classical interval")
    ppi = IntervalSerializer(help_text="prediction-powered mean (PPI++, power-tuned)")


class EstimateSerializer(serializers.Serializer):
    measure = serializers.CharField()
    level = serializers.FloatField()
    llm = serializers.CharField()
    human = serializers.CharField()
    collection = serializers.CharField()
    interval = serializers.ChoiceField(choices=INTERVALS)
    interval_description = serializers.CharField()
    runs = RunEstimateSerializer(many=True, help_text="best PPI estimate first")
    ranking = serializers.ListField(child=serializers.CharField())


class EstimateQuerySerializer(serializers.Serializer):
    collection = serializers.CharField()
    llm = serializers.CharField(help_text="the LLM assessor (judged every query)")
    human = serializers.CharField(help_text="the human assessor (judged the labeled queries)")
    measure = serializers.CharField(default=DEFAULT_MEASURE)
    level = serializers.FloatField(default=DEFAULT_LEVEL, min_value=0.5, max_value=0.999)
    interval = serializers.ChoiceField(choices=INTERVALS, default="ppi")


class EstimateApi(APIView):
    """What ``manage.py estimate --json`` prints, for the same parameters."""

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[
            OpenApiParameter("collection", str, required=True),
            OpenApiParameter("llm", str, required=True, description="LLM assessor"),
            OpenApiParameter("human", str, required=True, description="human assessor"),
            OpenApiParameter("measure", str, description=f"trec_eval measure (default {DEFAULT_MEASURE})"),
            OpenApiParameter("level", float, description="confidence level (default 0.95)"),
            OpenApiParameter("interval", str, enum=list(INTERVALS), description="ppi (default), t or bootstrap"),
        ],
        responses=EstimateSerializer,
    )
    def get(self, request: Request) -> Response:
        params = EstimateQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            report = estimate_report(**params.validated_data)
        except UnknownName as exc:
            # a query parameter that names nothing: 400 with the message under the field,
            # as the analysis and judges APIs answer an unknown collection
            raise serializers.ValidationError({exc.field: [str(exc)]}) from exc
        except EstimationError as exc:
            # input no estimate can be made from (what makes `manage.py estimate` exit 1)
            raise ApiError(str(exc), code="no_estimate") from exc
        return Response(EstimateSerializer(report).data)

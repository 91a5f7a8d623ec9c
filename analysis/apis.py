"""REST endpoints of the corpus and its outputs (admins only; see hardq_site/api_conventions).

Thin views: parse the request, call one selector or service of ``analysis``, render.
"""
from __future__ import annotations


import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from analysis import corpus_selectors
from analysis.models import Assessor, Judgment, Passage, Query
from hardq_site.api_conventions import (
    ApiError,
    CursorPagination,
    IsAdmin,
    batched_lines,
    streaming_text,
)

# --- Collections --------------------------------------------------------------------


class CollectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Test collections (dl19, dl21 ...), addressed by name."""

    permission_classes = [IsAdmin]
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    filter_backends: list = []

    class CollectionSerializer(serializers.Serializer):
        name = serializers.CharField()
        corpus = serializers.CharField()
        description = serializers.CharField()
        n_queries = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    serializer_class = CollectionSerializer

    def get_queryset(self):
        return corpus_selectors.collection_list()

    @extend_schema(
        parameters=[OpenApiParameter("assessor", str, description="assessor name (default: official)")],
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="TREC qrels: qid 0 docid grade")},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def qrels(self, request, name: str):
        """Stream one assessor's judgments of the collection as a TREC qrels file."""
        collection = self.get_object()
        assessor_name = request.query_params.get("assessor", "official")
        assessor = Assessor.objects.filter(name=assessor_name).first()
        if assessor is None:
            raise ApiError(f"Unknown assessor {assessor_name!r}.", code="not_found", status_code=404)
        lines = corpus_selectors.qrels_lines(collection=collection, assessor=assessor)
        return streaming_text(batched_lines(lines), filename=f"qrels.{collection.name}.{assessor.name}.txt")


# --- Queries and passages -----------------------------------------------------------


class QueryFilter(django_filters.FilterSet):
    collection = django_filters.CharFilter(field_name="collection__name", help_text="collection name")
    qid = django_filters.CharFilter(field_name="qid")

    class Meta:
        model = Query
        fields = ["collection", "qid"]


class QueryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAdmin]
    filterset_class = QueryFilter

    class QuerySerializer(serializers.Serializer):
        id = serializers.IntegerField()
        collection = serializers.CharField(source="collection.name")
        qid = serializers.CharField()
        text = serializers.CharField()

    serializer_class = QuerySerializer

    def get_queryset(self):
        return corpus_selectors.query_list()


class PassageFilter(django_filters.FilterSet):
    collection = django_filters.CharFilter(field_name="collection__name", help_text="collection name")
    docid = django_filters.CharFilter(field_name="docid")

    class Meta:
        model = Passage
        fields = ["collection", "docid"]


class PassageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Passages; ``text`` is null when only the docid is known (named by qrels or a run)."""

    permission_classes = [IsAdmin]
    pagination_class = CursorPagination
    filterset_class = PassageFilter

    class PassageSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        collection = serializers.CharField(source="collection.name")
        docid = serializers.CharField()
        text = serializers.CharField(allow_null=True)

    serializer_class = PassageSerializer

    def get_queryset(self):
        return corpus_selectors.passage_list()


# --- Assessors and judgments --------------------------------------------------------


class AssessorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Official qrels, LLM judges and human annotators: everyone who labels."""

    permission_classes = [IsAdmin]
    filter_backends: list = []

    class AssessorSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        kind = serializers.CharField()
        scale = serializers.CharField()
        model = serializers.CharField()
        prompt_template = serializers.CharField()
        prompt_version = serializers.CharField()
        parameters = serializers.JSONField()
        username = serializers.CharField(source="user.username", allow_null=True, default=None)

    serializer_class = AssessorSerializer

    def get_queryset(self):
        return corpus_selectors.assessor_list()


class JudgmentFilter(django_filters.FilterSet):
    collection = django_filters.CharFilter(field_name="query__collection__name", help_text="collection name")
    qid = django_filters.CharFilter(field_name="query__qid", help_text="query id")
    docid = django_filters.CharFilter(field_name="passage__docid", help_text="passage id")
    assessor = django_filters.CharFilter(field_name="assessor__name", help_text="assessor name")
    grade = django_filters.NumberFilter(field_name="grade")
    valid = django_filters.BooleanFilter(field_name="valid")

    class Meta:
        model = Judgment
        fields = ["collection", "qid", "docid", "assessor", "grade", "valid"]


class JudgmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Relevance judgments of every assessor, filterable by collection, query, assessor, grade."""

    permission_classes = [IsAdmin]
    pagination_class = CursorPagination
    filterset_class = JudgmentFilter

    class JudgmentSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        collection = serializers.CharField(source="query.collection.name")
        qid = serializers.CharField(source="query.qid")
        docid = serializers.CharField(source="passage.docid")
        assessor = serializers.CharField(source="assessor.name")
        grade = serializers.IntegerField(allow_null=True)
        valid = serializers.BooleanField()
        updated_at = serializers.DateTimeField()

    serializer_class = JudgmentSerializer

    def get_queryset(self):
        return corpus_selectors.judgment_list()


# --- Runs ----------------------------------------------------------------------------


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Imported retrieval runs: one per (system, collection)."""

    permission_classes = [IsAdmin]
    filter_backends: list = []

    class RunSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        system = serializers.CharField(source="system.name")
        collection = serializers.CharField(source="collection.name")
        tag = serializers.CharField()
        n_rows = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    class RunRowSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        qid = serializers.CharField(source="query.qid")
        docid = serializers.CharField(source="passage.docid")
        rank = serializers.IntegerField()
        score = serializers.FloatField()

    serializer_class = RunSerializer

    def get_queryset(self):
        return corpus_selectors.run_list()

    @extend_schema(
        parameters=[OpenApiParameter("qid", str, description="only this query's rows")],
        responses=RunRowSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=CursorPagination, serializer_class=RunRowSerializer)
    def rows(self, request, pk: str):
        """The run's rows (rank, score), cursor-paginated."""
        run = self.get_object()
        rows = corpus_selectors.run_row_list(run=run)
        qid = request.query_params.get("qid")
        if qid:
            rows = rows.filter(query__qid=qid)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.RunRowSerializer(page, many=True).data)



# --- Uploads --------------------------------------------------------------------------


class ImportApi(APIView):
    """Upload one pipeline file: the same importer, validation and errors as the import commands.

    The whole file is validated before anything is written; the first bad line answers
    400 with ``{"error": {"code": "bad_line", "details": {"file", "line", "message"}}}``
    and the database is left exactly as it was. ``dry_run`` counts without writing.
    """

    permission_classes = [IsAdmin]
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]
    throttle_scope = "uploads"

    # kind -> (service, options it takes besides the file, options it requires)
    KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
        "queries": ("queries_import", ("collection",), ("collection",)),
        "passages": ("passages_import", ("collection",), ("collection",)),
        "qrels": ("qrels_import", ("collection", "assessor", "scale", "assessor_kind", "model"), ("collection",)),
        "run": ("run_import", ("collection", "system"), ("collection", "system")),
        "generations": ("generations_import", ("collection", "generator", "setting"), ("collection", "generator")),
        "bertscore": ("bertscore_import", ("collection", "generator", "setting"), ("collection", "generator")),
        "pairwise": ("pairwise_import", ("collection", "assessor"), ("collection", "assessor")),
        "reasons": ("reasons_import", ("task", "assessor"), ("task", "assessor")),
        "hard_queries": (
            "hard_queries_import",
            ("collection", "task", "subject", "quantile"),
            ("collection", "task", "subject"),
        ),
    }

    class ImportInputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(
            choices=["queries", "passages", "qrels", "run", "generations", "bertscore", "pairwise", "reasons", "hard_queries"],
            help_text="the file kind, as the import_<kind> commands",
        )
        file = serializers.FileField()
        collection = serializers.CharField(required=False, help_text="collection name (created if new)")
        assessor = serializers.CharField(required=False, help_text="qrels: assessor (default official); pairwise, reasons: the LLM")
        scale = serializers.ChoiceField(choices=["graded", "binary"], required=False, help_text="qrels: grade scale")
        assessor_kind = serializers.ChoiceField(
            choices=["official", "llm", "human"], required=False, help_text="qrels: kind of a new assessor"
        )
        model = serializers.CharField(required=False, help_text="qrels: LLM model id")
        system = serializers.CharField(required=False, help_text="run: system name")
        generator = serializers.CharField(required=False, help_text="generations, bertscore: the generating LLM")
        setting = serializers.ChoiceField(
            choices=["zero_shot", "reason_expansion"], required=False, help_text="generations, bertscore (default: from the file name)"
        )
        task = serializers.ChoiceField(choices=["h2r", "h2g", "h2j"], required=False, help_text="reasons, hard_queries")
        subject = serializers.CharField(required=False, help_text="hard_queries: system, generator or judge")
        quantile = serializers.FloatField(required=False, min_value=0.0, max_value=1.0, help_text="hard_queries")
        replace = serializers.BooleanField(default=False, help_text="replace an earlier import of the same source")
        dry_run = serializers.BooleanField(default=False, help_text="validate and count, write nothing")

    class ImportReportSerializer(serializers.Serializer):
        kind = serializers.CharField()
        label = serializers.CharField()
        filename = serializers.CharField()
        collection = serializers.CharField(allow_null=True)
        status = serializers.CharField(help_text="imported, unchanged or dry-run")
        rows = serializers.IntegerField()
        created = serializers.IntegerField()
        updated = serializers.IntegerField()
        unchanged = serializers.IntegerField()
        skipped = serializers.IntegerField()
        deleted = serializers.IntegerField()
        new_passages = serializers.IntegerField()
        notes = serializers.ListField(child=serializers.CharField())
        summary = serializers.CharField()

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer},
        responses={201: ImportReportSerializer, 200: ImportReportSerializer},
        examples=[
            OpenApiExample(
                "Upload a run",
                value={"kind": "run", "collection": "dl19", "system": "bm25", "file": "run.bm25.txt"},
                request_only=True,
            ),
            OpenApiExample(
                "A bad line",
                value={"error": {"code": "bad_line", "message": "qrels.txt:3: grade 7 is not in 0..3",
                                 "details": {"file": "qrels.txt", "line": 3, "message": "grade 7 is not in 0..3"}}},
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request):
        """Import one uploaded file; 201 when rows were written, 200 for a dry run or an unchanged file."""
        from analysis.importers import services
        from analysis.importers.errors import ImportFileError

        serializer = self.ImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        service_name, accepted, required = self.KINDS[data["kind"]]
        missing = [name for name in required if not data.get(name)]
        if missing:
            raise serializers.ValidationError({name: [f"required for kind {data['kind']}"] for name in missing})
        upload = data["file"]
        options = {name: data[name] for name in accepted if data.get(name) not in (None, "")}
        try:
            report = getattr(services, service_name)(
                data=upload.read(), filename=upload.name, replace=data["replace"], dry_run=data["dry_run"], **options
            )
        except ImportFileError as exc:
            raise ApiError(
                str(exc), code="bad_line", details={"file": exc.filename, "line": exc.line, "message": exc.message}
            ) from exc
        except ValueError as exc:  # an option the importer refuses (unknown scale, task, setting)
            raise ApiError(str(exc), code="invalid") from exc
        body = {**report.as_dict(), "summary": report.summary()}
        created = report.status == "imported"
        return Response(self.ImportReportSerializer(body).data, status=201 if created else 200)

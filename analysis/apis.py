"""REST endpoints of the corpus and its outputs (admins only; see conventions/api.py).

Thin views: parse the request, call one selector or service of ``analysis``, render.
"""
from __future__ import annotations

import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import django_filters
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Model, QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from analysis import corpus_selectors
from analysis.models import (
    COLLECTION_NAME_PATTERN,
    Assessor,
    Collection,
    HardnessAnalysis,
    HardnessLabel,
    Judgment,
    Passage,
    Query,
    Run,
    System,
    Task,
    validate_collection_name,
)
from conventions.api import (
    ApiError,
    CursorPagination,
    IsAdmin,
    batched_lines,
    streaming_text,
)

if TYPE_CHECKING:
    from analysis.importers.errors import ImportFileError

# --- Collections --------------------------------------------------------------------


class CollectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Test collections (dl19, dl21 ...), addressed by name."""

    permission_classes = [IsAdmin]
    lookup_field = "name"
    lookup_value_regex = COLLECTION_NAME_PATTERN
    filter_backends: list = []

    class CollectionSerializer(serializers.Serializer):
        name = serializers.CharField()
        corpus = serializers.CharField()
        description = serializers.CharField()
        n_queries = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    serializer_class = CollectionSerializer

    def get_queryset(self) -> QuerySet:
        return corpus_selectors.collection_list()

    @extend_schema(
        parameters=[OpenApiParameter("assessor", str, description="assessor name (default: official)")],
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="TREC qrels: qid 0 docid grade")},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def qrels(self, request: Request, name: str) -> StreamingHttpResponse:
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

    def get_queryset(self) -> QuerySet:
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

    def get_queryset(self) -> QuerySet:
        return corpus_selectors.passage_list()


# --- Assessors and judgments --------------------------------------------------------


class AssessorFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Assessor.KIND_CHOICES)

    class Meta:
        model = Assessor
        fields = ["kind"]


class AssessorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Official qrels, LLM judges and human annotators: everyone who labels."""

    permission_classes = [IsAdmin]
    filterset_class = AssessorFilter

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

    def get_queryset(self) -> QuerySet:
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
        probabilities = serializers.ListField(
            child=serializers.FloatField(), allow_null=True,
            help_text="the assessor's probability of each grade (index = grade), null when unknown",
        )
        updated_at = serializers.DateTimeField()

    serializer_class = JudgmentSerializer

    def get_queryset(self) -> QuerySet:
        return corpus_selectors.judgment_list()


# --- Runs ----------------------------------------------------------------------------


class RunFilter(django_filters.FilterSet):
    collection = django_filters.CharFilter(field_name="collection__name", help_text="collection name")
    system = django_filters.CharFilter(field_name="system__name", help_text="system name")

    class Meta:
        model = Run
        fields = ["collection", "system"]


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Imported retrieval runs: one per (system, collection)."""

    permission_classes = [IsAdmin]
    filterset_class = RunFilter

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

    def get_queryset(self) -> QuerySet:
        return corpus_selectors.run_list()

    @extend_schema(
        filters=False,
        parameters=[OpenApiParameter("qid", str, description="only this query's rows")],
        responses=RunRowSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=CursorPagination, serializer_class=RunRowSerializer)
    def rows(self, request: Request, pk: str) -> Response:
        """The run's rows (rank, score), cursor-paginated."""
        run = self.get_object()
        rows = corpus_selectors.run_row_list(run=run)
        qid = request.query_params.get("qid")
        if qid:
            rows = rows.filter(query__qid=qid)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.RunRowSerializer(page, many=True).data)



# --- Uploads --------------------------------------------------------------------------


def upload_max_bytes() -> int:
    """The largest upload (one file, or a bundle unpacked) in bytes: HARDQ_UPLOAD_MAX_MB."""
    return settings.HARDQ_UPLOAD_MAX_MB * 2**20


def _too_large(what: str) -> ApiError:
    limit = settings.HARDQ_UPLOAD_MAX_MB
    return ApiError(
        f"{what} is larger than the upload limit of {limit} MB (HARDQ_UPLOAD_MAX_MB).",
        code="too_large", status_code=413, details={"limit_mb": limit},
    )


# Room in a request's body for the form fields and the multipart framing around the file.
FORM_OVERHEAD_BYTES = 2**20


class UploadLimits:
    """Refuse a body larger than the upload limit from its Content-Length, before it is read.

    Django streams a large upload to a temporary file rather than memory; this check
    keeps an oversized one from being read (or stored) at all. A file that fits the
    body but not the limit is refused after parsing, by its size on disk.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > upload_max_bytes() + FORM_OVERHEAD_BYTES:
            raise _too_large("The request")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


def _check_upload_size(upload: UploadedFile) -> None:
    if upload.size > upload_max_bytes():
        raise _too_large(f"The file {upload.name!r}")


def _name_field(model: type[Model], field: str, help_text: str, **kwargs: Any) -> serializers.CharField:
    """A name option, refused (400) when longer than the column it is stored in."""
    return serializers.CharField(
        required=False, max_length=model._meta.get_field(field).max_length, help_text=help_text, **kwargs
    )


def _collection_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        validators=[validate_collection_name],
        help_text="collection name (lowercase letters, digits, '_', '.', '-'), e.g. dl19", **kwargs
    )


def _import_error(exc: ImportFileError) -> Exception:
    """An importer's refusal as the API says it: an option's field error, or the file's bad line."""
    if exc.field:
        return serializers.ValidationError({exc.field: [exc.message]})
    return ApiError(str(exc), code="bad_line", details={"file": exc.filename, "line": exc.line, "message": exc.message})


class ImportApi(UploadLimits, APIView):
    """Upload one pipeline file: the same importer, validation and errors as the import commands.

    The whole file is validated before anything is written; the first bad line answers
    400 with ``{"error": {"code": "bad_line", "details": {"file", "line", "message"}}}``
    (``line`` null when the file as a whole is wrong, e.g. ``empty``) and the database is
    left exactly as it was. An option that cannot be stored (a collection name that is no
    name, a name longer than its column) is a field error. A file larger than
    ``HARDQ_UPLOAD_MAX_MB`` answers 413 (code ``too_large``). ``dry_run`` counts without
    writing.
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
        probabilities = serializers.FileField(
            required=False,
            help_text="qrels: LARA's CSV of the grade probabilities of pairs of the file "
                      "(topic_id,doc_id,annotation,prob_0,...,prob_k; binary prob_yes,prob_no), as import_qrels --probabilities",
        )
        collection = _collection_field(required=False)
        assessor = _name_field(Assessor, "name", "qrels: assessor (default official); pairwise, reasons: the LLM")
        scale = serializers.ChoiceField(choices=Assessor.SCALE_CHOICES, required=False, help_text="qrels: grade scale")
        assessor_kind = serializers.ChoiceField(
            choices=["official", "llm", "human"], required=False, help_text="qrels: kind of a new assessor"
        )
        model = _name_field(Assessor, "model", "qrels: LLM model id")
        system = _name_field(System, "name", "run: system name")
        generator = _name_field(Assessor, "name", "generations, bertscore: the generating LLM")
        setting = serializers.ChoiceField(
            choices=["zero_shot", "reason_expansion"], required=False, help_text="generations, bertscore (default: from the file name)"
        )
        task = serializers.ChoiceField(choices=Task.choices, required=False, help_text="reasons, hard_queries")
        subject = _name_field(HardnessAnalysis, "subject", "hard_queries: system, generator or judge")
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
        responses={201: ImportReportSerializer, 200: ImportReportSerializer,
                   413: OpenApiResponse(description="the file is larger than HARDQ_UPLOAD_MAX_MB (code too_large)")},
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
    def post(self, request: Request) -> Response:
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
        _check_upload_size(upload)
        options = {name: data[name] for name in accepted if data.get(name) not in (None, "")}
        if data.get("probabilities") is not None:
            if data["kind"] != "qrels":
                raise serializers.ValidationError({"probabilities": ["only for kind qrels"]})
            _check_upload_size(data["probabilities"])
            options.update(probabilities_file=data["probabilities"].file, probabilities_filename=data["probabilities"].name)
        try:
            # The upload's own stream (a temporary file when large), read line by line.
            report = getattr(services, service_name)(
                file=upload.file, filename=upload.name, replace=data["replace"], dry_run=data["dry_run"], **options
            )
        except ImportFileError as exc:
            raise _import_error(exc) from exc
        except ValueError as exc:  # an option the importer refuses (unknown scale, task, setting)
            raise ApiError(str(exc), code="invalid") from exc
        body = {**report.as_dict(), "summary": report.summary()}
        created = report.status == "imported"
        return Response(self.ImportReportSerializer(body).data, status=201 if created else 200)


# --- Hardness analyses ------------------------------------------------------------------


class HardnessAnalysisFilter(django_filters.FilterSet):
    collection = django_filters.CharFilter(field_name="collection__name", help_text="collection name")
    task = django_filters.ChoiceFilter(choices=Task.choices)
    subject = django_filters.CharFilter(help_text="system, generator or judge")
    status = django_filters.ChoiceFilter(choices=HardnessAnalysis.STATUS_CHOICES)

    class Meta:
        model = HardnessAnalysis
        fields = ["collection", "task", "subject", "status"]


class HardnessLabelFilter(django_filters.FilterSet):
    hard = django_filters.BooleanFilter(help_text="only the hard (true) or the other (false) queries")

    class Meta:
        model = HardnessLabel
        fields = ["hard"]


class HardnessAnalysisSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task = serializers.CharField()
    collection = serializers.CharField(source="collection.name")
    subject = serializers.CharField()
    variant = serializers.CharField()
    measure = serializers.CharField()
    quantile = serializers.FloatField()
    threshold = serializers.FloatField(allow_null=True)
    parameters = serializers.SerializerMethodField()
    origin = serializers.CharField()
    status = serializers.CharField(help_text="pending, running, done or failed")
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    error = serializers.CharField()
    hard_count = serializers.IntegerField()
    hard_mean = serializers.FloatField(allow_null=True)
    n_labels = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_parameters(self, analysis: HardnessAnalysis) -> dict:
        return {k: v for k, v in analysis.parameters.items() if not k.startswith("_")}

class HardnessResultSerializer(serializers.Serializer):
    threshold = serializers.FloatField(allow_null=True)
    direction = serializers.CharField(help_text="below (H2R, H2G) or above (H2J) the threshold is hard")
    hard = serializers.ListField(child=serializers.CharField(), help_text="qids of the hard queries")
    hard_count = serializers.IntegerField()
    hard_mean = serializers.FloatField(allow_null=True, help_text="mean value of the hard queries")
    n_queries = serializers.IntegerField(help_text="queries that entered the distribution")
    per_query = serializers.DictField(child=serializers.FloatField(allow_null=True), help_text="qid -> value")
    status = serializers.DictField(child=serializers.CharField(), help_text="qid -> ok, no_relevant or excluded")
    notes = serializers.ListField(child=serializers.CharField())

class HardnessDetailSerializer(HardnessAnalysisSerializer):
    result = serializers.SerializerMethodField(help_text="the hardness command's --json output; null until done")

    @extend_schema_field(HardnessResultSerializer(allow_null=True))
    def get_result(self, analysis: HardnessAnalysis) -> dict | None:
        if analysis.status != HardnessAnalysis.DONE:
            return None
        from analysis import hardness_services

        outcome = hardness_services.analysis_outcome(analysis=analysis)
        return HardnessResultSerializer(outcome).data

class HardnessLabelSerializer(serializers.Serializer):
    qid = serializers.CharField(source="query.qid")
    query = serializers.CharField(source="query.text")
    value = serializers.FloatField(allow_null=True)
    hard = serializers.BooleanField()
    status = serializers.CharField(help_text="ok, no_relevant or excluded")
    details = serializers.JSONField()



class HardnessAnalysisViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Hardness analyses (H2R, H2G, H2J): start one, poll it, read its per-query labels.

    Every analysis runs as a Celery job: ``POST`` answers 202 with the pending analysis
    (201 when it has already finished: without a broker the job runs in-process before the
    answer); poll ``GET /api/analyses/{id}/`` until ``status`` is ``done`` or ``failed``.
    """

    permission_classes = [IsAdmin]
    filterset_class = HardnessAnalysisFilter

    # options each task's analyzer takes besides task, collection, subject and quantile
    TASK_OPTIONS = {
        "h2r": ("measure", "cutoff", "compat", "relevance_level"),
        "h2j": ("variant", "margin", "include_zero"),
        "h2g": ("min_grade", "aggregate", "source", "setting", "model", "num_layers"),
    }

    class HardnessInputSerializer(serializers.Serializer):
        task = serializers.ChoiceField(choices=Task.choices)
        collection = serializers.CharField(help_text="collection name")
        subject = serializers.CharField(help_text="the run's system (h2r), the generator (h2g) or the judge (h2j)")
        quantile = serializers.FloatField(default=0.25, min_value=0.0, max_value=1.0)
        measure = serializers.CharField(required=False, help_text="h2r: e.g. ndcg_cut_10 (judged only by default), map, recall_100")
        cutoff = serializers.IntegerField(required=False, min_value=1, help_text="h2r: measure cutoff")
        compat = serializers.ChoiceField(choices=["trectools"], required=False, help_text="h2r: reproduce the paper's figures")
        relevance_level = serializers.IntegerField(required=False, min_value=0, max_value=3, help_text="h2r")
        variant = serializers.ChoiceField(choices=Assessor.SCALE_CHOICES, required=False, help_text="h2j: default the judge's scale")
        margin = serializers.IntegerField(required=False, min_value=0, max_value=3, help_text="h2j graded: |LLM - human| > margin")
        include_zero = serializers.BooleanField(required=False, help_text="h2j graded: count queries without disagreement as 0")
        min_grade = serializers.IntegerField(required=False, min_value=0, max_value=3, help_text="h2g: reference passages judged >= this")
        aggregate = serializers.ChoiceField(choices=["mean", "max", "median"], required=False, help_text="h2g")
        source = serializers.ChoiceField(choices=["computed", "imported"], required=False, help_text="h2g: BERTScore source")
        setting = serializers.ChoiceField(choices=["zero_shot", "reason_expansion"], required=False, help_text="h2g")
        model = serializers.CharField(required=False, help_text="h2g: bert-score model name or local path")
        num_layers = serializers.IntegerField(required=False, min_value=1, max_value=64, help_text="h2g")

    serializer_class = HardnessAnalysisSerializer

    def get_queryset(self) -> QuerySet:
        return corpus_selectors.hardness_analysis_list()

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "retrieve":
            return HardnessDetailSerializer
        if self.action == "labels":
            return HardnessLabelSerializer
        return HardnessAnalysisSerializer

    @extend_schema(
        request=HardnessInputSerializer,
        responses={
            201: OpenApiResponse(HardnessDetailSerializer, description="started and already finished (done or failed)"),
            202: OpenApiResponse(HardnessDetailSerializer, description="started: pending or running; poll the analysis"),
        },
        examples=[
            OpenApiExample(
                "H2R of BM25 on DL19", value={"task": "h2r", "collection": "dl19", "subject": "bm25", "quantile": 0.25},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        """Start an analysis as a job; the answer is the analysis (``status`` pending, running, done or failed)."""
        from analysis import hardness_services

        serializer = self.HardnessInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        collection = corpus_selectors.collection_get(name=data["collection"])
        if collection is None:
            raise serializers.ValidationError({"collection": [f"unknown collection {data['collection']!r}"]})
        options = {k: data[k] for k in self.TASK_OPTIONS[data["task"]] if k in data}
        try:
            analysis = hardness_services.hardness_analysis_start(
                task=data["task"], collection=collection, subject=data["subject"], quantile=data["quantile"], **options
            )
        except ObjectDoesNotExist as exc:
            raise serializers.ValidationError(
                {"subject": [f"{data['subject']!r} has nothing to analyse on {collection.name}: {exc}"]}
            ) from exc
        except ValueError as exc:
            raise ApiError(str(exc), code="invalid") from exc
        # Without a broker the job ran when the row was committed, within this request.
        analysis = corpus_selectors.hardness_analysis_list().get(pk=analysis.pk)
        finished = analysis.status in (HardnessAnalysis.DONE, HardnessAnalysis.FAILED)
        return Response(HardnessDetailSerializer(analysis).data, status=201 if finished else 202)

    @extend_schema(filters=False, parameters=[OpenApiParameter("hard", bool, description="only hard (true) or other (false) queries")],
                   responses=HardnessLabelSerializer(many=True))
    @action(detail=True, methods=["get"])
    def labels(self, request: Request, pk: str) -> Response:
        """Per-query values and hard labels of the analysis."""
        analysis = self.get_object()
        labels = HardnessLabelFilter(request.query_params, queryset=corpus_selectors.hardness_label_list(analysis=analysis)).qs
        page = self.paginate_queryset(labels)
        return self.get_paginated_response(HardnessLabelSerializer(page, many=True).data)


class OverlapSerializer(serializers.Serializer):
    collection = serializers.CharField()
    analyses = serializers.ListField(child=serializers.IntegerField(), help_text="the ids of the overlapped analyses")
    sets = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                 help_text="hard set name (e.g. 'H2R bm25') -> qids")
    regions = serializers.ListField(child=serializers.DictField(), help_text="every combination: intersection and exclusive region")


class OverlapApi(APIView):
    """The overlap of a collection's hard sets: the analyses in ``?analyses=ID,ID`` or, by
    default, one per task (H2R, H2G, H2J) as the paper's figure."""

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("analyses", str, description="comma-separated analysis ids (at most 10); "
                                     "default: one finished analysis per task")],
        responses=OverlapSerializer,
    )
    def get(self, request: Request, name: str) -> Response:
        from analysis import hardness_selectors
        from analysis.hardness import overlap

        collection = corpus_selectors.collection_get(name=name)
        if collection is None:
            raise ApiError(f"Unknown collection {name!r}.", code="not_found", status_code=404)
        try:
            ids = hardness_selectors.parse_analysis_ids(request.query_params.getlist("analyses"))
        except ValueError as exc:
            raise ApiError(f"analyses: {exc}", code="invalid") from exc
        _, chosen, unknown = hardness_selectors.overlap_selection(collection=collection, ids=ids)
        if unknown:
            raise ApiError(f"analyses: no finished analysis of {collection.name} with id "
                           + ", ".join(map(str, unknown)), code="invalid")
        message = overlap.too_many_message(len(chosen))
        if message:
            raise ApiError(message, code="too_many_sets")
        sets = hardness_selectors.hard_sets(analyses=chosen)
        body = {"collection": collection.name, "analyses": [a.id for a in chosen],
                "sets": {k: sorted(v) for k, v in sets.items()}, "regions": overlap.overlap_regions(sets)}
        return Response(OverlapSerializer(body).data)


# --- Researcher's exports (pipeline formats) and pairwise results ----------------------
class ExportApi(APIView):
    """One stored output in its pipeline's format, streamed: the same bytes as
    ``manage.py export`` with the same options (see ``analysis.exports``)."""

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, required=True, enum=list(("generations", "bertscore", "pairwise", "reasons",
                                                                    "hard_queries", "qrels", "run"))),
            OpenApiParameter("generator", str, description="generations, bertscore"),
            OpenApiParameter("setting", str, description="generations, bertscore: zero_shot (default) or reason_expansion"),
            OpenApiParameter("assessor", str, description="qrels (default official), pairwise, reasons"),
            OpenApiParameter("task", str, description="reasons: h2r, h2g or h2j"),
            OpenApiParameter("analysis", int, description="hard_queries: the analysis id"),
            OpenApiParameter("system", str, description="run: the system"),
        ],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def get(self, request: Request, name: str) -> StreamingHttpResponse:
        from analysis import exports

        params = request.query_params
        analysis = params.get("analysis")
        if analysis is not None and not (analysis.isdigit() and len(analysis) <= 12):
            raise ApiError("analysis: an analysis id is a number.", code="invalid")
        export_request = exports.ExportRequest(
            kind=params.get("kind", ""), collection=name, generator=params.get("generator"),
            setting=params.get("setting"), assessor=params.get("assessor"), task=params.get("task"),
            analysis=int(analysis) if analysis else None, system=params.get("system"),
        )
        try:
            export = exports.export_prepare(export_request)
        except exports.ExportError as exc:
            raise ApiError(str(exc), code="not_found" if exc.not_found else "invalid",
                           status_code=404 if exc.not_found else 400) from exc
        return streaming_text(export.chunks, filename=export.filename, content_type=export.content_type)


class PairwiseApi(APIView):
    """Per generator (and judging LLM), how often the generated passage is preferred to
    the judged one: overall and per query; shares at full precision."""

    permission_classes = [IsAdmin]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, name: str) -> Response:
        from analysis import pairwise_selectors

        collection = corpus_selectors.collection_get(name=name)
        if collection is None:
            raise ApiError(f"Unknown collection {name!r}.", code="not_found", status_code=404)
        return Response(pairwise_selectors.pairwise_summary_dict(collection=collection))


class PairwiseCountsSerializer(serializers.Serializer):
    comparisons = serializers.IntegerField()
    generated_preferred = serializers.IntegerField()
    judged_preferred = serializers.IntegerField()
    ties = serializers.IntegerField(help_text="pairs whose two orders named different passages")
    share = serializers.FloatField(allow_null=True, help_text="generated_preferred / comparisons")
    tie_share = serializers.FloatField(allow_null=True)
    both_orders = serializers.IntegerField(help_text="pairs asked in both orders (0 for an imported file)")
    consistent = serializers.IntegerField(help_text="pairs asked in both orders whose answers agreed")
    position_consistency = serializers.FloatField(allow_null=True, help_text="consistent / both_orders")
    first_position = serializers.IntegerField(help_text="answers of the both-order pairs naming position 1")
    first_position_share = serializers.FloatField(allow_null=True, help_text="first_position / (2 * both_orders)")


class PairwiseQueryRowSerializer(PairwiseCountsSerializer):
    qid = serializers.CharField()


class PairwiseGeneratorSerializer(PairwiseCountsSerializer):
    assessor = serializers.CharField(help_text="the judging LLM")
    generator = serializers.CharField(allow_null=True, help_text="null: not named (an imported file)")
    queries = PairwiseQueryRowSerializer(many=True)


class PairwiseSummarySerializer(serializers.Serializer):
    collection = serializers.CharField()
    generator = serializers.CharField(allow_null=True)
    generators = PairwiseGeneratorSerializer(many=True)


class PairwiseQuerySerializer(serializers.Serializer):
    """The query string of ``GET /api/pairwise/``: names checked, unknown ones refused by field."""

    collection = _collection_field()
    generator = _name_field(Assessor, "name", "the generator whose passages were compared (default: every one, "
                                              "imported preferences without a generator included)")

    def validate_collection(self, value: str) -> Collection:
        collection = corpus_selectors.collection_get(name=value)
        if collection is None:
            raise serializers.ValidationError(f"Unknown collection {value!r}.")
        return collection

    def validate_generator(self, value: str) -> str:
        if corpus_selectors.assessor_get(name=value) is None:
            raise serializers.ValidationError(f"Unknown generator {value!r}: no assessor of that name.")
        return value


class PairwiseResultsApi(APIView):
    """Pairwise outcomes of a collection, per judging LLM and generator: the generated
    passage's wins, the judged one's, the ties (both orders disagreed), and the position
    consistency of the pairs asked in both orders, overall and per query; full precision.
    Job-made and imported preferences alike (an imported file's generator is null)."""

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[
            OpenApiParameter("collection", str, required=True),
            OpenApiParameter("generator", str, description="a generator (assessor) name; default every generator"),
        ],
        responses={200: PairwiseSummarySerializer, 400: OpenApiResponse(description="a field's message: missing or "
                                                                                  "unknown collection or generator")},
    )
    def get(self, request: Request) -> Response:
        from analysis import pairwise_selectors

        params = PairwiseQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        summary = pairwise_selectors.pairwise_summary_dict(
            collection=params.validated_data["collection"], generator=params.validated_data.get("generator"))
        return Response(PairwiseSummarySerializer(summary).data)


class BundleImportApi(UploadLimits, APIView):
    """Upload a whole bundle (a .zip of a directory laid out like the paper data), as ``import_bundle``.

    Each file's kind and assessor/system/generator come from its name; the plan is
    returned with the reports. Everything is imported in one transaction: a bad line
    in any file answers 400 with its file and line, and nothing of the bundle is written.
    A zip larger than ``HARDQ_UPLOAD_MAX_MB``, or one that unpacks (by its declared
    sizes or by the bytes it actually yields) to more, answers 413; a damaged member
    (bad CRC, broken deflate stream, sizes that lie) is a 400 naming it.
    """

    permission_classes = [IsAdmin]
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]
    throttle_scope = "uploads"

    class BundleInputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="a .zip holding the bundle's files (folders inside are ignored)")
        collection = _collection_field()
        replace = serializers.BooleanField(default=False)
        dry_run = serializers.BooleanField(default=False)

    class BundleResultSerializer(serializers.Serializer):
        plan = serializers.ListField(child=serializers.CharField(), help_text="what was recognised, as import_bundle prints it")
        reports = ImportApi.ImportReportSerializer(many=True)

    @extend_schema(
        request={"multipart/form-data": BundleInputSerializer},
        responses={201: BundleResultSerializer, 200: BundleResultSerializer,
                   413: OpenApiResponse(description="the zip, or what it unpacks to, is larger than HARDQ_UPLOAD_MAX_MB")},
    )
    def post(self, request: Request) -> Response:
        """Import a bundle; 201 when rows were written, 200 for a dry run or an unchanged bundle."""
        from analysis.importers import bundle
        from analysis.importers.errors import ImportFileError

        serializer = self.BundleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _check_upload_size(data["file"])
        with tempfile.TemporaryDirectory(prefix="hardq-bundle-") as tmp:
            _unpack_bundle(data["file"], Path(tmp), limit=upload_max_bytes())
            plan = bundle.bundle_plan(directory=tmp, collection=data["collection"])
            try:
                reports = bundle.bundle_import(plan=plan, replace=data["replace"], dry_run=data["dry_run"])
            except ImportFileError as exc:
                if exc.field:
                    raise _import_error(exc) from exc
                name = Path(exc.filename).name
                where = f"{name}:{exc.line}" if exc.line is not None else name
                raise ApiError(
                    f"{where}: {exc.message} (nothing of the bundle was written)",
                    code="bad_line", details={"file": name, "line": exc.line, "message": exc.message},
                ) from exc
            except ValueError as exc:
                raise ApiError(str(exc), code="invalid") from exc
            body = {
                "plan": [line.replace(tmp + "/", "") for line in plan.lines()],
                "reports": [{**r.as_dict(), "filename": Path(r.filename).name, "summary": r.summary().replace(tmp + "/", "")}
                            for r in reports],
            }
        written = any(r.status == "imported" for r in reports)
        return Response(self.BundleResultSerializer(body).data, status=201 if written else 200)


# What zipfile raises on a damaged member: a bad CRC (BadZipFile), a broken deflate stream
# (zlib.error), data that ends early (EOFError), a method or encryption it cannot read.
DAMAGED_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError)


def _unpack_bundle(upload: UploadedFile, directory: Path, *, limit: int) -> None:
    """Extract the zip's regular files, flat, into ``directory``.

    Only base names are kept (no path from the archive is ever used, so nothing can be
    written outside the directory). The unpacked size is capped at ``limit`` twice: by
    the sizes the archive declares, before anything is extracted, and by the bytes
    extraction actually yields, counted as they are written (declared sizes can lie).
    """
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise serializers.ValidationError({"file": ["not a zip archive"]}) from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        names = [PurePosixPath(m.filename).name for m in members]
        if not members:
            raise serializers.ValidationError({"file": ["the archive holds no file"]})
        if len(set(names)) != len(names):
            raise serializers.ValidationError({"file": ["two files of the archive have the same name"]})
        if sum(m.file_size for m in members) > limit:
            raise _too_large("The unpacked bundle (by the sizes the archive declares)")
        written = 0
        for member, name in zip(members, names):
            if name.startswith("."):
                continue
            try:
                with archive.open(member) as src, open(directory / name, "wb") as dst:
                    while chunk := src.read(2**20):
                        written += len(chunk)
                        if written > limit:
                            raise _too_large("The unpacked bundle")
                        dst.write(chunk)
            except DAMAGED_MEMBER_ERRORS as exc:
                raise serializers.ValidationError(
                    {"file": [f"{member.filename}: damaged in the archive ({exc or type(exc).__name__})"]}
                ) from exc

"""REST endpoints of the LLM jobs (admins only): create any kind, poll, cancel, resume, audit;
the judge card of an LLM assessor and the judges leaderboard of a collection.

The same services the judge/generate/... commands call: a job is built with
``job_create_<kind>`` and sent with ``job_start`` (a Celery task; in-process when no
broker is configured). The API key is never sent: an endpoint names the environment
variable that holds it on the workers.
"""
from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import corpus_selectors
from analysis.models import Assessor, Collection, Task
from conventions.api import ApiError, CursorPagination, IsAdmin
from judges import card_selectors, endpoint_policy, leaderboard_selectors, probe_selectors, selectors, services
from judges.models import JobKind, LLMCall, LLMJob, PromptTemplate, TrainingSet

# which template kinds each job kind takes (the prompt is a default kind name or a template name)
PROMPT_KINDS = {
    JobKind.JUDGE: ["graded", "binary"],
    JobKind.GENERATE: ["generation"],
    JobKind.PAIRWISE: ["pairwise"],
    JobKind.RELABEL: ["cascade"],
}


class JobSerializer(serializers.Serializer):
    """A job's status with its progress counts (what the job page and the --json output show)."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField(help_text="pending, running, done, failed or cancelled")
    collection = serializers.CharField(allow_null=True)
    assessor = serializers.CharField(allow_null=True, help_text="the LLM assessor the results are stored as")
    model = serializers.CharField()
    template = serializers.CharField(help_text="name:vN")
    total = serializers.IntegerField()
    finished = serializers.IntegerField(help_text="done + invalid + failed")
    done = serializers.IntegerField(help_text="items with a valid result")
    invalid = serializers.IntegerField(help_text="answered, but not parseable (kept with the raw text)")
    failed = serializers.IntegerField(help_text="no answer after every attempt")
    percent = serializers.FloatField()
    calls = serializers.IntegerField(help_text="calls made (cache misses, retries included)")
    cached = serializers.IntegerField(help_text="answers taken from the call cache")
    tokens = serializers.IntegerField()
    invalid_rate = serializers.FloatField()
    elapsed_seconds = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True)
    stats = serializers.JSONField()
    batch = serializers.BooleanField(help_text="batch mode: the calls go through the endpoint's Batch API")
    batches = serializers.JSONField(help_text="batch mode: each batch's id, status and counts (total, completed, failed)")
    cost = serializers.JSONField(
        help_text="calls, batch_calls, input_tokens, output_tokens and cost (null when the endpoint has no prices), "
                  "in all and per stage (stages)",
    )
    error = serializers.CharField()
    created_at = serializers.DateTimeField()


def _job_body(job: LLMJob, *, cost: dict | None = None) -> dict:
    progress = selectors.job_progress(job=job)
    body = progress.as_json()
    body.update(
        collection=job.collection.name if job.collection_id else None,
        model=job.endpoint.model,
        template=f"{job.template.name}:v{job.template.version}",
        percent=round(progress.percent, 1),
        created_at=job.created_at,
        batch=job.batch,
        batches=selectors.job_batches(job=job) if job.batch else [],
        cost=cost if cost is not None else selectors.job_cost(job=job),
    )
    return body


class JobCreateSerializer(serializers.Serializer):
    # A probe job is made by probe_judge from an assessor's own configuration, not here.
    kind = serializers.ChoiceField(choices=[c for c in JobKind.choices if c[0] != JobKind.PROBE])
    collection = serializers.CharField(required=False, help_text="every kind but relabel")
    base_url = serializers.URLField(validators=[endpoint_policy.validate_endpoint_host],
                                    help_text="OpenAI-compatible base URL, e.g. http://localhost:11434/v1")
    model = serializers.CharField(max_length=200)
    api_key_env = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=128, validators=[endpoint_policy.validate_api_key_env],
        help_text="NAME of the environment variable holding the key (never the key); only names the operator "
                  "allowed in HARDQ_LLM_KEY_ENVS (default OPENAI_API_KEY and HARDQ_LLM_KEY_*)",
    )
    timeout = serializers.FloatField(required=False, min_value=0.1, max_value=3600)
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=20)
    rate_limit = serializers.FloatField(required=False, min_value=0, help_text="calls per second, 0 = unlimited")
    parameters = serializers.DictField(required=False, help_text="request parameters, e.g. {\"temperature\": 0}")
    price_input = serializers.FloatField(required=False, min_value=0, help_text="the endpoint's price per 1M input tokens")
    price_output = serializers.FloatField(required=False, min_value=0, help_text="the endpoint's price per 1M output tokens")
    batch_discount = serializers.FloatField(
        required=False, min_value=0, max_value=1, help_text="fraction off the price for batch-mode calls, e.g. 0.5",
    )
    batch = serializers.BooleanField(
        required=False, default=False,
        help_text="batch mode: the requests are uploaded as OpenAI Batch JSONL and sent as one batch (24 h window); "
                  "the poll_llm_batches task reads the answers",
    )
    logprobs = serializers.BooleanField(
        required=False, help_text="judge: ask the endpoint for top_logprobs and store the grade probabilities "
                                  "(default true; false for a server that refuses the parameters)",
    )
    prompt = serializers.CharField(required=False, help_text="graded, binary, generation, pairwise, cascade, or a template name (name:vN)")
    assessor = serializers.CharField(required=False, default="", allow_blank=True, help_text="assessor name (default <model>-<template>-v<version>)")
    limit = serializers.IntegerField(required=False, min_value=1)
    samples = serializers.IntegerField(required=False, default=1, min_value=1, max_value=20, help_text="judge, pairwise: self-consistency")
    concurrency = serializers.IntegerField(required=False, default=16, min_value=1, max_value=256)
    pairs = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2), required=False,
        help_text="judge: [[qid, docid], ...] instead of every officially judged pair",
    )
    qids = serializers.ListField(child=serializers.CharField(), required=False, help_text="generate, reasons: these queries only")
    setting = serializers.ChoiceField(choices=["zero_shot", "reason_expansion"], required=False, help_text="generate")
    generator = serializers.CharField(required=False, help_text="pairwise: the generator whose passages are compared")
    min_grade = serializers.IntegerField(required=False, default=2, min_value=0, max_value=3,
                                         help_text="pairwise: compare the passages officially graded this or more")
    one_order = serializers.BooleanField(required=False, default=False,
                                         help_text="pairwise: ask once (default: both orders, a tie when they disagree)")
    task = serializers.ChoiceField(choices=Task.choices, required=False, help_text="reasons")
    rounds = serializers.IntegerField(required=False, default=1, min_value=1, max_value=10, help_text="reasons: refinement rounds")
    label = serializers.CharField(required=False, default="", allow_blank=True, help_text="reasons: pipeline label")
    training_set = serializers.CharField(required=False, help_text="relabel: training set name")
    base_url2 = serializers.URLField(required=False, validators=[endpoint_policy.validate_endpoint_host],
                                     help_text="relabel: stage-2 endpoint")
    model2 = serializers.CharField(required=False, help_text="relabel: stage-2 model")
    policy = serializers.ChoiceField(choices=["move", "remove"], required=False, default="move", help_text="relabel")


def _collection(data: dict) -> Collection:
    """The job's collection (every kind but relabel names one)."""
    if not data.get("collection"):
        raise serializers.ValidationError({"collection": [f"required for kind {data['kind']}"]})
    collection = corpus_selectors.collection_get(name=data["collection"])
    if collection is None:
        raise serializers.ValidationError({"collection": [f"unknown collection {data['collection']!r}"]})
    return collection


class JobFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=JobKind.choices)
    status = django_filters.ChoiceFilter(choices=LLMJob.STATUS_CHOICES)
    collection = django_filters.CharFilter(field_name="collection__name")

    class Meta:
        model = LLMJob
        fields = ["kind", "status", "collection"]


class CallSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField()
    sample = serializers.IntegerField()
    stage = serializers.IntegerField()
    request = serializers.JSONField()
    raw_response = serializers.CharField()
    parsed = serializers.JSONField(allow_null=True)
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    latency_ms = serializers.IntegerField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()


class LLMJobViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """LLM jobs of every kind: judge, generate, pairwise, reasons, relabel."""

    permission_classes = [IsAdmin]
    serializer_class = JobSerializer
    filterset_class = JobFilter

    def get_queryset(self) -> QuerySet:
        return selectors.job_list()

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        costs = selectors.jobs_cost(jobs=list(page))  # one query for the page, not one per job
        return self.get_paginated_response(JobSerializer([_job_body(j, cost=costs[j.pk]) for j in page], many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        """Status and progress counts of one job."""
        return Response(JobSerializer(_job_body(self.get_object())).data)

    @extend_schema(
        request=JobCreateSerializer,
        responses={201: JobSerializer},
        examples=[OpenApiExample("Judge DL19 with llama3.2", request_only=True, value={
            "kind": "judge", "collection": "dl19", "base_url": "http://localhost:11434/v1", "model": "llama3.2:latest",
            "prompt": "graded", "limit": 100,
        })],
    )
    def create(self, request: Request) -> Response:
        """Create a job and start it (a Celery task; in-process without a broker)."""
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        d = serializer.validated_data
        kind = d["kind"]
        if kind != JobKind.RELABEL:
            _collection(d)  # checked before an endpoint is created
        endpoint_options = {
            k: d[k] for k in ("timeout", "max_attempts", "rate_limit", "parameters", "price_input", "price_output",
                              "batch_discount") if k in d
        }
        if "logprobs" in d:
            endpoint_options["supports_logprobs"] = d["logprobs"]
        try:
            endpoint = services.endpoint_get_or_create(
                base_url=d["base_url"], model=d["model"], api_key_env=d["api_key_env"], **endpoint_options
            )
            if kind == JobKind.REASONS:
                if not d.get("task"):
                    raise serializers.ValidationError({"task": ["required for kind reasons"]})
                template = selectors.template_resolve(prompt=d.get("prompt") or f"reasons_{d['task']}", kinds=[f"reasons_{d['task']}"])
            else:
                kinds = PROMPT_KINDS[kind]
                template = selectors.template_resolve(prompt=d.get("prompt") or kinds[0], kinds=kinds)
            common = {"limit": d.get("limit"), "concurrency": d["concurrency"], "created_by": request.user}
            if kind == JobKind.JUDGE:
                pairs = [tuple(p) for p in d["pairs"]] if "pairs" in d else None
                job = services.job_create_judge(collection=_collection(d), endpoint=endpoint, template=template,
                                                assessor_name=d["assessor"], pairs=pairs, samples=d["samples"], **common)
            elif kind == JobKind.GENERATE:
                job = services.job_create_generate(collection=_collection(d), endpoint=endpoint, template=template,
                                                   assessor_name=d["assessor"], qids=d.get("qids"),
                                                   setting=d.get("setting") or "zero_shot", **common)
            elif kind == JobKind.PAIRWISE:
                generator = Assessor.objects.filter(name=d.get("generator") or "").first()
                if generator is None:
                    raise serializers.ValidationError({"generator": ["required: an existing generator (assessor) name"]})
                job = services.job_create_pairwise(collection=_collection(d), endpoint=endpoint, template=template,
                                                   generator=generator, assessor_name=d["assessor"], samples=d["samples"],
                                                   min_grade=d["min_grade"], both_orders=not d["one_order"], **common)
            elif kind == JobKind.REASONS:
                job = services.job_create_reasons(collection=_collection(d), endpoint=endpoint, template=template, task=d["task"],
                                                  assessor_name=d["assessor"], qids=d.get("qids"), rounds=d["rounds"],
                                                  label=d["label"], **common)
            else:
                training_set = TrainingSet.objects.filter(name=d.get("training_set") or "").first()
                if training_set is None:
                    raise serializers.ValidationError({"training_set": ["required: an existing training set name"]})
                if not (d.get("base_url2") and d.get("model2")):
                    raise serializers.ValidationError({"model2": ["relabel needs base_url2 and model2 (stage 2)"]})
                endpoint2 = services.endpoint_get_or_create(base_url=d["base_url2"], model=d["model2"], api_key_env=d["api_key_env"])
                job = services.job_create_relabel(training_set=training_set, endpoint=endpoint, endpoint2=endpoint2,
                                                  template=template, policy=d["policy"], **common)
        except PromptTemplate.DoesNotExist as exc:
            raise ApiError(str(exc), code="invalid", details={"prompt": [str(exc)]}) from exc
        except ValueError as exc:
            raise ApiError(str(exc), code="invalid") from exc
        if d["batch"]:
            job = services.job_batch_enable(job=job)
        services.job_start(job=job)
        job = selectors.job_list().get(pk=job.pk)
        return Response(JobSerializer(_job_body(job)).data, status=201)

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop the job; running workers give their items back at their next batch."""
        job = services.job_cancel(job=self.get_object())
        return Response(JobSerializer(_job_body(selectors.job_list().get(pk=job.pk))).data)

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        """Put an unfinished job back on the queue: finished items are skipped, answered calls cached."""
        job = services.job_resume(job=self.get_object())
        return Response(JobSerializer(_job_body(selectors.job_list().get(pk=job.pk))).data)

    @extend_schema(filters=False, responses=CallSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=CursorPagination)
    def calls(self, request: Request, pk: str) -> Response:
        """The job's audit trail: every call with request, raw response, parsed value, tokens, latency."""
        job = self.get_object()
        page = self.paginate_queryset(LLMCall.objects.filter(job=job))
        return self.get_paginated_response(CallSerializer(page, many=True).data)


class JudgeCardApi(APIView):
    """The judge card of one LLM assessor (what ``judge_card --json`` prints and the card page shows).

    Configuration (model, template and version, parameters, endpoint host: never its key),
    usage from its LLM jobs, agreement with each official or human assessor it shares
    pairs with (kappas, ordinal alpha, confusion matrix, per-grade precision and recall,
    grade distributions, calibration, effect on the runs' evaluation), self-consistency
    and probes. 404 for an unknown or non-LLM assessor; 400 when ``collection`` is needed
    or names a collection the assessor has no labels in.
    """

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[OpenApiParameter(
            "collection", str, description="needed when the assessor has labels in several collections",
        )],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
        examples=[OpenApiExample("a graded LLM judge", response_only=True, value={
            "assessor": "llama3.2-umbrela-v1", "collection": "dl19",
            "configuration": {"model": "llama3.2:latest", "template": {"name": "umbrela", "version": 1},
                              "endpoint_hosts": ["localhost:11434"], "calls": 9260, "tokens": 5123456},
            "references": [{"reference": "official", "coverage": 1.0, "kappa": 0.24, "kappa_linear": 0.41,
                            "kappa_quadratic": 0.55, "alpha_ordinal": 0.5, "confusion_matrix": [[1, 2], [3, 4]]}],
            "self_consistency": None, "probes": []})],
    )
    def get(self, request: Request, name: str) -> Response:
        try:
            card = card_selectors.judge_card(assessor=name, collection=request.query_params.get("collection") or None)
        except card_selectors.JudgeCardError as exc:
            code = "not_found" if exc.status == 404 else "invalid"
            raise ApiError(str(exc), code=code, details={exc.field: [str(exc)]}, status_code=exc.status) from exc
        return Response(card)


class LeaderboardApi(APIView):
    """Every assessor of a collection against a reference, one row each (``judges_leaderboard --json``).

    ``rows``: the assessors that judged at least 90% of the reference's pairs, best kappa
    first unless ``sort`` says otherwise; ``excluded``: the others. Figures are cached
    under the labels' state, so a repeated request costs a few queries.
    """

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[
            OpenApiParameter("collection", str, required=True, description="collection name"),
            OpenApiParameter("reference", str, description="reference assessor (default: the collection's official one)"),
            OpenApiParameter("sort", str, description=f"a column ({', '.join(leaderboard_selectors.SORT_KEYS)}),"
                                                      " a leading - for descending (default -kappa)"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
        examples=[OpenApiExample("two judges", response_only=True, value={
            "collection": "dl19", "reference": "official", "sort": "-kappa", "coverage_threshold": 0.9,
            "rows": [{"rank": 1, "assessor": "qwen3-umbrela", "coverage": 1.0, "kappa": 0.31, "kappa_linear": 0.45,
                      "kappa_quadratic": 0.58, "alpha_ordinal": 0.55, "kappa_binary": 0.44, "kendall_tau_b": 0.9,
                      "probes": {}, "calls": 9260, "tokens": 4000000}],
            "excluded": []})],
    )
    def get(self, request: Request) -> Response:
        collection = (request.query_params.get("collection") or "").strip()
        if not collection:
            raise serializers.ValidationError({"collection": ["This field is required."]})
        try:
            board = leaderboard_selectors.leaderboard(
                collection=collection, reference=request.query_params.get("reference") or None,
                sort=request.query_params.get("sort"),
            )
        except leaderboard_selectors.LeaderboardError as exc:
            code = "not_found" if exc.status == 404 else "invalid"
            raise ApiError(str(exc), code=code, details={exc.field: [str(exc)]}, status_code=exc.status) from exc
        return Response(board)
class AssessorProbesApi(APIView):
    """What fools an LLM judge: its probe results (``probe_judge``), the latest of each
    probe and every result, with flip rates and 95% Wilson intervals at full precision."""

    permission_classes = [IsAdmin]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, name: str) -> Response:
        assessor = corpus_selectors.assessor_get(name=name)
        if assessor is None:
            raise ApiError(f"Unknown assessor {name!r}.", code="not_found", status_code=404)
        if assessor.kind != Assessor.LLM:
            raise ApiError(f"assessor {name} is not an LLM judge (kind {assessor.kind}): only LLM judges are probed",
                           code="invalid")
        latest = probe_selectors.probe_summaries(assessor_ids=[assessor.pk]).get(assessor.pk, {})
        return Response({"assessor": assessor.name, "latest": latest,
                         "results": probe_selectors.probe_result_list(assessor=assessor)})

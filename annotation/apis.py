"""REST endpoints of the annotation campaigns: the same service calls the screens make.

Who sees what (conventions/api.py): admins create, list and close campaigns
and read every label; an annotator sees only the campaigns they belong to (any other
campaign answers 404, as if it did not exist), leases their next item, submits, skips,
undoes, reads their progress and, while a campaign is open, only their own labels.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from analysis import corpus_selectors
from analysis.models import Assessor, HardnessAnalysis, Task
from annotation import exports, selectors, services
from annotation.models import Assignment, Campaign, Item
from conventions.api import ApiError, IsAdmin, streaming_text

class IgnoreFormatParameter(DefaultContentNegotiation):
    """A ``format`` parameter names an export file's format, not a DRF renderer: answer errors in JSON."""

    def select_renderer(self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


# --- error mapping: the services' refusals as HTTP --------------------------------------


def _refusal(exc: services.AnnotationError) -> ApiError:
    """NotAllowed 403, InvalidLabel 400, a state conflict (lease lost, already submitted) 409."""
    if isinstance(exc, services.NotAllowed):
        return ApiError(str(exc), code="permission_denied", status_code=403)
    if isinstance(exc, services.InvalidLabel):
        return ApiError(str(exc), code="invalid", details=exc.errors)
    if isinstance(exc, services.LeaseLost):
        return ApiError(str(exc), code="lease_lost", status_code=409)
    if isinstance(exc, services.AlreadySubmitted):
        return ApiError(str(exc), code="already_submitted", status_code=409)
    return ApiError(str(exc), code="conflict", status_code=409)


# --- what an annotator is shown ----------------------------------------------------------


class ReasonShownSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    model = serializers.CharField(allow_null=True, help_text="null in a blind campaign")
    label = serializers.CharField(
        allow_blank=True, help_text="the list's pipeline label (collection, subject, settings; names no model)"
    )
    suggested_category = serializers.IntegerField(allow_null=True)


class ItemShownSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    qid = serializers.CharField()
    query = serializers.CharField()
    docid = serializers.CharField(allow_null=True, help_text="relevance items")
    passage = serializers.CharField(allow_null=True, help_text="relevance items: the passage text")
    task = serializers.CharField(allow_blank=True, help_text="reasons items: h2r, h2g or h2j")
    reasons = ReasonShownSerializer(many=True, help_text="reasons items: the proposed reasons to give a verdict on")
    evidence = serializers.JSONField(help_text="reasons items: what makes the query hard (grades hidden when blind)")
    known_grades = serializers.ListField(child=serializers.DictField(), help_text="other assessors' grades; empty when blind")
    llm_grade = serializers.IntegerField(
        required=False, help_text="anchoring campaigns: the LLM's grade, on shown items only (control items lack it)"
    )


class LeaseSerializer(serializers.Serializer):
    assignment = serializers.IntegerField(help_text="the assignment id: submit, skip with it")
    status = serializers.CharField(help_text="leased, done or skipped")
    expires_at = serializers.DateTimeField()
    campaign = serializers.IntegerField()
    kind = serializers.CharField()
    item = ItemShownSerializer()
    grade_meanings = serializers.DictField(child=serializers.CharField())
    draft = serializers.JSONField()
    progress = serializers.JSONField()


def _lease_body(lease: selectors.Lease) -> dict:
    """What the annotation screen shows for an assignment, as JSON (never more in a blind campaign)."""
    screen = selectors.item_screen(lease=lease)
    item = screen.item
    return {
        "assignment": screen.assignment.pk,
        "status": screen.assignment.status,
        "expires_at": screen.assignment.expires_at,
        "campaign": screen.campaign.pk,
        "kind": screen.campaign.kind,
        "item": {
            "id": item.pk,
            "qid": screen.query.qid,
            "query": screen.query.text,
            "docid": screen.passage.docid if screen.passage else None,
            "passage": screen.passage.text if screen.passage else None,
            "task": screen.campaign.task if screen.campaign.kind == Campaign.REASONS else "",
            "reasons": [{k: r[k] for k in ("id", "text", "model", "label", "suggested_category")}
                        for r in screen.reasons],
            "evidence": screen.evidence,
            "known_grades": screen.known_grades,
            # anchoring campaigns: present on shown items only; a control item has no LLM grade
            **({"llm_grade": screen.llm_grade} if screen.llm_grade is not None else {}),
        },
        "grade_meanings": {str(k): v for k, v in screen.grade_meanings.items()},
        "draft": screen.draft,
        "progress": screen.progress,
    }


# --- campaigns -------------------------------------------------------------------------------


class ProgressSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    slots = serializers.IntegerField(help_text="sum of every item's k")
    completed = serializers.IntegerField()
    percent = serializers.IntegerField()
    done = serializers.IntegerField(required=False, help_text="the caller's submitted items")
    skipped = serializers.IntegerField(required=False)
    assigned = serializers.IntegerField(required=False, help_text="the caller's share of the slots")
    my_percent = serializers.IntegerField(required=False)


class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="campaign.pk")
    name = serializers.CharField(source="campaign.name")
    kind = serializers.CharField(source="campaign.kind")
    task = serializers.CharField(source="campaign.task")
    collection = serializers.CharField(source="campaign.collection.name")
    status = serializers.CharField(source="campaign.status")
    overlap = serializers.IntegerField(source="campaign.overlap")
    blind = serializers.BooleanField(source="campaign.blind")
    is_member = serializers.BooleanField(help_text="the caller annotates this campaign")
    done = serializers.IntegerField(help_text="the caller's submitted items")
    assigned = serializers.IntegerField()
    completed = serializers.IntegerField()
    slots = serializers.IntegerField()
    percent = serializers.IntegerField()


class CampaignDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    task = serializers.CharField()
    reasons_label = serializers.CharField(help_text="reasons: the pipeline label of the lists shown")
    collection = serializers.CharField(source="collection.name")
    status = serializers.CharField()
    overlap = serializers.IntegerField()
    blind = serializers.BooleanField()
    reveal_after_commit = serializers.BooleanField()
    lease_seconds = serializers.IntegerField()
    guidelines = serializers.CharField(help_text="Markdown")
    grade_meanings = serializers.DictField(child=serializers.CharField(), help_text="the campaign's own grade wording")
    created_at = serializers.DateTimeField()


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=["relevance", "reasons", "cascade"])
    collection = serializers.CharField()
    annotators = serializers.ListField(child=serializers.CharField(), min_length=1, help_text="usernames")
    overlap = serializers.IntegerField(default=1, min_value=1, max_value=50, help_text="k: completed annotations per item")
    task = serializers.ChoiceField(choices=Task.choices, required=False, help_text="reasons campaigns")
    analysis = serializers.IntegerField(required=False, help_text="reasons: the hardness analysis (default the latest)")
    reasons_label = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=200,
        help_text="reasons: the pipeline label of the lists to show (default: those proposed for the analysis's subject)",
    )
    from_assessor = serializers.CharField(required=False, help_text="relevance: pairs where this assessor and the qrels disagree most")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100000)
    per_query = serializers.IntegerField(
        required=False, min_value=1, max_value=100000,
        help_text="relevance: at most M pairs of one query (default: ceil(limit / queries with a disagreement))",
    )
    pairs = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2),
        required=False, help_text="[[qid, docid], ...] for relevance or cascade campaigns",
    )
    cascade_job = serializers.IntegerField(required=False, help_text="cascade: the relabel job whose decisions to verify")
    gold = serializers.IntegerField(default=0, min_value=0, max_value=1000,
                                    help_text="relevance: mix in N gold pairs answered by the official qrels")
    guidelines = serializers.CharField(required=False, allow_blank=True, default="")
    grade_meanings = serializers.DictField(
        child=serializers.CharField(), required=False, default=dict,
        help_text='relevance: {"0": "...", ..., "3": "..."}, shown beside the grades (default: the TREC DL scale)',
    )
    blind = serializers.BooleanField(default=False)
    reveal_after_commit = serializers.BooleanField(default=False)
    lease_seconds = serializers.IntegerField(default=900, min_value=30, max_value=86400)
    show_llm_grade = serializers.BooleanField(default=False, help_text="relevance: show from_assessor's grade")
    control_share = serializers.FloatField(default=0.0, min_value=0.0, max_value=1.0,
                                           help_text="with show_llm_grade: the share of items shown without it")


class CampaignStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["open", "closed"], help_text="closing reveals every label to the annotators")


class LabelSerializer(serializers.Serializer):
    assignment = serializers.IntegerField(source="pk")
    annotator = serializers.CharField(source="user.username")
    item = serializers.IntegerField(source="item_id")
    qid = serializers.CharField(source="item.query.qid")
    docid = serializers.CharField(source="item.passage.docid", allow_null=True, default=None)
    grade = serializers.IntegerField(allow_null=True)
    verdicts = serializers.SerializerMethodField()
    comment = serializers.CharField()
    confidence = serializers.IntegerField(allow_null=True)
    seconds_spent = serializers.FloatField()
    submitted_at = serializers.DateTimeField(allow_null=True)

    def get_verdicts(self, assignment: Assignment) -> dict[str, str]:
        """reason id -> agree / disagree / unsure (reasons campaigns)."""
        return {str(v.reason_id): v.verdict for v in assignment.verdicts.all()}


class ReviewAnnotatorSerializer(serializers.Serializer):
    username = serializers.CharField()
    done = serializers.IntegerField()
    skipped = serializers.IntegerField()
    mean_seconds = serializers.FloatField(allow_null=True)
    gold_right = serializers.IntegerField()
    gold_total = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    agreement = serializers.FloatField(allow_null=True, help_text="with the other annotators, on shared items")


class ReviewPairSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    n = serializers.IntegerField()
    agreement = serializers.FloatField()
    kappa = serializers.FloatField(allow_null=True)


class ReviewDisagreementSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item.pk")
    qid = serializers.CharField(source="item.query.qid")
    docid = serializers.CharField(source="item.passage.docid", allow_null=True, default=None)
    labels = serializers.SerializerMethodField(help_text="annotator -> grade (relevance)")
    split_reasons = serializers.IntegerField(allow_null=True, help_text="reasons with split verdicts")
    reasons = serializers.ListField(child=serializers.DictField(), help_text="split reasons: id, text, verdicts, final")
    final_grade = serializers.IntegerField(source="item.final_grade", allow_null=True)

    def get_labels(self, row: dict[str, Any]) -> dict[str, int | None]:
        return {a.user.username: a.grade for a in row["assignments"]}


class ReviewSerializer(serializers.Serializer):
    annotators = ReviewAnnotatorSerializer(many=True)
    pairs = ReviewPairSerializer(many=True)
    disagreements = ReviewDisagreementSerializer(many=True)
    progress = ProgressSerializer()
    anchoring = serializers.JSONField(
        allow_null=True, help_text='campaigns that show the LLM\'s grade: {"shown": {"n", "agreement_with_llm", '
                                   '"kappa_with_llm", "kappa_with_reference", ...}, "control": {...}, "gap": {...}}',
    )


class AdjudicateSerializer(serializers.Serializer):
    grade = serializers.IntegerField(required=False, allow_null=True, help_text="relevance: the final grade 0..3")
    verdicts = serializers.JSONField(required=False, help_text='reasons: {"<reason id>": "agree"}')


class CampaignViewSet(viewsets.GenericViewSet):
    """Campaigns: admins manage them; annotators work in the ones they belong to."""

    permission_classes = [IsAuthenticated]
    serializer_class = CampaignSerializer
    filter_backends: list = []

    def get_permissions(self) -> list[BasePermission]:
        if self.action in {"create", "partial_update", "review", "adjudicate"}:
            return [IsAdmin()]
        return super().get_permissions()

    def get_queryset(self) -> QuerySet:
        return Campaign.objects.select_related("collection")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        # The browsable API builds its PATCH form from this class with a Campaign: on a
        # campaign's page that is the status form (the list row shape has no such fields).
        if self.kwargs.get("pk") is not None:
            return CampaignStatusSerializer
        return CampaignSerializer

    def _campaign(self, pk: str) -> Campaign:
        """The campaign if the caller may see it; 404 otherwise (its existence is not revealed)."""
        try:
            campaign = Campaign.objects.select_related("collection").get(pk=int(pk))
        except (Campaign.DoesNotExist, ValueError, TypeError, OverflowError):
            raise ApiError("No such campaign.", code="not_found", status_code=404) from None
        if not selectors.campaign_visible(campaign=campaign, user=self.request.user):
            raise ApiError("No such campaign.", code="not_found", status_code=404)
        return campaign

    @extend_schema(responses=CampaignSerializer(many=True))
    def list(self, request: Request) -> Response:
        """The caller's campaigns with progress (admins: every campaign)."""
        rows = selectors.campaigns_for_user(user=request.user)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(CampaignSerializer(page, many=True).data)

    @extend_schema(responses=CampaignDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(CampaignDetailSerializer(self._campaign(pk)).data)

    @extend_schema(
        request=CampaignCreateSerializer,
        responses={201: CampaignDetailSerializer},
        examples=[OpenApiExample("Relevance from disagreements", request_only=True, value={
            "name": "llama3.2 vs NIST", "kind": "relevance", "collection": "dl19", "annotators": ["alice", "bob"],
            "overlap": 2, "from_assessor": "llama3.2", "limit": 50, "blind": True,
        })],
    )
    def create(self, request: Request) -> Response:
        """Create a campaign and its items (the create_campaign command's service)."""
        serializer = CampaignCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        collection = corpus_selectors.collection_get(name=data["collection"])
        if collection is None:
            raise serializers.ValidationError({"collection": [f"unknown collection {data['collection']!r}"]})
        users = list(get_user_model().objects.filter(username__in=data["annotators"]))
        unknown = sorted(set(data["annotators"]) - {u.get_username() for u in users})
        if unknown:
            raise serializers.ValidationError({"annotators": [f"unknown users: {', '.join(unknown)}"]})
        analysis = None
        if data.get("analysis") is not None:
            analysis = HardnessAnalysis.objects.filter(pk=data["analysis"], collection=collection).first()
            if analysis is None:
                raise serializers.ValidationError({"analysis": ["no such analysis of this collection"]})
        from_assessor = None
        if data.get("from_assessor"):
            from_assessor = Assessor.objects.filter(name=data["from_assessor"]).first()
            if from_assessor is None:
                raise serializers.ValidationError({"from_assessor": ["unknown assessor"]})
        try:
            campaign = services.campaign_create(
                name=data["name"], kind=data["kind"], collection=collection, annotators=users,
                overlap=data["overlap"], task=data.get("task", ""), analysis=analysis,
                reasons_label=data["reasons_label"], from_assessor=from_assessor, per_query=data.get("per_query"),
                limit=data.get("limit"), pairs=[tuple(p) for p in data["pairs"]] if "pairs" in data else None,
                cascade_job=data.get("cascade_job"), gold_count=data["gold"],
                guidelines=data["guidelines"], grade_meanings=data["grade_meanings"], blind=data["blind"], reveal_after_commit=data["reveal_after_commit"],
                lease_seconds=data["lease_seconds"], created_by=request.user,
                show_llm_grade=data["show_llm_grade"], control_share=data["control_share"],
            )
        except services.NoReasonLists as exc:
            raise serializers.ValidationError({"reasons_label": [str(exc)]}) from exc
        except services.CampaignInvalid as exc:
            raise serializers.ValidationError(exc.errors) from exc
        except services.AnnotationError as exc:
            raise ApiError(str(exc), code="invalid") from exc
        return Response(CampaignDetailSerializer(campaign).data, status=201)

    @extend_schema(request=CampaignStatusSerializer, responses=CampaignDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Open or close a campaign."""
        campaign = self._campaign(pk)
        serializer = CampaignStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_set_status(campaign=campaign, status=serializer.validated_data["status"])
        return Response(CampaignDetailSerializer(campaign).data)

    @extend_schema(
        request=None,
        responses={200: LeaseSerializer, 204: OpenApiResponse(description="nothing left for the caller")},
    )
    @action(detail=True, methods=["post"])
    def next(self, request: Request, pk: str) -> Response:
        """Lease the caller's next item (or give back their current lease); 204 when nothing is left."""
        campaign = self._campaign(pk)
        try:
            lease = services.assignment_lease(campaign=campaign, user=request.user)
        except services.AnnotationError as exc:
            raise _refusal(exc) from exc
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(LeaseSerializer(_lease_body(lease)).data)

    @extend_schema(
        request=None,
        responses={200: LeaseSerializer, 204: OpenApiResponse(description="nothing to undo")},
    )
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str) -> Response:
        """Take back the caller's last submission; the item is leased to them again."""
        campaign = self._campaign(pk)
        try:
            assignment = services.assignment_undo(campaign=campaign, user=request.user)
        except services.AnnotationError as exc:
            raise _refusal(exc) from exc
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(LeaseSerializer(_lease_body(selectors.lease_of(assignment_id=assignment.pk, campaign=campaign))).data)

    @extend_schema(responses=ProgressSerializer)
    @action(detail=True, methods=["get"])
    def progress(self, request: Request, pk: str) -> Response:
        """Campaign-wide progress, and the caller's own when they annotate it."""
        campaign = self._campaign(pk)
        member = campaign.annotators.filter(pk=request.user.pk).exists()
        data = selectors.campaign_progress(campaign=campaign, user=request.user if member else None)
        return Response(ProgressSerializer(data).data)

    @extend_schema(responses=ReviewSerializer)
    @action(detail=True, methods=["get"], permission_classes=[IsAdmin])
    def review(self, request: Request, pk: str) -> Response:
        """Admins: per-annotator progress, gold accuracy and agreement, and the items with disagreement."""
        campaign = self._campaign(pk)
        return Response(ReviewSerializer(selectors.campaign_review(campaign=campaign)).data)

    @extend_schema(request=AdjudicateSerializer, responses=CampaignDetailSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAdmin], url_path=r"items/(?P<item_id>\d+)/adjudicate")
    def adjudicate(self, request: Request, pk: str, item_id: str) -> Response:
        """Admins: record the final label of one item of the campaign."""
        campaign = self._campaign(pk)
        item = Item.objects.filter(campaign=campaign, pk=int(item_id)).select_related("campaign").first()
        if item is None:
            raise ApiError("No such item in this campaign.", code="not_found", status_code=404)
        serializer = AdjudicateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.item_adjudicate(item=item, user=request.user, **serializer.validated_data)
        except services.AnnotationError as exc:
            raise _refusal(exc) from exc
        return Response(CampaignDetailSerializer(campaign).data)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=[*exports.FORMATS], description="csv (default) or jsonl")],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="one row per label, with a header"),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="one JSON object per label"),
        },
    )
    @action(detail=True, methods=["get"], permission_classes=[IsAdmin], pagination_class=None,
            content_negotiation_class=IgnoreFormatParameter)
    def export(self, request: Request, pk: str) -> StreamingHttpResponse:
        """Admins: every label of the campaign (verdicts, added reasons, grades, skips, gold and final labels)."""
        campaign = self._campaign(pk)
        fmt = request.query_params.get("format", "csv")
        if fmt not in exports.FORMATS:
            raise ApiError(f"format must be one of {', '.join(exports.FORMATS)}.", code="invalid", status_code=400)
        return streaming_text(exports.render(campaign=campaign, fmt=fmt), filename=f"campaign-{campaign.pk}-labels.{fmt}",
                              content_type=exports.CONTENT_TYPES[fmt])

    @extend_schema(responses=LabelSerializer(many=True))
    @action(detail=True, methods=["get"])
    def labels(self, request: Request, pk: str) -> Response:
        """Submitted labels the caller may read: their own while the campaign is open (admins: all)."""
        campaign = self._campaign(pk)
        rows = selectors.visible_assignments(campaign=campaign, user=request.user).prefetch_related("verdicts")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(LabelSerializer(page, many=True).data)


# --- assignments -----------------------------------------------------------------------------


def _lease_of(assignment: Assignment) -> selectors.Lease:
    return selectors.lease_of(assignment_id=assignment.pk, campaign=assignment.item.campaign)


class SubmitSerializer(serializers.Serializer):
    """A submit's fields; their content is checked by ``services.submission_parse`` (the
    web form's check too), whose messages come back per field."""

    grade = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=3, help_text="relevance: 0..3")
    verdicts = serializers.JSONField(
        required=False, help_text='reasons: {"<reason id>": "agree"} or {"<reason id>": {"verdict": "agree", "category": 3}}'
    )
    added_reasons = serializers.JSONField(required=False, help_text='reasons: ["a missing reason", {"text": ..., "category": id}]')
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    confidence = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    seconds_spent = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=86400)

    def validate(self, attrs: dict) -> dict:
        try:
            attrs["submission"] = services.submission_parse(**attrs)
        except services.InvalidLabel as exc:
            raise serializers.ValidationError(exc.errors) from exc
        return attrs


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="why the item is skipped")


class AssignmentViewSet(viewsets.GenericViewSet):
    """One leased item of the caller: read it again, submit it, skip it.

    An assignment that is not the caller's answers 404 (admins read any, submit none).
    """

    permission_classes = [IsAuthenticated]
    serializer_class = LeaseSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet:
        return Assignment.objects.all()

    def _assignment(self, pk: str, *, read: bool = False) -> Assignment:
        try:
            assignment = Assignment.objects.select_related("item__campaign__analysis").get(pk=int(pk))
        except (Assignment.DoesNotExist, ValueError, TypeError, OverflowError):
            raise ApiError("No such assignment.", code="not_found", status_code=404) from None
        mine = assignment.user_id == self.request.user.pk
        if not (mine or (read and self.request.user.is_staff)):
            raise ApiError("No such assignment.", code="not_found", status_code=404)
        return assignment

    @extend_schema(responses=LeaseSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        """The item of the assignment as the annotation screen shows it."""
        assignment = self._assignment(pk, read=True)
        return Response(LeaseSerializer(_lease_body(_lease_of(assignment))).data)

    @extend_schema(
        request=SubmitSerializer,
        responses={200: LeaseSerializer},
        examples=[
            OpenApiExample("Relevance", request_only=True, value={"grade": 2}),
            OpenApiExample("Reasons", request_only=True, value={"verdicts": {"17": "agree", "18": {"verdict": "disagree"}}}),
        ],
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        """Commit the answer. The same answer again (a retry) answers 200 and changes nothing."""
        assignment = self._assignment(pk)
        serializer = SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            done = services.submission_commit(
                assignment_id=assignment.pk, user=request.user, submission=serializer.validated_data["submission"],
            ).assignment
        except services.AnnotationError as exc:
            raise _refusal(exc) from exc
        return Response(LeaseSerializer(_lease_body(_lease_of(done))).data)

    @extend_schema(request=SkipSerializer, responses={200: LeaseSerializer})
    @action(detail=True, methods=["post"])
    def skip(self, request: Request, pk: str) -> Response:
        """Give the item back with a reason; it is not offered to the caller again."""
        assignment = self._assignment(pk)
        serializer = SkipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            assignment = services.assignment_skip(assignment=assignment, user=request.user, reason=serializer.validated_data["reason"])
        except services.AnnotationError as exc:
            raise _refusal(exc) from exc
        return Response(LeaseSerializer(_lease_body(_lease_of(assignment))).data)

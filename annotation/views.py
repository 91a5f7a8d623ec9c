"""Annotation pages: thin views that parse input, call one service or selector, render.

The annotation screen is one page; moving between items swaps the ``#item-panel``
fragment over HTMX (no full reload). Without HTMX the same POSTs redirect back to the
page, so the screen still works without JavaScript.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from analysis.models import Assessor, Collection, HardnessAnalysis
from annotation import budget_selectors, exports, selectors, services
from annotation.models import Assignment, Campaign, Item
from conventions.access import staff_required
from conventions.api import streaming_text


def _campaign_for(request: HttpRequest, pk: int) -> selectors.CampaignAccess:
    """The campaign if the user may see it (staff, or one of its annotators); a 404
    otherwise (no hint that it exists)."""
    access = selectors.campaign_access(pk=pk, user=request.user)
    if access is None or not (request.user.is_staff or access.is_member):
        raise Http404("no such campaign")
    return access


def _own_assignment(request: HttpRequest, pk: int) -> Assignment:
    """The user's assignment with its item and campaign; 404 for anyone else's."""
    assignment = (
        Assignment.objects.select_related("item__campaign__analysis").filter(pk=pk, user_id=request.user.pk).first()
    )
    if assignment is None:
        raise Http404("no such assignment")
    return assignment


def _panel(request: HttpRequest, campaign: Campaign, lease: selectors.Lease | None, *, error: str = "",
           status: int = 200) -> HttpResponse:
    """Render the item panel (or the 'nothing left' panel) of the campaign."""
    context: dict[str, Any] = {"campaign": campaign, "error": error}
    if lease is None:
        context["progress"] = selectors.campaign_progress(campaign=campaign, user=request.user)
        template = "annotation/_done.html"
    else:
        context["s"] = selectors.item_screen(lease=lease)
        template = "annotation/_item.html"
    return render(request, template, context, status=status)


def _respond(request: HttpRequest, campaign: Campaign, lease: selectors.Lease | None, **kw: Any) -> HttpResponse:
    if request.htmx:
        return _panel(request, campaign, lease, **kw)
    if kw.get("error"):
        messages.error(request, kw["error"])
    return redirect("annotation:annotate", pk=campaign.pk)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The annotator's campaigns with their progress."""
    return render(request, "annotation/home.html", {"rows": selectors.campaigns_for_user(user=request.user)})


@login_required
@require_safe
def annotate(request: HttpRequest, pk: int) -> HttpResponse:
    """The annotation screen: the item the user holds a lease on. Reading it changes
    nothing: without a lease the page asks for one with a POST (HTMX does it on load;
    without JavaScript the user presses Start)."""
    lease = selectors.open_lease(campaign_id=pk, user=request.user, now=timezone.now())
    if lease is not None:  # the user annotates this open campaign: the lease came with it
        campaign = lease.assignment.item.campaign
        return render(request, "annotation/annotate.html",
                      {"campaign": campaign, "s": selectors.item_screen(lease=lease)})
    access = selectors.campaign_access(pk=pk, user=request.user)
    if access is None or not access.is_member:
        if access is not None and request.user.is_staff:  # admins follow campaigns on the review page
            return redirect("annotation:review", pk=pk)
        raise Http404("no such campaign")
    campaign = access.campaign
    context: dict[str, Any] = {"campaign": campaign}
    if campaign.is_open:
        context["start"] = True
    else:
        context["progress"] = selectors.campaign_progress(campaign=campaign, user=request.user)
    return render(request, "annotation/annotate.html", context)


@login_required
@require_POST
def next_item(request: HttpRequest, pk: int) -> HttpResponse:
    """The user's current lease, or a new one on the next free item."""
    campaign = _campaign_for(request, pk).campaign
    try:
        lease = services.assignment_lease(campaign=campaign, user=request.user)
    except services.NotAllowed as exc:
        raise Http404(str(exc)) from exc
    return _respond(request, campaign, lease)


class SubmissionForm(forms.Form):
    """The item form as posted: ``grade``, or ``verdict_<reason id>`` with
    ``category_<reason id>`` and ``added_text``/``added_category`` rows; ``comment``,
    ``confidence`` and ``elapsed_ms``. Checked by ``services.submission_parse``, the
    same function the API's serializer calls."""

    grade = forms.CharField(required=False)
    comment = forms.CharField(required=False, strip=False)
    confidence = forms.CharField(required=False)
    elapsed_ms = forms.CharField(required=False)

    submission: services.Submission

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        post = self.data
        verdicts = {
            key.removeprefix("verdict_"): {"verdict": value, "category": post.get(f"category_{key.removeprefix('verdict_')}")}
            for key, value in post.items()
            if key.startswith("verdict_") and value
        }
        added = [
            {"text": text, "category": category}
            for text, category in zip(post.getlist("added_text"), post.getlist("added_category"))
            if text.strip()
        ]
        try:
            seconds = float(data.get("elapsed_ms") or "") / 1000
        except ValueError:
            seconds = None
        try:
            self.submission = services.submission_parse(
                grade=data.get("grade"), verdicts=verdicts, added_reasons=added, comment=data.get("comment", ""),
                confidence=data.get("confidence"), seconds_spent=seconds if seconds is None or seconds >= 0 else None,
            )
        except services.InvalidLabel as exc:
            for name, problems in exc.errors.items():
                for problem in problems:
                    self.add_error(name if name in self.fields else None, problem)
        return data


def _refused(request: HttpRequest, pk: int, error: str, *, lease_lost: bool = False) -> HttpResponse:
    """The answer was not taken: show the same item again with the message and what the
    user typed (or, when its slot is gone, the next item)."""
    assignment = _own_assignment(request, pk)
    campaign = assignment.item.campaign
    if lease_lost:
        return _respond(request, campaign, services.assignment_lease(campaign=campaign, user=request.user), error=error)
    lease = selectors.lease_of(assignment_id=assignment.pk, campaign=campaign)
    lease.assignment.draft = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    return _respond(request, campaign, lease, error=error, status=422)


@login_required
@require_POST
def submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Commit the answer; the response is the next item (or the reveal panel)."""
    form = SubmissionForm(request.POST)
    if not form.is_valid():
        return _refused(request, pk, "; ".join(m for problems in form.errors.values() for m in problems))
    try:
        result = services.submission_commit(assignment_id=pk, user=request.user, submission=form.submission,
                                            then_lease=True)
    except services.NotAllowed as exc:
        raise Http404("no such assignment") from exc
    except services.LeaseLost as exc:
        return _refused(request, pk, str(exc), lease_lost=True)
    except services.AnnotationError as exc:
        return _refused(request, pk, str(exc))
    campaign = result.assignment.item.campaign
    if campaign.blind and campaign.reveal_after_commit and request.htmx:
        done = selectors.lease_of(assignment_id=result.assignment.pk, campaign=campaign)
        return render(request, "annotation/_revealed.html",
                      {"campaign": campaign, "s": selectors.item_screen(lease=done, reveal=True)})
    return _respond(request, campaign, result.next)


@login_required
@require_POST
def skip(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = _own_assignment(request, pk)
    campaign = assignment.item.campaign
    try:
        services.assignment_skip(assignment=assignment, user=request.user, reason=request.POST.get("skip_reason", ""))
    except services.AnnotationError as exc:
        return _respond(request, campaign, selectors.lease_of(assignment_id=assignment.pk, campaign=campaign),
                        error=str(exc), status=422)
    return _respond(request, campaign, services.assignment_lease(campaign=campaign, user=request.user))


@login_required
@require_POST
def draft(request: HttpRequest, pk: int) -> HttpResponse:
    """Autosave of the form; nothing to render."""
    assignment = _own_assignment(request, pk)
    values = {k: (request.POST.getlist(k) if k == "added_text" else v)
              for k, v in request.POST.items() if k not in {"csrfmiddlewaretoken", "elapsed_ms"}}
    saved = services.assignment_save_draft(assignment=assignment, user=request.user, draft=values)
    return HttpResponse(status=204 if saved else 409)


@login_required
@require_POST
def undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Take back the last submission and show that item again, filled in."""
    campaign = _campaign_for(request, pk).campaign
    try:
        reopened = services.assignment_undo(campaign=campaign, user=request.user)
    except services.NotAllowed as exc:
        raise Http404(str(exc)) from exc
    except services.AnnotationError as exc:
        return _respond(request, campaign, None, error=str(exc))
    if reopened is None:
        return _respond(request, campaign, services.assignment_lease(campaign=campaign, user=request.user),
                        error="nothing to undo")
    return _respond(request, campaign, selectors.lease_of(assignment_id=reopened.pk, campaign=campaign))


@login_required
def labels(request: HttpRequest, pk: int) -> HttpResponse:
    """Done labels: the user's own while the campaign is open; everyone's once closed."""
    campaign = _campaign_for(request, pk).campaign
    rows = selectors.visible_assignments(campaign=campaign, user=request.user)
    verdicts = selectors.reason_verdicts(campaign=campaign, user=request.user)
    return render(request, "annotation/labels.html", {"campaign": campaign, "rows": rows, "v": verdicts})


@staff_required
def review(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("collection"), pk=pk)
    return render(request, "annotation/review.html",
                  {"campaign": campaign, "r": selectors.campaign_review(campaign=campaign),
                   "v": selectors.reason_verdicts(campaign=campaign, user=request.user),
                   "budget": _budget_of(campaign)})


# --- budget campaigns: the plan on the review page and staff's button for the next round ---

def _budget_of(campaign: Campaign) -> dict[str, Any] | None:
    plan = budget_selectors.budget_plan_of(campaign=campaign)
    return None if plan is None else budget_selectors.budget_status(plan=plan)


@staff_required
@require_POST
def budget_round(request: HttpRequest, pk: int) -> HttpResponse:
    """Add the campaign's next budget round now (``force``: before the last is complete)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        added = services.budget_round_add(campaign=campaign, force=request.POST.get("force") == "1")
    except services.AnnotationError as exc:
        messages.error(request, str(exc))
    else:
        if added is None:
            messages.info(request, "No round added: the budget is spent, the campaign is closed, or the last "
                                   "round is not complete (add it anyway to calibrate on the grades so far).")
        else:
            messages.success(request, f"Round {added.number} added: {added.size} items ({added.selection}).")
    return redirect("annotation:review", pk=campaign.pk)


@staff_required
def export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every label of the campaign as a download: ``?format=csv`` (default) or ``jsonl``."""
    campaign = get_object_or_404(Campaign, pk=pk)
    fmt = request.GET.get("format", "csv")
    if fmt not in exports.FORMATS:
        raise Http404("unknown format")
    return streaming_text(exports.render(campaign=campaign, fmt=fmt), filename=f"campaign-{campaign.pk}-labels.{fmt}",
                          content_type=exports.CONTENT_TYPES[fmt])


@staff_required
@require_POST
def adjudicate(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item.objects.select_related("campaign"), pk=pk)
    verdicts = {k.removeprefix("final_"): v for k, v in request.POST.items() if k.startswith("final_") and v}
    try:
        services.item_adjudicate(item=item, user=request.user, grade=request.POST.get("grade"), verdicts=verdicts)
        messages.success(request, f"item {item.pk} adjudicated")
    except services.AnnotationError as exc:
        messages.error(request, str(exc))
    return redirect("annotation:review", pk=item.campaign_id)


@staff_required
@require_POST
def set_status(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    services.campaign_set_status(campaign=campaign, status=request.POST.get("status", ""))
    return redirect("annotation:review", pk=campaign.pk)


def _grade_lines(text: str) -> dict[str, str]:
    """``"2: Highly relevant …"`` lines as ``{"2": "Highly relevant …"}`` (the service checks the grades)."""
    out = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        grade, sep, meaning = line.partition(":")
        if not sep:
            raise forms.ValidationError(f"line {n}: write it as “grade: meaning”")
        out[grade.strip()] = meaning.strip()
    return out


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    collection = forms.ModelChoiceField(Collection.objects.all())
    kind = forms.ChoiceField(choices=Campaign.KIND_CHOICES[:2])
    task = forms.ChoiceField(choices=[("", "-")] + [("h2r", "H2R"), ("h2g", "H2G"), ("h2j", "H2J")], required=False)
    analysis = forms.ModelChoiceField(HardnessAnalysis.objects.all(), required=False,
                                      help_text="default: the latest analysis of the task")
    reasons_label = forms.CharField(
        max_length=200, required=False, label="Reason lists",
        help_text="reasons: the pipeline label of the lists to show (default: those proposed for the analysis's subject)",
    )
    from_assessor = forms.ModelChoiceField(
        Assessor.objects.filter(kind__in=[Assessor.LLM, Assessor.OFFICIAL]).order_by("kind", "name"), required=False,
        label="Sample from", help_text="the pairs where this assessor and the official qrels disagree most",
    )
    limit = forms.IntegerField(min_value=1, required=False, label="Number of items",
                               help_text="relevance: pairs to sample; reasons: at most this many hard queries")
    per_query = forms.IntegerField(min_value=1, required=False, label="At most per query",
                                   help_text="default: the number of items over the queries with a disagreement, "
                                             "rounded up")
    gold = forms.IntegerField(min_value=0, required=False, initial=0, label="Gold items",
                              help_text="pairs whose answer is the official grade, shown to every annotator")
    overlap = forms.IntegerField(min_value=1, initial=1)
    annotators = forms.ModelMultipleChoiceField(get_user_model().objects.filter(is_active=True).order_by("username"))
    guidelines = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False)
    grade_meanings = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False,
        help_text="relevance: one line per grade to reword, e.g. “2: Highly relevant: …”; "
                  "the others keep the TREC Deep Learning wording",
    )
    blind = forms.BooleanField(required=False)
    reveal_after_commit = forms.BooleanField(required=False)

    # The fields each kind uses (the others are hidden by campaign_form.js and ignored).
    KIND_FIELDS = {
        "task": {"reasons"}, "analysis": {"reasons"}, "reasons_label": {"reasons"},
        "from_assessor": {"relevance"}, "per_query": {"relevance"}, "gold": {"relevance"},
        "grade_meanings": {"relevance"},
    }

    def clean_grade_meanings(self) -> dict[str, str]:
        return _grade_lines(self.cleaned_data.get("grade_meanings") or "")

    def rows(self) -> list[tuple[forms.BoundField, str]]:
        """Each field with the kinds it belongs to (blank: every kind), for the template."""
        return [(self[name], " ".join(sorted(self.KIND_FIELDS.get(name, set())))) for name in self.fields]

    def for_kind(self) -> dict[str, Any]:
        """The cleaned data with the fields of the other kind left out."""
        data = dict(self.cleaned_data)
        for name, kinds in self.KIND_FIELDS.items():
            if data.get("kind") not in kinds:
                data[name] = self.fields[name].to_python(None) if name != "grade_meanings" else {}
        return data


@staff_required
def campaign_new(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.for_kind()
        try:
            campaign = services.campaign_create(
                name=data["name"], kind=data["kind"], collection=data["collection"], task=data["task"] or "",
                analysis=data["analysis"], reasons_label=data["reasons_label"] or "",
                from_assessor=data["from_assessor"], limit=data["limit"], per_query=data["per_query"],
                gold_count=data["gold"] or 0,
                overlap=data["overlap"], annotators=list(data["annotators"]), guidelines=data["guidelines"],
                grade_meanings=data["grade_meanings"],
                blind=data["blind"], reveal_after_commit=data["reveal_after_commit"], created_by=request.user,
            )
        except services.NoReasonLists as exc:
            form.add_error("reasons_label", str(exc))
        except services.CampaignInvalid as exc:
            for name, problems in exc.errors.items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
        except services.AnnotationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"campaign {campaign.name} created")
            return redirect("annotation:review", pk=campaign.pk)
    return render(request, "annotation/campaign_new.html", {"form": form})

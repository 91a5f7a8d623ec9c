"""Judges pages (staff only, like the API): jobs (list, detail with live progress by HTMX
polling, start and control), the judge card of an LLM assessor, the leaderboard."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from analysis.models import Collection
from conventions.access import staff_required
from analysis import corpus_selectors
from judges import card_selectors, leaderboard_selectors, probe_selectors, selectors, services
from judges.forms import LLMJobForm
from judges.models import LLMJob


@staff_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = [selectors.job_progress(job=j) for j in selectors.job_list()[:200]]
    return render(request, "judges/job_list.html", {"jobs": jobs})


@staff_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.job_list(), pk=pk)
    context = {"progress": selectors.job_progress(job=job), "job": job, "cost": selectors.job_cost(job=job),
               "batches": selectors.job_batches(job=job) if job.batch else []}
    if request.htmx:
        return render(request, "judges/_job_progress.html", context)
    context["pairwise_generator"] = selectors.job_pairwise_generator(job=job)
    return render(request, "judges/job_detail.html", context)


@staff_required
def job_create(request: HttpRequest) -> HttpResponse:
    form = LLMJobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            job = services.job_create_from_form_in_mode(data=form.cleaned_data, created_by=request.user)
            services.job_start(job=job)
        messages.success(request, f"Job {job.pk} started.")
        return redirect("judges:job_detail", pk=job.pk)
    return render(request, "judges/job_form.html", {"form": form})


@staff_required
@require_POST
def job_control(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    job = get_object_or_404(LLMJob, pk=pk)
    if action == "cancel":
        services.job_cancel(job=job)
    elif action == "resume":
        services.job_resume(job=job)
    return redirect("judges:job_detail", pk=job.pk)


@require_GET
@staff_required
def assessor_card(request: HttpRequest, name: str) -> HttpResponse:
    """One LLM assessor's judge card (``judges.card_selectors.judge_card``); 404 page for
    an unknown or non-LLM name, 400 for a collection it has no labels in."""
    collection = request.GET.get("collection") or None
    try:
        card = card_selectors.judge_card(assessor=name, collection=collection)
    except card_selectors.JudgeCardError as exc:
        if exc.status == 404 and exc.field == "assessor":
            raise Http404(str(exc)) from exc
        return render(request, "judges/card.html", {"error": str(exc), "name": name}, status=exc.status)
    return render(request, "judges/card.html", {"card": card, "name": name})


@require_GET
@staff_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    """Every judge of a collection against a reference; ``format=csv`` / ``format=json`` download it."""
    collections = list(Collection.objects.order_by("name").values_list("name", flat=True))
    collection = request.GET.get("collection") or (collections[0] if collections else "")
    context: dict[str, Any] = {"collections": collections, "collection": collection, "error": None}
    fmt = request.GET.get("format") or ""
    if fmt not in ("", "csv", "json"):
        context["error"] = "format must be csv or json"
        return render(request, "judges/leaderboard.html", context, status=400)
    if not collection:
        return render(request, "judges/leaderboard.html", context)
    try:
        board = leaderboard_selectors.leaderboard(
            collection=collection, reference=request.GET.get("reference") or None, sort=request.GET.get("sort"),
        )
    except leaderboard_selectors.LeaderboardError as exc:
        context["error"] = str(exc)
        return render(request, "judges/leaderboard.html", context, status=exc.status)
    if fmt == "csv":
        response = HttpResponse(leaderboard_selectors.leaderboard_csv(board), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="leaderboard-{board["collection"]}.csv"'
        return response
    if fmt == "json":
        response = JsonResponse(board)
        response["Content-Disposition"] = f'attachment; filename="leaderboard-{board["collection"]}.json"'
        return response
    query = request.GET.copy()
    query.pop("sort", None)
    query.pop("format", None)
    query["collection"] = board["collection"]
    base = query.urlencode()
    columns = [
        ("assessor", "assessor"), ("kind", "kind"), ("coverage", "coverage"), ("kappa", "κ"),
        ("kappa_linear", "κ linear"), ("kappa_quadratic", "κ quadratic"), ("alpha_ordinal", "α ordinal"),
        ("kappa_binary", "κ ≥2 split"), *([("kendall_tau_b", "τ-b runs")] if board["has_runs"] else []),
        ("calls", "calls"), ("tokens", "tokens"),
    ]
    headers = []
    for key, label in columns:
        # a click on the sorted column reverses it; a first click sorts figures best first
        current = board["sort"].lstrip("-") == key
        descending = board["sort"].startswith("-")
        if current:
            target = key if descending else f"-{key}"
        else:
            target = key if key in ("assessor", "kind") else f"-{key}"
        headers.append({
            "key": key, "label": label, "href": f"?{base}&sort={target}",
            "state": ("descending" if descending else "ascending") if current else "",
        })
    context.update(
        board=board, headers=headers, probes=leaderboard_selectors.probe_names(board), download_query=base,
        assessors=board["assessors"],
    )
    return render(request, "judges/leaderboard.html", context)
@staff_required
def assessor_probes(request: HttpRequest, name: str) -> HttpResponse:
    """An LLM assessor's probe results, and the pairs its latest probe job asked."""
    assessor = corpus_selectors.assessor_get(name=name)
    if assessor is None:
        return render(request, "judges/assessor_probes.html", {"name": name, "missing": True}, status=404)
    jobs = probe_selectors.probe_jobs(assessor=assessor)
    shown = jobs[0] if jobs else None
    if request.GET.get("job", "").isdigit():
        shown = next((j for j in jobs if j.pk == int(request.GET["job"])), shown)
    context = {
        "assessor": assessor, "name": name, "results": probe_selectors.probe_result_list(assessor=assessor),
        "job": shown, "items": probe_selectors.probed_items(job=shown) if shown else [],
        "configuration": probe_selectors.assessor_configuration(assessor=assessor),
    }
    return render(request, "judges/assessor_probes.html", context)

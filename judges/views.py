"""Job pages (staff only, like the API): list, detail with live progress (HTMX polling), start and control."""
from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from conventions.access import staff_required
from analysis import corpus_selectors
from judges import probe_selectors, selectors, services
from judges.forms import LLMJobForm
from judges.models import LLMJob


@staff_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = [selectors.job_progress(job=j) for j in selectors.job_list()[:200]]
    return render(request, "judges/job_list.html", {"jobs": jobs})


@staff_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.job_list(), pk=pk)
    context = {"progress": selectors.job_progress(job=job), "job": job}
    if request.htmx:
        return render(request, "judges/_job_progress.html", context)
    context["pairwise_generator"] = selectors.job_pairwise_generator(job=job)
    return render(request, "judges/job_detail.html", context)


@staff_required
def job_create(request: HttpRequest) -> HttpResponse:
    form = LLMJobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            job = services.job_create_from_form(data=form.cleaned_data, created_by=request.user)
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

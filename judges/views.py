"""Job pages (staff only, like the API): list, detail with live progress (HTMX polling), start and control."""
from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from conventions.access import staff_required
from judges import selectors, services
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

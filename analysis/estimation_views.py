"""Staff pages of budgeted evaluation: estimates with their forest plot, the budget simulator.

Each view parses its query string with a form, calls one selector and renders; the
picture is drawn in the same request and shown as an ``<img>`` of a ``data:`` SVG: the
site's Content-Security-Policy (``style-src 'self'``) would strip the inline styles of
an SVG written into the page (every shape turns black), while an SVG loaded as an
image keeps them and can never run script.
"""
from __future__ import annotations

import base64

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.budget_selectors import simulation_report
from analysis.budget_simulation import SimulationError
from analysis.estimation import INTERVAL_DESCRIPTIONS, EstimationError
from analysis.estimation_forms import EstimateForm, SimulationForm
from analysis.estimation_plots import forest_plot, simulation_plot
from analysis.estimation_selectors import estimate_report
from conventions.access import staff_required

TABLE_COLUMNS = ("kappa", "rmse", "kendall_tau", "coverage", "half_width", "human_only_half_width")


def svg_data_uri(svg: str | bytes) -> str:
    """A picture as a ``data:`` URI for an ``<img>`` (``img-src`` allows ``data:``)."""
    raw = svg.encode("utf-8") if isinstance(svg, str) else svg
    return "data:image/svg+xml;base64," + base64.b64encode(raw).decode("ascii")


@staff_required
def estimate_page(request: HttpRequest) -> HttpResponse:
    """Every run's three estimates for the chosen LLM and human assessors."""
    form = EstimateForm(request.GET or None)
    context: dict = {"form": form}
    status = 200
    if form.is_bound and form.is_valid():
        try:
            report = estimate_report(**form.cleaned_data)
        except EstimationError as exc:
            context["error"] = str(exc)
            status = 400
        else:
            context.update(report=report, plot=svg_data_uri(forest_plot(report)),
                           interval_description=INTERVAL_DESCRIPTIONS[report["interval"]])
    elif form.is_bound:
        status = 400
    return render(request, "analysis/estimate.html", context, status=status)


@staff_required
def simulate_page(request: HttpRequest) -> HttpResponse:
    """The budget simulator: error and interval width against budget, one line per method."""
    form = SimulationForm(request.GET or None)
    context: dict = {"form": form}
    status = 200
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            report = simulation_report(
                collection=data["collection"], llm=data["llm"], oracle=data["oracle"], budgets=data["budgets"],
                methods=data["select"], unit=data["unit"], repeats=data["repeats"], seed=data["seed"],
                interval=data["interval"],
            )
        except SimulationError as exc:
            context["error"] = str(exc)
            status = 400
        else:
            for row in report["results"]:
                row["cells"] = [row[c] for c in TABLE_COLUMNS]
                row["budget_count"] = str(row["budget"])
            context.update(report=report, plot=svg_data_uri(simulation_plot(report)),
                           interval_description=INTERVAL_DESCRIPTIONS[report["interval"]])
    elif form.is_bound:
        status = 400
    return render(request, "analysis/simulate_budget.html", context, status=status)

"""Pages of the hardness analyses: overview, one analysis, overlap with its picture and exports.

Each view parses its input, calls selectors and renders; the query counts are constant
(listed per view) whatever the number of analyses or labels.
"""
from __future__ import annotations

import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from analysis import hardness_selectors as sel
from analysis.hardness import overlap
from analysis.models import Collection, HardnessAnalysis
from conventions.access import staff_required


@staff_required
def hardness_list(request: HttpRequest) -> HttpResponse:
    """Every collection with its analyses (threshold, hard count and mean).

    Queries: session, user, analyses with aggregates, collections.
    """
    return render(request, "analysis/hardness_list.html", {"collections": sel.collections_with_analyses()})


@staff_required
def analysis_detail(request: HttpRequest, analysis_id: int) -> HttpResponse:
    """One analysis: parameters, threshold, per-query values sorted, hard ones highlighted.

    Queries: session, user, the analysis with its collection, the labels with their queries.
    """
    try:
        analysis = sel.analysis_get(analysis_id=analysis_id)
    except HardnessAnalysis.DoesNotExist as exc:
        raise Http404("no such analysis") from exc
    labels = sel.analysis_labels(analysis=analysis)
    params = {k: v for k, v in analysis.parameters.items() if not k.startswith("_")}
    disagreements = params.pop("compat_disagreements", None)
    notes = params.pop("notes", [])
    hard = [lab for lab in labels if lab.hard]
    hard_vals = [lab.value for lab in hard if lab.value is not None]
    return render(request, "analysis/hardness_detail.html", {
        "analysis": analysis,
        "labels": labels,
        "hard_count": len(hard),
        "hard_mean": sum(hard_vals) / len(hard_vals) if hard_vals else None,
        "parameters": sorted((k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in params.items()),
        "disagreements": disagreements,
        "notes": notes,
    })


@staff_required
def analysis_distribution_svg(request: HttpRequest, analysis_id: int) -> HttpResponse:
    """The distribution plot of one analysis (SVG drawn server-side by matplotlib)."""
    try:
        analysis = sel.analysis_get(analysis_id=analysis_id)
    except HardnessAnalysis.DoesNotExist as exc:
        raise Http404("no such analysis") from exc
    labels = sel.analysis_labels(analysis=analysis)
    values = {lab.query.qid: lab.value for lab in labels if lab.status == "ok"}
    svg = overlap.distribution_svg(values, analysis.threshold, {lab.query.qid for lab in labels if lab.hard},
                                   label=analysis.measure)
    return HttpResponse(svg, content_type="image/svg+xml")


def _collection(name: str) -> Collection:
    return get_object_or_404(Collection, name=name)


@staff_required
def overlap_page(request: HttpRequest, collection: str) -> HttpResponse:
    """Overlap of the latest hard sets: the picture, the regions, export links.

    Queries: session, user, collection, analyses, hard labels.
    """
    coll = _collection(collection)
    sets = sel.latest_hard_sets(collection=coll)
    regions = [r for r in overlap.overlap_regions(sets)] if sets else []
    return render(request, "analysis/hardness_overlap.html", {
        "collection": coll,
        "sets": [(name, sorted(qids)) for name, qids in sets.items()],
        "regions": regions,
        "too_many": len(sets) > overlap.MAX_SETS,
    })


@staff_required
def overlap_svg(request: HttpRequest, collection: str) -> HttpResponse:
    """The Venn diagram (up to three sets) or UpSet matrix (more), as SVG."""
    coll = _collection(collection)
    svg = overlap.overlap_svg(sel.latest_hard_sets(collection=coll), title=f"hard queries of {coll.name}")
    return HttpResponse(svg, content_type="image/svg+xml")


@staff_required
def overlap_csv(request: HttpRequest, collection: str) -> HttpResponse:
    """The overlap regions as CSV."""
    coll = _collection(collection)
    resp = HttpResponse(overlap.overlap_csv(sel.latest_hard_sets(collection=coll)), content_type="text/csv")
    resp["Content-Disposition"] = f'attachment; filename="{coll.name}-hard-overlap.csv"'
    return resp


@staff_required
def overlap_json(request: HttpRequest, collection: str) -> JsonResponse:
    """The hard sets and the overlap regions as JSON."""
    coll = _collection(collection)
    sets = sel.latest_hard_sets(collection=coll)
    return JsonResponse({"collection": coll.name, "sets": {k: sorted(v) for k, v in sets.items()},
                         "regions": overlap.overlap_regions(sets)})

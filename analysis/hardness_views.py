"""Pages of the hardness analyses: overview, one analysis, overlap with its picture and exports.

Each view parses its input, calls selectors and renders; the query counts are constant
(listed per view) whatever the number of analyses or labels.
"""
from __future__ import annotations

import json

from conventions.access import staff_required
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
    sort = request.GET.get("sort", "value")
    descending = request.GET.get("desc") == "1"
    if sort == "qid":
        labels = sorted(labels, key=lambda lab: lab.query.qid, reverse=descending)
    else:
        sort = "value"
        if descending:
            labels = sel.labels_reversed(labels)
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
        "sort": sort,
        "descending": descending,
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


def _selection(request: HttpRequest, coll: Collection) -> dict:
    """The chosen hard sets from ``?analyses=ID,ID`` (or repeated), the default one per
    task without it. Raises ValueError on an id that is not a number."""
    ids = sel.parse_analysis_ids(request.GET.getlist("analyses"))
    choices, chosen, unknown = sel.overlap_selection(collection=coll, ids=ids)
    sets = sel.hard_sets(analyses=chosen)
    return {"choices": choices, "chosen": chosen, "unknown": unknown, "sets": sets,
            "message": overlap.too_many_message(len(sets)),
            "query": "analyses=" + ",".join(str(a.id) for a in chosen)}


@staff_required
def overlap_page(request: HttpRequest, collection: str) -> HttpResponse:
    """Overlap of the hard sets you choose (default: one per task, as the paper's figure):
    the picture, the non-empty regions with their queries, export links.

    Too many sets answers 200 with the message and the form to choose fewer.
    Queries: session, user, collection, analyses with hard counts, hard labels.
    """
    coll = _collection(collection)
    try:
        selection = _selection(request, coll)
    except ValueError as exc:
        return render(request, "analysis/hardness_overlap.html",
                      {"collection": coll, "error": str(exc), "choices": sel.overlap_choices(collection=coll),
                       "chosen": [], "sets": {}}, status=400)
    sets = selection["sets"]
    regions = overlap.nonempty_regions(sets) if sets and not selection["message"] else []
    return render(request, "analysis/hardness_overlap.html", {
        "collection": coll, **selection,
        "chosen_ids": {a.id for a in selection["chosen"]},
        "set_rows": [(a, name, sorted(sets[name])) for a, name in zip(selection["chosen"], sets)],
        "regions": regions,
    })


def _bad_selection(exc: ValueError) -> HttpResponse:
    return HttpResponse(f"{exc}\n", status=400, content_type="text/plain; charset=utf-8")


@staff_required
def overlap_svg(request: HttpRequest, collection: str) -> HttpResponse:
    """The Venn diagram (two or three sets) or UpSet matrix, as SVG; the chosen sets as on the page."""
    coll = _collection(collection)
    try:
        selection = _selection(request, coll)
    except ValueError as exc:
        return _bad_selection(exc)
    svg = overlap.overlap_svg(selection["sets"], title=f"hard queries of {coll.name}")
    return HttpResponse(svg, content_type="image/svg+xml")


@staff_required
def overlap_csv(request: HttpRequest, collection: str) -> HttpResponse:
    """The overlap regions as CSV (a one-cell message when too many sets are chosen)."""
    coll = _collection(collection)
    try:
        selection = _selection(request, coll)
    except ValueError as exc:
        return _bad_selection(exc)
    if selection["message"]:
        body = "message\n" + selection["message"] + "\n"
    else:
        body = overlap.overlap_csv(selection["sets"])
    resp = HttpResponse(body, content_type="text/csv")
    resp["Content-Disposition"] = f'attachment; filename="{coll.name}-hard-overlap.csv"'
    return resp


@staff_required
def overlap_json(request: HttpRequest, collection: str) -> JsonResponse:
    """The chosen hard sets and their overlap regions as JSON (``message`` when too many)."""
    coll = _collection(collection)
    try:
        selection = _selection(request, coll)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    sets = selection["sets"]
    body = {"collection": coll.name, "analyses": [a.id for a in selection["chosen"]],
            "sets": {k: sorted(v) for k, v in sets.items()},
            "regions": [] if selection["message"] else overlap.overlap_regions(sets)}
    if selection["message"]:
        body["message"] = selection["message"]
    return JsonResponse(body)

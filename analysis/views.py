from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from analysis import corpus_selectors, pairwise_selectors, query_selectors
from analysis.pairwise_forms import PairwiseFilterForm
from analysis.models import Collection, Query
from conventions.access import staff_required
from conventions.csv_cells import CsvWriter

QUERIES_PER_PAGE = 50
SORTS = {"qid", "text", "hard"}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # Annotators see no corpus data (blind campaigns hide official and LLM grades):
    # their home is the list of their campaigns.
    if not request.user.is_staff:
        return redirect("annotation:home")
    return render(request, "home.html", {"collections": corpus_selectors.collection_list()})


def _table_request(request: HttpRequest, collection: Collection) -> dict:
    """The query table's options from the URL: q, hard (analysis ids), mode, sort, desc."""
    analyses = query_selectors.table_analyses(collection=collection)
    known = {a.id for a in analyses}
    hard_in = [int(v) for v in request.GET.getlist("hard") if v.isdigit() and int(v) in known]
    mode = "all" if request.GET.get("mode") == "all" else "any"
    sort = request.GET.get("sort", "qid")
    if sort not in SORTS and not (sort.startswith("a") and sort[1:].isdigit() and int(sort[1:]) in known):
        sort = "qid"
    descending = request.GET.get("desc") == "1"
    # No stored text holds a NUL (PostgreSQL refuses it), so a search for one finds what
    # the rest of the text finds, instead of a database error.
    search = request.GET.get("q", "").replace("\x00", "")
    rows = query_selectors.query_table(collection=collection, analyses=analyses, search=search, hard_in=hard_in,
                                       mode=mode, sort=sort, descending=descending)
    return {"analyses": analyses, "hard_in": hard_in, "mode": mode, "sort": sort, "descending": descending,
            "search": search, "rows": rows}


@staff_required
def collection_queries(request: HttpRequest, name: str) -> HttpResponse:
    """The queries of a collection as a research table: hard flags and values per analysis,
    filters (text, hard in any/all of chosen analyses), sorting, pages, CSV of the same table.

    Queries: session, user, collection, analyses, queries, labels of the column analyses.
    """
    collection = get_object_or_404(Collection, name=name)
    table = _table_request(request, collection)
    page = Paginator(table["rows"], QUERIES_PER_PAGE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    sort_params = request.GET.copy()
    for key in ("page", "sort", "desc"):
        sort_params.pop(key, None)

    def sort_link(key: str) -> str:
        """The URL that sorts by ``key``; a second click on the current column reverses it."""
        link = sort_params.copy()
        link["sort"] = key
        if table["sort"] == key and not table["descending"]:
            link["desc"] = "1"
        return "?" + link.urlencode()

    for a in table["analyses"]:
        a.sort_link = sort_link(f"a{a.id}")
        a.sorted_by = table["sort"] == f"a{a.id}"
    return render(request, "analysis/collection_queries.html", {
        "collection": collection, "page": page, **table,
        "query_string": params.urlencode(), "sort_qid": sort_link("qid"), "sort_text": sort_link("text"),
        "task_groups": _task_groups(table["analyses"]),
    })


def _task_groups(analyses: list) -> list[tuple[str, int]]:
    """(task label, number of columns) for the table's grouped header."""
    groups: list[tuple[str, int]] = []
    for a in analyses:
        label = a.task.upper()
        if groups and groups[-1][0] == label:
            groups[-1] = (label, groups[-1][1] + 1)
        else:
            groups.append((label, 1))
    return groups


@staff_required
def collection_queries_csv(request: HttpRequest, name: str) -> HttpResponse:
    """The query table (same filters and order as the page, every row) as CSV, full precision."""
    collection = get_object_or_404(Collection, name=name)
    table = _table_request(request, collection)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{collection.name}-queries.csv"'
    writer = CsvWriter(response, lineterminator="\r\n")
    for row in query_selectors.query_table_csv_rows(analyses=table["analyses"], rows=table["rows"]):
        writer.writerow(row)
    return response


@staff_required
def query_detail(request: HttpRequest, collection: str, qid: str) -> HttpResponse:
    """One query with every failure and its evidence (see ``query_selectors.query_evidence``).

    Queries: session, user, collection, query, then the ten reads of ``query_evidence``.
    """
    coll = get_object_or_404(Collection, name=collection)
    try:
        query = query_selectors.query_get(collection=coll, qid=qid)
    except Query.DoesNotExist as exc:
        raise Http404(f"no query {qid} in {coll.name}") from exc
    evidence = query_selectors.query_evidence(query=query)
    return render(request, "analysis/query_detail.html", {"collection": coll, "e": evidence})


@staff_required
def pairwise(request: HttpRequest, name: str) -> HttpResponse:
    """Per generator: how often its passage is preferred, the ties and the position
    consistency, overall and per query; ``?generator=`` shows one generator (an unknown
    one is refused with a 400 and its message).

    Queries: session, user, collection, the generators compared, the preferences grouped
    per generator and query.
    """
    collection = get_object_or_404(Collection, name=name)
    form = PairwiseFilterForm(request.GET or None, generators=pairwise_selectors.pairwise_generators(collection=collection))
    if form.is_bound and not form.is_valid():
        return render(request, "analysis/pairwise.html", {"collection": collection, "form": form, "summary": None},
                      status=400)
    generator = (form.cleaned_data.get("generator") or None) if form.is_bound else None
    return render(request, "analysis/pairwise.html", {
        "collection": collection, "form": form, "generator": generator,
        "summary": pairwise_selectors.pairwise_summary(collection=collection, generator=generator)})
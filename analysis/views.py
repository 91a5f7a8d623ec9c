from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from analysis import selectors
from analysis.models import Collection
from conventions.access import staff_required

QUERIES_PER_PAGE = 50


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # Annotators see no corpus data (blind campaigns hide official and LLM grades):
    # their home is the list of their campaigns.
    if not request.user.is_staff:
        return redirect("annotation:home")
    return render(request, "home.html", {"collections": selectors.collection_overview()})


@staff_required
def collection_queries(request: HttpRequest, name: str) -> HttpResponse:
    """The queries of one collection: qid and text, searchable, paginated."""
    collection = get_object_or_404(Collection, name=name)
    search = request.GET.get("q", "")
    paginator = Paginator(selectors.query_list(collection=collection, search=search), QUERIES_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "analysis/collection_queries.html",
        {"collection": collection, "page": page, "search": search},
    )

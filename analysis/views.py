from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analysis import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"collections": selectors.collection_overview()})

"""Who may open a page: one rule for every staff-only page of the site.

The API has the same two roles (``IsAdmin`` for staff, campaign membership for
annotators); a page must not show what the API refuses.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def staff_required(view: View) -> View:
    """A staff-only page: anonymous users are sent to the login page, signed-in users
    without staff status get the 403 page (not the admin's login form)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("This page is for the project's staff.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)

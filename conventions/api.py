"""Conventions every HardQ API endpoint shares: errors, pagination, roles, report caching.

This module holds no business logic: the endpoints in ``<app>/apis.py`` call the
services and selectors of their app; what lives here is how the API speaks (one error
body, one way to page, two roles) so that scripts can rely on it everywhere.

Roles:
- anonymous: only the schema (``/api/schema/``) and its docs (``/api/docs/``);
- annotator (a signed-in user who is not staff): only the campaigns they belong to:
  their next item, submit, undo, their progress. They never read the corpus tables,
  judgments or other annotators' labels, because blind campaigns must keep the official
  and LLM grades hidden from them;
- admin (``is_staff``): everything.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from rest_framework import exceptions, pagination, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

# --- Roles ------------------------------------------------------------------------


class IsAdmin(permissions.BasePermission):
    """Staff users only (the admin role); anyone else signed in gets 403."""

    message = "Only admins may use this endpoint."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


# --- Errors -----------------------------------------------------------------------


class ApiError(exceptions.APIException):
    """An error with an explicit code and structured details (e.g. a file's bad line)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = "Invalid request."

    def __init__(self, message: str, *, code: str = "invalid", details: Any = None, status_code: int = 400):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.error_details = details if details is not None else {}


def _first_code(detail: Any) -> str | None:
    """The code of the first error in a DRF detail structure (dict/list of ErrorDetail)."""
    if isinstance(detail, exceptions.ErrorDetail):
        return detail.code
    if isinstance(detail, dict):
        for value in detail.values():
            code = _first_code(value)
            if code:
                return code
    if isinstance(detail, list):
        for value in detail:
            code = _first_code(value)
            if code:
                return code
    return None


def error_handler(exc: Exception, context: dict) -> Response | None:
    """Render every API error as ``{"error": {"code", "message", "details"}}``.

    Django's own ValidationError (what services raise on bad input) becomes a 400 like
    DRF's, so a service never needs to know about HTTP.
    """
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=details)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500 handling and logging apply
    if isinstance(exc, ApiError):
        body = {"code": exc.error_code, "message": str(exc.detail), "details": exc.error_details}
    elif isinstance(exc, exceptions.ValidationError):
        body = {"code": _first_code(exc.detail) or "invalid", "message": "Invalid input.", "details": response.data}
    elif isinstance(exc, (Http404, DjangoPermissionDenied)):
        # DRF turned these into NotFound/PermissionDenied bodies already.
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        code = "not_found" if isinstance(exc, Http404) else "permission_denied"
        body = {"code": code, "message": str(detail), "details": {}}
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        if isinstance(detail, (dict, list)):
            body = {"code": _first_code(detail) or exc.default_code, "message": str(exc.default_detail), "details": detail}
        else:
            body = {"code": getattr(detail, "code", None) or exc.default_code, "message": str(detail), "details": {}}
    else:  # pragma: no cover - drf_exception_handler only handles the types above
        body = {"code": "error", "message": str(exc), "details": {}}
    response.data = {"error": body}
    return response


def document_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular hook: every operation documents the shared error body.

    Declared once here rather than on each view, so that the schema (and schemathesis,
    which validates responses against it) knows 400/401/403/404/429 bodies everywhere.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "ErrorBody",
        {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
            "required": ["code", "message", "details"],
        },
    )
    schemas.setdefault(
        "Error",
        {"type": "object", "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}}, "required": ["error"]},
    )
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    descriptions = {
        "400": "Invalid input",
        "401": "Not authenticated",
        "403": "Not allowed for this role",
        "404": "Not found (or not visible to the caller)",
        "405": "Method not allowed",
        "406": "Not acceptable",
        "415": "Unsupported media type",
        "429": "Throttled",
    }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in descriptions.items():
                if code not in responses:
                    responses[code] = {"description": description, "content": error_content}
    return result


# --- Pagination -------------------------------------------------------------------


class PagePagination(pagination.PageNumberPagination):
    """Small tables (collections, assessors, runs, analyses, campaigns): numbered pages."""

    page_size_query_param = "page_size"
    max_page_size = 1000


class CursorPagination(pagination.CursorPagination):
    """Large tables (judgments, run rows, passages, calls): a stable cursor on the primary key.

    Cursor pages cost the same at any depth (no OFFSET scan) and never skip or repeat
    rows when the table grows while a script pages through it.
    """

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = 1000
    # Every paged table's primary key is a BigAutoField: a position is a decimal id in its range.
    POSITION_RE = re.compile(r"[0-9]{1,19}")
    MAX_POSITION = 2**63 - 1

    def decode_cursor(self, request: Any) -> Any:
        """DRF's decoding, but a cursor that is not one of ours is a 400 with the error body.

        DRF answers an undecodable cursor with 404 and passes any decoded position on to
        the database (``p=abc`` or ``p=10**30`` then fail as a 500); a cursor only ever
        comes from a page's next/previous link, so anything else is the caller's error.
        """
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
            valid = False
        else:
            position = cursor.position if cursor else None
            valid = position is None or bool(self.POSITION_RE.fullmatch(position) and int(position) <= self.MAX_POSITION)
        if not valid:
            message = "Invalid cursor: use the next or previous link of a page, or leave cursor out for the first page."
            raise ApiError(message, code="invalid_cursor", details={self.cursor_query_param: [message]})
        return cursor


# --- Streaming ----------------------------------------------------------------------


def streaming_text(lines: Iterable[str], *, filename: str, content_type: str = "text/plain; charset=utf-8") -> StreamingHttpResponse:
    """Stream text lines as a download: memory stays flat whatever the number of lines."""
    response = StreamingHttpResponse((line.encode("utf-8") for line in lines), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def batched_lines(lines: Iterable[str], size: int = 2000) -> Iterable[str]:
    """Join lines in batches: one write per few thousand lines instead of one per line."""
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= size:
            yield "".join(buffer)
            buffer.clear()
    if buffer:
        yield "".join(buffer)



# --- Errors outside DRF's views (URL that matches no route) -------------------------


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 for any URL: the JSON error body under /api/, Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": "No such endpoint or object.", "details": {}}}
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: the JSON error body under /api/ (scripts parse it), Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import server_error as django_server_error

    if request.path.startswith("/api/"):
        body = {"error": {"code": "server_error", "message": "Internal server error.", "details": {}}}
        return JsonResponse(body, status=500)
    return django_server_error(request)

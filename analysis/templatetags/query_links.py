"""A qid as a link to its query page, the same on every page that lists queries.

The query page is for staff; pages that annotators also see (a campaign's labels)
show them the bare qid, so no link leads to a 403.
"""
from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def query_link(context: dict[str, Any], collection: str, qid: str) -> str:
    """``<a class="qid" href="/analysis/collections/<c>/queries/<qid>/">qid</a>`` for staff."""
    user = context.get("user")
    if user is None or not getattr(user, "is_staff", False):
        return format_html('<span class="qid">{}</span>', qid)
    href = reverse("analysis:query-detail", args=[collection, qid])
    return format_html('<a class="qid" href="{}">{}</a>', href, qid)

"""Passage text for reading.

MS MARCO's passages carry mojibake (``didnâ€™t`` for ``didn’t``): UTF-8 read as
cp1252 when the corpus was built. Pages show them repaired by ftfy; the stored text
and every export stay as imported.
"""
from __future__ import annotations

import ftfy
from django import template

register = template.Library()


@register.filter
def readable(text: str | None) -> str:
    """The text with its encoding mix-ups repaired (ftfy), for display only."""
    return ftfy.fix_text(text) if text else ""

"""Template filters of the annotation pages."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from xml.etree.ElementTree import Element

import ftfy
import markdown
from django import template
from django.utils.html import escape, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


class _SafeLinks(markdown.treeprocessors.Treeprocessor):
    """Drop link targets that are not http(s), mailto or relative (no javascript: URLs)."""

    def run(self, root: Element) -> None:
        for el in root.iter():
            for attr in ("href", "src"):
                value = el.get(attr)
                if value is not None:
                    lowered = value.strip().lower()
                    if ":" in lowered.split("/")[0] and not lowered.startswith(("http:", "https:", "mailto:")):
                        el.set(attr, "#")


class _NoRawHtml(markdown.Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Markdown's API name)
        md.treeprocessors.register(_SafeLinks(md), "hardq_safe_links", 0)


@register.filter
@lru_cache(maxsize=64)
def guidelines_html(text: str) -> SafeString:
    """Markdown to HTML with any raw HTML in the source shown as text.

    The source is escaped before Markdown sees it, so tags typed into the guidelines
    become visible text; Markdown syntax (which uses no < or &) still renders.
    """
    html = markdown.markdown(escape(text or ""), extensions=[_NoRawHtml()])
    return mark_safe(html)  # noqa: S308 - built from escaped source, links filtered


@lru_cache(maxsize=2048)
def _repaired(text: str) -> str:
    """ftfy's repair of a text, kept for the texts shown again and again (every annotator
    of a query sees the same passages and reasons)."""
    return ftfy.fix_text(text)


@register.filter
def shown_text(text: str | None) -> SafeString:
    """A stored text as the screen shows it: mojibake repaired by ftfy (``â€“`` -> ``–``),
    with the raw text beside it (hidden until the reader toggles it) when the two differ.
    The stored text is never changed; both are escaped."""
    if text is None:
        return mark_safe("")
    fixed = _repaired(text)
    if fixed == text:
        return escape(text)
    return mark_safe(
        f'<span class="text-fixed" title="repaired for reading (t shows the raw text)">{escape(fixed)}</span>'
        f'<span class="text-raw">{escape(text)}</span>'
    )


@register.filter
def share_ci(value: float | None, interval: list[float] | None) -> str:
    """A figure rounded for reading with its 95% interval: ``0.72 [0.61, 0.80]``; – when undefined."""
    if value is None:
        return "–"
    text = f"{value:.2f}"
    if interval:
        text += f" [{interval[0]:.2f}, {interval[1]:.2f}]"
    return text


@lru_cache(maxsize=8)
def _category_menu(categories: tuple[tuple[str, str], ...]) -> str:
    return format_html_join("", '<option value="{}">{}</option>', categories)


@register.simple_tag
def category_options(categories: Iterable[Mapping[str, str]], selected: str = "") -> SafeString:
    """The ``<option>``s of a failure-category menu with ``selected`` (an id as a string)
    marked. The menu is escaped once per taxonomy, not once per reason and category; an
    id is digits, so its ``value="…"`` attribute names exactly one option."""
    menu = _category_menu(tuple((c["id"], c["name"]) for c in categories))
    if selected:
        menu = menu.replace(f'<option value="{selected}">', f'<option value="{selected}" selected>', 1)
    return mark_safe(menu)  # noqa: S308 - built by format_html_join from escaped names


_VERDICT_CHOICES = (("agree", "a"), ("disagree", "d"), ("unsure", "u"))


@register.simple_tag
def verdict_choices(reason_id: int, verdict: str = "") -> SafeString:
    """The agree / disagree / unsure radio buttons of one proposed reason, ``verdict``
    (the draft's) checked: one string per reason instead of three template blocks and
    their comparisons. The name holds the reason's id (an int); the values and keys are
    constants, so nothing here needs escaping."""
    name = f"verdict_{int(reason_id)}"
    return mark_safe("".join(  # noqa: S308 - an int id and constant words only
        f'<label><input type="radio" name="{name}" value="{value}"{" checked" if value == verdict else ""}>'
        f" <kbd>{key}</kbd> {value}</label>"
        for value, key in _VERDICT_CHOICES
    ))

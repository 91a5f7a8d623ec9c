"""How measures are written for reading: counts as integers, values to four decimals.

Exports keep full precision; only pages use these filters.
"""
from __future__ import annotations

import math

from django import template

register = template.Library()


def is_count(measure_name: str) -> bool:
    """H2J's measures count pairs (beyond the margin, or binary differences)."""
    return (measure_name or "").startswith("disagreement")


@register.filter
def measure(value: float | int | None, measure_name: str = "") -> str:
    """A per-query value for reading: ``12`` for a count of 12.0, ``0.3761`` for 0.376123,
    ``–`` for a missing value or NaN. Quantile thresholds of counts (10.25) keep decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if is_count(measure_name) and float(value).is_integer():
        return str(int(value))
    if is_count(measure_name):
        return f"{value:.2f}"
    return f"{value:.4f}"


@register.filter
def grade(value: int | None) -> str:
    """A relevance grade, or ``–`` when the assessor gave none."""
    return "–" if value is None else str(value)


@register.simple_tag
def hardness_rule(analysis) -> str:
    """The rule of an analysis as a plain sentence, e.g.
    ``hard: nDCG@10 below the 0.25 quantile, 0.3761``."""
    name = {
        "ndcg_cut_10_judged": "nDCG@10 (judged only)", "ndcg_cut_10": "nDCG@10", "bertscore_f1": "BERTScore F1",
    }.get(analysis.measure, analysis.measure or "the value")
    if analysis.threshold is None:
        return f"no threshold: {name} could not be cut at the {analysis.quantile:g} quantile"
    if analysis.task == "h2j":
        margin = (analysis.parameters or {}).get("margin", 2)
        what = {
            "disagreement_count": f"pairs where judge and qrels differ by more than {margin}",
            "disagreement_sum": "pairs where the judge's label and the qrels (grade > 1) differ",
        }.get(analysis.measure, name)
        threshold = measure(analysis.threshold, analysis.measure)
        return f"hard: more {what} than the {1 - analysis.quantile:g} quantile, {threshold}"
    return f"hard: {name} below the {analysis.quantile:g} quantile, {measure(analysis.threshold, analysis.measure)}"


@register.filter
def percent(share: float | None) -> str:
    """A share for reading: ``41.7%``; ``–`` when there is nothing to divide."""
    return "–" if share is None else f"{100 * share:.1f}%"


@register.filter
def share3(share: float | None) -> str:
    """A share for reading to three decimals: ``0.417``; ``–`` when there is nothing to divide."""
    return "–" if share is None else f"{share:.3f}"

"""Rendering prompt templates, and HardQ's own default wording.

Placeholders are ``{name}``; rendering replaces only known names in a single pass, so
braces inside passages or few-shot examples (JSON, code, LaTeX) never break a prompt and
a passage that contains "{query}" is not substituted twice.
"""
from __future__ import annotations

from typing import Mapping

from judges.models import PLACEHOLDER_RE


def render(content: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders from ``values``; unknown braces are left as they are."""

    def fill(match) -> str:
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)

    return PLACEHOLDER_RE.sub(fill, content)


# HardQ's default templates (seeded by a data migration as version 1). The answer
# formats are the ones judges/parsing.py reads first, so most answers parse by rule 1.
DEFAULT_TEMPLATES: list[dict[str, str]] = [
    {
        "name": "hardq-graded",
        "kind": "graded",
        "description": "HardQ graded relevance 0-3, answer anchored on a final marker.",
        "content": (
            "You judge how well a passage answers a web search query.\n"
            "Grades: 3 = the passage is devoted to the query and holds the exact answer; "
            "2 = it holds an answer, but unclear or buried in other material; "
            "1 = it is on the topic of the query but does not answer it; "
            "0 = it has nothing to do with the query.\n"
            "Think briefly about what the searcher wants, then end with one line of the form "
            "'##final score: G' where G is 0, 1, 2 or 3.\n\n"
            "Query: {query}\n"
            "Passage: {passage}\n"
        ),
    },
    {
        "name": "hardq-binary",
        "kind": "binary",
        "description": "HardQ binary relevance: does the passage answer the query?",
        "content": (
            "Does the passage answer the web search query? A passage that is only on the same "
            "topic does not count.\n"
            "Reply with a single word, yes or no, on the last line.\n\n"
            "Query: {query}\n"
            "Passage: {passage}\n"
        ),
    },
    {
        "name": "hardq-pairwise",
        "kind": "pairwise",
        "description": "HardQ pairwise preference between two passages for a query.",
        "content": (
            "Two passages were offered for a web search query. Which one answers it better?\n"
            "End with one line '##preferred: N' where N is 1 or 2.\n\n"
            "Query: {query}\n"
            "Passage 1: {passage_a}\n"
            "Passage 2: {passage_b}\n"
        ),
    },
    {
        "name": "hardq-generation",
        "kind": "generation",
        "description": "HardQ zero-shot passage generation (document expansion by query).",
        "content": (
            "Write a passage of about 100 words that answers the following web search query "
            "as a good search result would. Give only the passage.\n\n"
            "Query: {query}\n"
        ),
    },
    {
        "name": "hardq-reasons-h2r",
        "kind": "reasons_h2r",
        "description": "HardQ failure reasons: why retrieval systems fail on this query.",
        "content": (
            "Retrieval systems rank passages poorly for the web search query below. List the "
            "failure reasons: short phrases (at most 8 words) naming what makes this query hard "
            "to retrieve for. Answer with a Python list of strings only.\n\n"
            "Query: {query}\n"
            "Context: {context}\n"
            "Previous reasons: {previous_reasons}\n"
        ),
    },
    {
        "name": "hardq-reasons-h2g",
        "kind": "reasons_h2g",
        "description": "HardQ failure reasons: why LLMs fail to generate a good passage.",
        "content": (
            "Language models write poor answers to the web search query below. List the "
            "failure reasons: short phrases (at most 8 words) naming what makes this query hard "
            "to generate an answer for. Answer with a Python list of strings only.\n\n"
            "Query: {query}\n"
            "Context: {context}\n"
            "Previous reasons: {previous_reasons}\n"
        ),
    },
    {
        "name": "hardq-reasons-h2j",
        "kind": "reasons_h2j",
        "description": "HardQ failure reasons: why LLM judges disagree with humans.",
        "content": (
            "LLM relevance judges disagree with human assessors on the web search query below. "
            "List the failure reasons: short phrases (at most 8 words) naming what makes this "
            "query hard to judge. Answer with a Python list of strings only.\n\n"
            "Query: {query}\n"
            "Context: {context}\n"
            "Previous reasons: {previous_reasons}\n"
        ),
    },
    {
        "name": "hardq-cascade",
        "kind": "cascade",
        "description": "HardQ relabeling cascade: which hard negatives actually answer the query.",
        "content": (
            "The passages below were retrieved for a web search query and labelled as NOT "
            "answering it. Some labels may be wrong. Which candidates do answer the query?\n"
            "Answer with a JSON list of candidate numbers, e.g. [2, 5], or [] if none.\n\n"
            "Query: {query}\n"
            "Candidates:\n{candidates}\n"
        ),
    },
]

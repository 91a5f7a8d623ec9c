"""Reading LLM answers: pure functions, no Django.

Every parser returns a :class:`Parsed` with ``valid=False`` and the reason when it cannot
read the answer: an unreadable answer is stored as invalid with its raw text, never
silently as grade 0.

Graded answers (0..3), in this order:
1. the LAST ``##final score: N`` (case, spaces and ``*`` emphasis tolerated);
2. a JSON object with ``score`` or ``grade`` (the last one in the text);
3. fallback: the last non-empty line is a lone digit, optionally wrapped in
   punctuation or prefixed by "score"/"category"/"answer"/"grade" (``"2"``, ``"Score: 2"``).
Anything else is invalid. A number out of 0..3 is invalid, never clipped.

UMBRELA's parser takes the first digit after "final score" anywhere in the text, so
"On a scale from 0 to 3 ... ##final score: 1" reads as 3 there; anchoring on the last
marker reads it as 1.
"""
from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
_THINK_UNCLOSED = re.compile(r"^\s*<think>.*", re.IGNORECASE | re.DOTALL)
_STRAY_CLOSE = re.compile(r"^.*?</think>", re.IGNORECASE | re.DOTALL)
_FINAL_SCORE = re.compile(r"#+\s*\**\s*final\s*score\s*\**\s*[:=]?\s*\**\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_LAST_LINE_NUMBER = re.compile(
    r"^\W*(?:(?:final\s+)?(?:score|grade|category|answer|relevance)\s*[:=-]?\s*)?\**(-?\d+(?:\.\d+)?)\**\W*$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022+]|\d+[.)]|\(\d+\))\s+(.*\S)\s*$")


@dataclass(frozen=True)
class Parsed:
    """A parsed answer: ``value`` is meaningful only when ``valid``."""

    valid: bool
    value: Any = None
    rule: str = ""
    error: str = ""
    text: str = field(default="", repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "value": self.value, "rule": self.rule, "error": self.error}


def strip_think(text: str | None) -> str:
    """Remove ``<think>...</think>`` blocks (and an unclosed ``<think>`` at the start).

    An unclosed block means the model ran out of tokens while thinking: nothing after
    it is an answer. A stray ``</think>`` without its opening tag (some servers drop the
    opening tag) cuts everything before it.
    """
    if not text:
        return ""
    out = _THINK_BLOCK.sub("", text)
    if _THINK_UNCLOSED.match(out):
        return ""
    if "</think>" in out.lower():
        out = _STRAY_CLOSE.sub("", out)
    return out.strip()


def _json_objects(text: str) -> list[dict]:
    found = []
    for match in _JSON_OBJECT.finditer(text):
        try:
            obj = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.0+)?\s*", value):
        return int(float(value))
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_graded(raw: str | None, *, low: int = 0, high: int = 3) -> Parsed:
    """Read a graded relevance answer (see the module docstring for the rules)."""
    text = strip_think(raw)
    if not text:
        return Parsed(False, error="empty answer", text=text)
    candidate: tuple[str, str] | None = None
    markers = _FINAL_SCORE.findall(text)
    if markers:
        candidate = (markers[-1], "final_score")
    else:
        for obj in reversed(_json_objects(text)):
            keys = {k.lower(): v for k, v in obj.items()}
            for key in ("score", "grade", "final_score", "relevance"):
                if key in keys:
                    candidate = (str(keys[key]), "json")
                    break
            if candidate:
                break
    if candidate is None:
        match = _LAST_LINE_NUMBER.match(_last_line(text))
        if match:
            candidate = (match.group(1), "last_line")
    if candidate is None:
        return Parsed(False, error="no score found", text=text)
    grade = _to_int(candidate[0])
    if grade is None:
        return Parsed(False, error=f"score {candidate[0]!r} is not an integer", rule=candidate[1], text=text)
    if not low <= grade <= high:
        return Parsed(False, error=f"score {grade} outside {low}..{high}", rule=candidate[1], text=text)
    return Parsed(True, grade, rule=candidate[1], text=text)


_YES = {"yes", "relevant", "true", "1"}
_NO = {"no", "not relevant", "irrelevant", "non-relevant", "false", "0"}


def parse_binary(raw: str | None) -> Parsed:
    """Read a yes/no relevance answer: 1 for relevant, 0 for not.

    Accepted: a JSON object with ``relevant``/``answer``/``score``/``grade``
    (true/false, yes/no, 0/1); a ``##final answer: yes`` or ``##final score: 1``
    marker (the last one); otherwise the last line, which must be one of yes/no,
    relevant/not relevant, true/false, 0/1 (trailing punctuation ignored).
    """
    text = strip_think(raw)
    if not text:
        return Parsed(False, error="empty answer", text=text)

    def judge(word: Any) -> int | None:
        if isinstance(word, bool):
            return int(word)
        if isinstance(word, (int, float)) and word in (0, 1):
            return int(word)
        w = re.sub(r"[^a-z0-9 -]", "", str(word).strip().lower()).strip()
        if w in _YES:
            return 1
        if w in _NO:
            return 0
        return None

    marker = re.findall(r"#+\s*final\s*(?:answer|score)\s*[:=]?\s*\**\s*([A-Za-z0-9]+)", text, re.IGNORECASE)
    if marker:
        value = judge(marker[-1])
        if value is None:
            return Parsed(False, error=f"final answer {marker[-1]!r} is not yes/no", rule="marker", text=text)
        return Parsed(True, value, rule="marker", text=text)
    for obj in reversed(_json_objects(text)):
        keys = {k.lower(): v for k, v in obj.items()}
        for key in ("relevant", "answer", "score", "grade", "label"):
            if key in keys:
                value = judge(keys[key])
                if value is None:
                    return Parsed(False, error=f"JSON {key}={keys[key]!r} is not yes/no", rule="json", text=text)
                return Parsed(True, value, rule="json", text=text)
    value = judge(_last_line(text))
    if value is None:
        return Parsed(False, error="no yes/no answer on the last line", text=text)
    return Parsed(True, value, rule="last_line", text=text)


def parse_pairwise(raw: str | None) -> Parsed:
    """Read which of two passages is preferred: 1 or 2.

    A ``##preferred: N`` / ``##final answer: N`` marker (last), a JSON ``preferred`` /
    ``answer`` / ``label``, or a last line naming one position ("1", "Passage 2").
    """
    text = strip_think(raw)
    if not text:
        return Parsed(False, error="empty answer", text=text)
    marker = re.findall(r"#+\s*(?:final\s*answer|preferred|preference)\s*[:=]?\s*(?:passage\s*)?(\d+)", text, re.IGNORECASE)
    candidate: tuple[Any, str] | None = (marker[-1], "marker") if marker else None
    if candidate is None:
        for obj in reversed(_json_objects(text)):
            keys = {k.lower(): v for k, v in obj.items()}
            for key in ("preferred", "answer", "label", "choice"):
                if key in keys:
                    candidate = (keys[key], "json")
                    break
            if candidate:
                break
    if candidate is None:
        match = re.fullmatch(r"\W*(?:passage\s*)?([0-9]+)\W*", _last_line(text), re.IGNORECASE)
        if match:
            candidate = (match.group(1), "last_line")
    if candidate is None:
        return Parsed(False, error="no preference found", text=text)
    value = _to_int(candidate[0])
    if value not in (1, 2):
        return Parsed(False, error=f"preference {candidate[0]!r} is not 1 or 2", rule=candidate[1], text=text)
    return Parsed(True, value, rule=candidate[1], text=text)


def _clean_items(items: list[Any]) -> list[str]:
    out = []
    for item in items:
        s = str(item).strip()
        if s and s not in out:
            out.append(s)
    return out


def parse_list(raw: str | None) -> Parsed:
    """Read a list of short texts (failure reasons, flagged candidates).

    Tried in order: a Python list literal (``ast.literal_eval``, as the reference
    scripts print them), a JSON list (or an object with a ``reasons`` list), bullet or
    numbered lines. Duplicates are dropped, order kept. An empty answer is invalid; an
    explicit empty list (``[]``) is a valid empty list.
    """
    text = strip_think(raw)
    if not text:
        return Parsed(False, error="empty answer", text=text)
    fenced = re.sub(r"```[a-zA-Z]*\n?|```", "", text)
    for match in reversed(list(re.finditer(r"\[[^\[\]]*\]", fenced, re.DOTALL))):
        literal = match.group(0)
        for loader, rule in ((ast.literal_eval, "python_list"), (json.loads, "json_list")):
            try:
                value = loader(literal)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
                return Parsed(True, _clean_items(value), rule=rule, text=text)
    for obj in reversed(_json_objects(fenced)):
        for key in ("reasons", "items", "answer"):
            if isinstance(obj.get(key), list):
                return Parsed(True, _clean_items(obj[key]), rule="json_object", text=text)
    bullets = [m.group(1) for m in map(_BULLET.match, fenced.splitlines()) if m]
    if bullets:
        return Parsed(True, _clean_items([b.strip("*` ") for b in bullets]), rule="bullets", text=text)
    return Parsed(False, error="no list found", text=text)


def parse_generation(raw: str | None) -> Parsed:
    """A generated passage: the answer without its think block; empty is invalid."""
    text = strip_think(raw)
    if not text:
        return Parsed(False, error="empty generation", text=text)
    return Parsed(True, text, rule="text", text=text)


def parse_indices(raw: str | None, *, count: int) -> Parsed:
    """Read which numbered candidates (1..count) an answer names, for the cascade.

    A list (Python/JSON/bullets) of numbers, or "none"/"[]" for no candidate. Numbers
    outside 1..count make the answer invalid.
    """
    text = strip_think(raw)
    if not text:
        return Parsed(False, error="empty answer", text=text)
    if re.fullmatch(r"\W*(none|no|nothing|\[\s*\])\W*", _last_line(text), re.IGNORECASE):
        return Parsed(True, [], rule="none", text=text)
    listed = parse_list(text)
    if not listed.valid:
        numbers = re.findall(r"\d+", _last_line(text))
        if not numbers:
            return Parsed(False, error="no candidate numbers found", text=text)
        values = numbers
    else:
        values = listed.value
    out: list[int] = []
    for v in values:
        n = _to_int(re.sub(r"[^\d-]", "", str(v)) or "x")
        if n is None or not 1 <= n <= count:
            return Parsed(False, error=f"candidate {v!r} is not in 1..{count}", text=text)
        if n not in out:
            out.append(n)
    return Parsed(True, sorted(out), rule="indices", text=text)


def majority_vote(values: list[int]) -> int | None:
    """Self-consistency: the most frequent value; a tie goes to the LOWEST tied value.

    The lower grade is the conservative choice: a judge that cannot make up its mind
    between 1 and 2 should not promote a passage. None when there is no value.
    """
    if not values:
        return None
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    best = max(counts.values())
    return min(v for v, c in counts.items() if c == best)


# --- grade probabilities from the endpoint's logprobs ------------------------------------
# A token, stripped of what surrounds a grade in an answer: spaces, quotes, markup.
_TOKEN_TRIM = " \t\r\n\"'*:#=`.,;()[]{}<>"


def graded_token_grade(token: str, *, low: int = 0, high: int = 3) -> int | None:
    """The grade a token of a graded answer spells ("2", " 2", '"2'), or None."""
    text = token.strip(_TOKEN_TRIM)
    if len(text) != 1 or text not in "0123456789":  # one ASCII digit ("²" is a digit to isdigit)
        return None
    return int(text) if low <= int(text) <= high else None


def binary_token_grade(token: str) -> int | None:
    """The grade a token of a yes/no answer spells (" yes" -> 1, "No" -> 0, "1"), or None."""
    text = token.strip(_TOKEN_TRIM).lower()
    if text in ("yes", "true", "relevant", "1"):
        return 1
    if text in ("no", "false", "irrelevant", "0"):
        return 0
    return None


def answer_token_alternatives(
    tokens: list[dict[str, Any]] | None, *, value: int, token_grade: Callable[[str], int | None]
) -> list[dict[str, Any]] | None:
    """The ``top_logprobs`` of the token where the answer's grade is written, or None.

    ``tokens`` is the endpoint's ``choices[0].logprobs.content``: one entry per token of
    the answer, each with its ``token`` and ``top_logprobs``. The grade token is the
    LAST token after any ``</think>`` that spells the parsed grade ``value``, as the
    parsers read the last marker, JSON object or line: "##final score: 2", a JSON
    ``{"score": 2}`` and a bare "2" all end with it.
    """
    if not tokens:
        return None
    texts = [str(t.get("token", "")) if isinstance(t, dict) else "" for t in tokens]
    start = 0  # the answer begins after the token that closes the last think block
    cut = "".join(texts).lower().rfind("</think>")
    if cut >= 0:
        end, position = cut + len("</think>"), 0
        for i, text in enumerate(texts):
            position += len(text)
            if position >= end:
                start = i + 1
                break
    for i in range(len(tokens) - 1, start - 1, -1):
        if token_grade(texts[i]) == value:
            alternatives = tokens[i].get("top_logprobs")
            if isinstance(alternatives, list) and alternatives:
                return [
                    {"token": str(a.get("token", "")), "logprob": float(a["logprob"])}
                    for a in alternatives
                    if isinstance(a, dict) and isinstance(a.get("logprob"), (int, float))
                ] or None
            return None
    return None


def grade_probabilities(
    alternatives: list[dict[str, Any]] | None, *, n_grades: int, token_grade: Callable[[str], int | None]
) -> list[float] | None:
    """Per grade 0..n_grades-1, the probability the model gave it at the grade token.

    The alternatives that spell a grade are kept (" 2" and "2" both count for 2, their
    probabilities added) and renormalised to sum to 1: a softmax of their logprobs over
    the grades present. A grade absent from the top alternatives gets 0 (its mass is
    below the last alternative's and unknown; spreading the remainder would invent
    it). None when no alternative spells a grade.
    """
    if not alternatives:
        return None
    by_grade: dict[int, list[float]] = {}
    for alternative in alternatives:
        grade = token_grade(str(alternative.get("token", "")))
        if grade is not None and 0 <= grade < n_grades:
            by_grade.setdefault(grade, []).append(float(alternative["logprob"]))
    if not by_grade:
        return None
    top = max(lp for lps in by_grade.values() for lp in lps)  # shift before exp: no underflow
    mass = {g: math.fsum(math.exp(lp - top) for lp in lps) for g, lps in by_grade.items()}
    total = math.fsum(mass.values())
    return [mass.get(g, 0.0) / total for g in range(n_grades)]


def vote_shares(values: list[int], *, n_grades: int) -> list[float] | None:
    """Self-consistency's probabilities: the share of the valid samples that gave each grade."""
    valid = [v for v in values if 0 <= v < n_grades]
    if not valid:
        return None
    return [valid.count(g) / len(valid) for g in range(n_grades)]

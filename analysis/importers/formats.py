"""One parser per pipeline file format (pure: no database).

Each parser reads a :class:`SourceFile` line by line and yields (``iter_*``: the
large files, which the importers stage in the database) or returns (``parse_*``) its
records, each with the number of the line it came from, or raises
:class:`ImportFileError` naming the first bad line. Checks that need the database (does the qid exist?) are the
importers' job (``analysis.importers.kinds``), so that both kinds of error read alike.

Ids are kept as strings exactly as written; a qid given as a JSON number becomes its
decimal string (JSON numbers cannot carry leading zeros, so none is lost).
"""
from __future__ import annotations

import ast
import csv
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from analysis.importers.errors import ImportFileError
from analysis.importers.limits import integer_range, json_loads_bounded, max_length
from analysis.importers.reading import SourceFile
from analysis.models import BertScore, HardnessAnalysis, Passage, Query, ReasonProposal, Run, RunRow

MAX_QID = max_length(Query, "qid")
MAX_DOCID = max_length(Passage, "docid")
MAX_TAG = max_length(Run, "tag")
MAX_REASONS_LABEL = max_length(ReasonProposal, "label")
MAX_BERTSCORE_MODEL = max_length(BertScore, "model_id")
MAX_MEASURE = max_length(HardnessAnalysis, "measure")
RANK_MIN, RANK_MAX = integer_range(RunRow, "rank")
GRADED_SCALE = (0, 1, 2, 3)
BINARY_SCALE = (0, 1)
SCALES = {"graded": GRADED_SCALE, "binary": BINARY_SCALE}

# qwen3 and other reasoning models open their answer with a <think> block; the
# generated passage is what follows it. An unclosed block is all thinking.
THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)


def strip_think(response: str) -> str:
    """The answer without any ``<think>…</think>`` block, trimmed."""
    return THINK_BLOCK.sub("", response).strip()


# --- records ------------------------------------------------------------------
@dataclass(slots=True)
class QrelRecord:
    line: int
    qid: str
    docid: str
    grade: int


# --- small checks shared by the parsers ----------------------------------------
def _id(src: SourceFile, line: int, value: str, what: str, limit: int) -> str:
    if not value:
        raise ImportFileError(src.name, line, f"empty {what}")
    if len(value) > limit:
        raise ImportFileError(src.name, line, f"{what} longer than {limit} characters")
    return value


def _int(src: SourceFile, line: int, value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ImportFileError(src.name, line, f"{what} {value!r} is not an integer") from None


def _float(src: SourceFile, line: int, value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ImportFileError(src.name, line, f"{what} {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ImportFileError(src.name, line, f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ImportFileError(src.name, line, f"{what} {value!r} is not a finite number")
    return number


def _columns(src: SourceFile, line: int, text: str, expected: int, layout: str) -> list[str]:
    parts = text.split()
    if len(parts) != expected:
        raise ImportFileError(
            src.name, line, f"expected {expected} columns ({layout}), found {len(parts)}"
        )
    return parts


def _json_object(src: SourceFile, line: int, text: str) -> dict[str, Any]:
    try:
        value, too_deep = json_loads_bounded(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(src.name, line, f"broken JSON: {exc.msg} at column {exc.colno}") from None
    if too_deep:
        raise ImportFileError(src.name, line, too_deep)
    if not isinstance(value, dict):
        raise ImportFileError(src.name, line, "expected a JSON object on each line")
    return value


def _json_id(src: SourceFile, line: int, obj: dict[str, Any], key: str, what: str, limit: int) -> str:
    if key not in obj:
        raise ImportFileError(src.name, line, f"missing key {key!r}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ImportFileError(src.name, line, f"{what} must be a string or an integer, not {value!r}")
    return _id(src, line, str(value).strip(), what, limit)


def _json_str(src: SourceFile, line: int, obj: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ImportFileError(src.name, line, f"{key!r} must be a string")
    return value


# --- parsers --------------------------------------------------------------------
def iter_queries(src: SourceFile, *, progress: bool = False) -> Iterator[tuple[int, str, str]]:
    """``qid<TAB>query text``: yields ``(line, qid, text)``, keeping nothing (the importer
    stages the rows and finds a qid given twice in the database)."""
    for line, text in src.lines(progress=progress):
        qid, tab, query = text.partition("\t")
        if not tab:
            raise ImportFileError(src.name, line, "expected qid<TAB>query text, found no tab")
        yield line, _id(src, line, qid.strip(), "qid", MAX_QID), query.strip()


def iter_passages(src: SourceFile, *, progress: bool = False) -> Iterator[tuple[int, str, str]]:
    """``docid<TAB>text``, split at the first tab only (the text may hold tabs): yields
    ``(line, docid, text)``.

    The qrels_text files list a passage once per judged pair: the importer skips (and
    counts) a docid repeated with the same text, and refuses one with another text.
    """
    for line, text in src.lines(progress=progress):
        docid, tab, passage = text.partition("\t")
        if not tab:
            raise ImportFileError(src.name, line, "expected docid<TAB>passage text, found no tab")
        yield line, _id(src, line, docid.strip(), "docid", MAX_DOCID), passage


def iter_qrels(src: SourceFile, *, scale: str, progress: bool = False,
               on_clamp: Callable[[int, int], None] | None = None) -> Iterator[tuple[int, str, str, str, int]]:
    """TREC qrels ``qid Q0 docid grade``: yields ``(line, qid, second column, docid, grade)``.

    Each line is checked on its own; nothing is kept here, so a qrels file of any size
    streams (the importer stages the rows and finds repeated pairs in the database).
    A grade outside the scale is refused, unless ``on_clamp`` is given: then it is moved
    to the nearest end of the scale (a 5 or a 10 becomes 3, a -1 becomes 0) and
    ``on_clamp(line, grade as written)`` is told.
    """
    allowed = SCALES[scale]
    for line, text in src.lines(progress=progress):
        qid, second, docid, grade_text = _columns(src, line, text, 4, "qid Q0 docid grade")
        qid = _id(src, line, qid, "qid", MAX_QID)
        docid = _id(src, line, docid, "docid", MAX_DOCID)
        grade = _int(src, line, grade_text, "grade")
        if grade not in allowed and on_clamp is not None:
            on_clamp(line, grade)
            grade = min(max(grade, allowed[0]), allowed[-1])
        if grade not in allowed:
            raise ImportFileError(
                src.name, line, f"grade {grade} is outside the {scale} scale {allowed[0]}..{allowed[-1]}"
            )
        yield line, qid, second, docid, grade


def parse_qrels(src: SourceFile, *, scale: str, progress: bool = False) -> tuple[list[QrelRecord], str | None]:
    """TREC qrels ``qid Q0 docid grade`` as records (for small files: the importer streams).

    The second column (``Q0`` or ``0``) carries no meaning; it is returned when every
    line has the same one, else ``None``."""
    records: list[QrelRecord] = []
    seen: dict[tuple[str, str], int] = {}
    column2: set[str] = set()
    for line, qid, second, docid, grade in iter_qrels(src, scale=scale, progress=progress):
        column2.add(second)
        first = seen.setdefault((qid, docid), line)
        if first != line:
            raise ImportFileError(src.name, line, f"duplicate judgment of ({qid}, {docid}) (first on line {first})")
        records.append(QrelRecord(line, qid, docid, grade))
    return records, (column2.pop() if len(column2) == 1 else None)


def iter_run(src: SourceFile, *, progress: bool = False) -> Iterator[tuple[int, str, str, int, float, str]]:
    """TREC run ``qid Q0 docid rank score tag``: yields ``(line, qid, docid, rank, score, tag)``.

    Runs are the big files, so nothing is kept here: the importer stages the rows in
    the database and finds repeated (qid, docid) pairs there.
    """
    for line, text in src.lines(progress=progress):
        # A fast path for good lines, the detailed checks (and their precise messages)
        # only when it fails.
        parts = text.split()
        try:
            qid, _, docid, rank_text, score_text, tag = parts
            rank = int(rank_text)
            score = float(score_text)
            good = (0 < len(qid) <= MAX_QID and 0 < len(docid) <= MAX_DOCID and RANK_MIN <= rank <= RANK_MAX
                    and math.isfinite(score) and len(tag) <= MAX_TAG)
        except ValueError:
            good = False
        if not good:
            qid, _, docid, rank_text, score_text, tag = _columns(src, line, text, 6, "qid Q0 docid rank score tag")
            qid = _id(src, line, qid, "qid", MAX_QID)
            docid = _id(src, line, docid, "docid", MAX_DOCID)
            rank = _int(src, line, rank_text, "rank")
            if not RANK_MIN <= rank <= RANK_MAX:
                raise ImportFileError(src.name, line, f"rank {rank_text[:30]} is outside {RANK_MIN}..{RANK_MAX}, "
                                                      "what the rank column holds")
            score = _float(src, line, score_text, "score")
            if len(tag) > MAX_TAG:
                raise ImportFileError(src.name, line, f"tag longer than {MAX_TAG} characters")
        yield line, qid, docid, rank, score, tag


def iter_generations(src: SourceFile, *, progress: bool = False) -> Iterator[tuple[int, str, str, str, str | None, str | None]]:
    """JSON lines ``query_id, query, response, extracted_answer`` (and ``ds`` in the
    reason-expansion files): yields ``(line, qid, response, text, extracted_answer, ds)``,
    ``text`` being the response without its ``<think>`` block. Nothing is kept here."""
    for line, text in src.lines(progress=progress):
        obj = _json_object(src, line, text)
        qid = _json_id(src, line, obj, "query_id", "query_id", MAX_QID)
        response = _json_str(src, line, obj, "response")
        assert response is not None
        _json_str(src, line, obj, "query", optional=True)
        extracted = obj.get("extracted_answer")
        if extracted is not None and not isinstance(extracted, str):
            extracted = json.dumps(extracted, ensure_ascii=False)
        ds = obj.get("ds")
        if ds is not None and not isinstance(ds, str):
            raise ImportFileError(src.name, line, "'ds' must be a string")
        yield line, qid, response, strip_think(response), extracted, ds


BertScoreRow = tuple[int, str, int | None, str | None, float | None, float | None, float | None, str]


def iter_bertscore(src: SourceFile, *, progress: bool = False) -> Iterator[BertScoreRow]:
    """JSON lines ``qid, scores{precision[], recall[], f1[], hashcode}, main_performance, dids[]``;
    the score lists are aligned by position with ``dids``. Yields one
    ``(line, qid, position, docid, precision, recall, f1, model_id)`` per docid, and a line
    without dids as one row whose position and scores are ``None`` (its qid still counts
    for repeats). Nothing is kept: the importer stages the rows and finds a qid given
    twice in the database."""
    for line, text in src.lines(progress=progress):
        obj = _json_object(src, line, text)
        qid = _json_id(src, line, obj, "qid", "qid", MAX_QID)
        scores = obj.get("scores")
        dids = obj.get("dids")
        if not isinstance(scores, dict):
            raise ImportFileError(src.name, line, "'scores' must be an object")
        if not isinstance(dids, list):
            raise ImportFileError(src.name, line, "'dids' must be a list")
        docids = []
        for did in dids:
            if isinstance(did, bool) or not isinstance(did, (str, int)):
                raise ImportFileError(src.name, line, f"docid {did!r} in 'dids' must be a string or an integer")
            docids.append(_id(src, line, str(did).strip(), "docid", MAX_DOCID))
        if len(set(docids)) != len(docids):
            raise ImportFileError(src.name, line, "a docid appears twice in 'dids'")
        lists = {}
        for key in ("precision", "recall", "f1"):
            values = scores.get(key)
            if not isinstance(values, list):
                raise ImportFileError(src.name, line, f"'scores.{key}' must be a list")
            if len(values) != len(docids):
                raise ImportFileError(
                    src.name, line, f"'scores.{key}' has {len(values)} values for {len(docids)} dids"
                )
            lists[key] = [_float(src, line, v, f"scores.{key} value") for v in values]
        hashcode = scores.get("hashcode")
        if not isinstance(hashcode, str) or not hashcode:
            raise ImportFileError(src.name, line, "'scores.hashcode' (the BERTScore model id) is missing")
        if len(hashcode) > MAX_BERTSCORE_MODEL:
            raise ImportFileError(src.name, line, f"'scores.hashcode' longer than {MAX_BERTSCORE_MODEL} characters")
        if not docids:
            yield line, qid, None, None, None, None, None, hashcode
        for position, docid in enumerate(docids):
            yield (line, qid, position, docid, lists["precision"][position], lists["recall"][position],
                   lists["f1"][position], hashcode)


def iter_pairwise(src: SourceFile, *, progress: bool = False) -> Iterator[tuple[int, str, str, int]]:
    """JSON lines ``qid, did, label`` with label 1 (the judged passage) or 2 (the generated
    one): yields ``(line, qid, docid, label)``, keeping nothing (the importer stages them)."""
    for line, text in src.lines(progress=progress):
        obj = _json_object(src, line, text)
        qid = _json_id(src, line, obj, "qid", "qid", MAX_QID)
        docid = _json_id(src, line, obj, "did", "did", MAX_DOCID)
        label = obj.get("label")
        if isinstance(label, str) and label.strip() in {"1", "2"}:
            label = int(label)
        if isinstance(label, bool) or label not in (1, 2):
            raise ImportFileError(src.name, line, f"label {obj.get('label')!r} must be 1 or 2")
        yield line, qid, docid, int(label)


LABEL_COLLECTION = re.compile(r"^([A-Za-z0-9-]+)_")


ReasonsRow = tuple[int, str, str, str, str | None, int, str | None]


def iter_reasons(src: SourceFile, *, progress: bool = False) -> Iterator[ReasonsRow]:
    """``label<TAB>qid<TAB>query<TAB>python-list-of-reasons``.

    The list is a Python literal (single quotes), read with ``ast.literal_eval`` and
    never evaluated as code. The collection is the label's prefix (``dl19_bm25_…``).
    Yields ``(line, label, collection, qid, raw, position, reason)``: for each line one
    row with position -1 holding the raw list (``reason`` None), then one row per reason
    (``raw`` None). Nothing is kept: the importer stages the rows and finds a
    ``(label, qid)`` given twice in the database.
    """
    for line, text in src.lines(progress=progress):
        parts = text.split("\t", 3)
        if len(parts) != 4:
            raise ImportFileError(
                src.name, line, f"expected 4 tab-separated columns (label, qid, query, reasons), found {len(parts)}"
            )
        label, qid, _query, raw = (p.strip() for p in parts)
        match = LABEL_COLLECTION.match(label)
        if not match:
            raise ImportFileError(src.name, line, f"label {label!r} does not start with a collection (e.g. dl19_)")
        qid = _id(src, line, qid, "qid", MAX_QID)
        if len(label) > MAX_REASONS_LABEL:
            raise ImportFileError(src.name, line, f"label longer than {MAX_REASONS_LABEL} characters")
        try:
            reasons = ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ImportFileError(src.name, line, "the reasons are not a Python list literal") from None
        if not isinstance(reasons, (list, tuple)) or not all(isinstance(r, str) for r in reasons):
            raise ImportFileError(src.name, line, "the reasons must be a list of strings")
        collection = match.group(1).lower()
        yield line, label, collection, qid, raw, -1, None
        for position, reason in enumerate(reasons):
            yield line, label, collection, qid, None, position, reason.strip()


# The hard-query CSVs name the measure in the header; map it to trec_eval's name.
MEASURE_NAMES = {"ndcg@10": "ndcg_cut_10", "ndcg_cut_10": "ndcg_cut_10", "bertscore": "bertscore_f1"}


def iter_hard_queries(src: SourceFile, *, progress: bool = False) -> tuple[str, Iterator[tuple[int, str, float | None]]]:
    """CSV ``query,<measure>`` whose first column is the qid: the measure (read from the
    header now) and an iterator of ``(line, qid, value)`` over the rows, keeping nothing."""
    rows = src.lines(progress=progress)
    header_line, header_text = next(rows)  # an empty file raises "empty" here
    header = next(csv.reader([header_text]))
    if len(header) != 2:
        raise ImportFileError(src.name, header_line, f"expected a header of 2 columns (query,<measure>), found {len(header)}")
    measure = MEASURE_NAMES.get(header[1].strip().lower(), header[1].strip())
    if len(measure) > MAX_MEASURE:
        raise ImportFileError(src.name, header_line, f"the measure's name is longer than {MAX_MEASURE} characters")

    def records() -> Iterator[tuple[int, str, float | None]]:
        for line, text in rows:
            cells = next(csv.reader([text]))
            if len(cells) != 2:
                raise ImportFileError(src.name, line, f"expected 2 columns (query,{header[1]}), found {len(cells)}")
            qid = _id(src, line, cells[0].strip(), "qid", MAX_QID)
            value = None if cells[1].strip().lower() in {"", "nan"} else _float(src, line, cells[1].strip(), header[1])
            yield line, qid, value

    return measure, records()



# --- grade probabilities (LARA's CSV) --------------------------------------------
# A row's probabilities must sum to 1 within this much (rounding in the file).
PROBABILITY_SUM_TOLERANCE = 1e-6
# Binary files may name their columns by answer instead of by grade.
BINARY_COLUMNS = {"prob_no": 0, "prob_yes": 1}
PROBABILITIES_LAYOUT = "topic_id,doc_id,annotation,prob_0,…,prob_k (binary: prob_yes,prob_no)"


def _probability_columns(src: SourceFile, line: int, header: list[str], scale: str) -> dict[int, int]:
    """Column index -> grade of every probability column of the header."""
    allowed = SCALES[scale]
    grades: dict[int, int] = {}
    for index, name in enumerate(header):
        if name in ("topic_id", "doc_id", "annotation"):
            continue
        if scale == "binary" and name in BINARY_COLUMNS:
            grade = BINARY_COLUMNS[name]
        elif re.fullmatch(r"prob_\d+", name):
            grade = int(name[5:])
            if grade not in allowed:
                raise ImportFileError(
                    src.name, line, f"column {name}: grade {grade} is outside the {scale} scale {allowed[0]}..{allowed[-1]}"
                )
        else:
            raise ImportFileError(src.name, line, f"unknown column {name!r} (expected {PROBABILITIES_LAYOUT})")
        if grade in grades.values():
            raise ImportFileError(src.name, line, f"column {name}: grade {grade} has two columns")
        grades[index] = grade
    if not grades:
        raise ImportFileError(src.name, line, f"no probability column (expected {PROBABILITIES_LAYOUT})")
    return grades


def iter_probabilities(
    src: SourceFile, *, scale: str, progress: bool = False
) -> Iterator[tuple[int, str, str, int | None, list[float]]]:
    """LARA's CSV of an assessor's grade probabilities, one pair per row: yields
    ``(line, qid, docid, annotation or None, probabilities)``, the probabilities one per
    grade of the scale (index = grade).

    A header is required: ``topic_id``, ``doc_id``, optionally ``annotation``, and one
    ``prob_<grade>`` column per grade (grades of the scale; a grade without a column
    has probability 0); a binary file may name them ``prob_yes``/``prob_no``. Each
    row's probabilities are finite, non-negative and sum to 1 within 1e-6. Each row is
    checked on its own and nothing is kept, so a file of any size streams: that a pair
    appears once, and only pairs of the qrels, the importer checks on its staged rows.
    """
    n_grades = len(SCALES[scale])
    rows = src.lines(progress=progress)
    header_line, header_text = next(rows)  # an empty file raises "empty" here
    header = [cell.strip().lower() for cell in next(csv.reader([header_text]))]
    if "topic_id" not in header or "doc_id" not in header:
        raise ImportFileError(src.name, header_line, f"missing header: expected {PROBABILITIES_LAYOUT}")
    for name in set(header):
        if header.count(name) > 1:
            raise ImportFileError(src.name, header_line, f"column {name!r} appears twice in the header")
    grades = _probability_columns(src, header_line, header, scale)
    qid_at, docid_at = header.index("topic_id"), header.index("doc_id")
    annotation_at = header.index("annotation") if "annotation" in header else None
    for line, text in rows:
        cells = [cell.strip() for cell in next(csv.reader([text]))]
        if len(cells) != len(header):
            raise ImportFileError(src.name, line, f"expected {len(header)} columns as the header, found {len(cells)}")
        qid = _id(src, line, cells[qid_at], "topic_id", MAX_QID)
        docid = _id(src, line, cells[docid_at], "doc_id", MAX_DOCID)
        annotation = None
        if annotation_at is not None and cells[annotation_at] != "":
            annotation = _int(src, line, cells[annotation_at], "annotation")
            if annotation not in SCALES[scale]:
                raise ImportFileError(src.name, line, f"annotation {annotation} is outside the {scale} scale")
        probabilities = [0.0] * n_grades
        for index, grade in grades.items():
            value = _float(src, line, cells[index], header[index])
            if value < 0:
                raise ImportFileError(src.name, line, f"{header[index]} {cells[index]} is negative")
            probabilities[grade] = value
        total = math.fsum(probabilities)
        if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
            raise ImportFileError(src.name, line, f"the probabilities sum to {total:.10g}, not 1 (± 1e-6)")
        yield line, qid, docid, annotation, probabilities

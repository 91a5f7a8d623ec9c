"""Every stored output written back in its pipeline's format (reads only).

One function per kind turns the rows into the lines the pipeline's own file would have,
so that importing an exported file reproduces the same rows:

- ``qrels``: TREC qrels ``qid Q0 docid grade`` (the column the import saw, else ``0``);
- ``run``: TREC run ``qid Q0 docid rank score tag``;
- ``generations``: JSON lines ``query_id, query, response, extracted_answer`` (``ds`` too
  for the reason-expansion setting, as the pipeline writes it);
- ``bertscore``: JSON lines ``qid, scores{precision, recall, f1, hashcode},
  main_performance, dids`` with the lists in the order of ``dids``;
- ``pairwise``: JSON lines ``qid, did, label``;
- ``reasons``: ``label<TAB>qid<TAB>query<TAB>python-list``, the list as it was imported;
- ``hard_queries``: CSV ``query,<measure>`` of an analysis's hard queries.

The command (``manage.py export``) and the API (``/api/collections/{name}/export/``)
both write :func:`export_chunks`, so they give the same bytes. Scores are written with
``repr`` (the shortest text that reads back as the same float).
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Count

from analysis import corpus_selectors
from analysis.models import (
    Assessor,
    BertScore,
    Collection,
    Generation,
    HardnessAnalysis,
    HardnessLabel,
    Judgment,
    PairwisePreference,
    ReasonProposal,
    Run,
    RunRow,
    Task,
)

KINDS = ("generations", "bertscore", "pairwise", "reasons", "hard_queries", "qrels", "run")
# The hard-query CSVs of the pipeline name the measure so; other measures keep their name.
MEASURE_HEADERS = {"ndcg_cut_10": "NDCG@10", "bertscore_f1": "bertscore"}
BATCH = 2000


class ExportError(ValueError):
    """What was asked cannot be exported (unknown collection, subject or option)."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    collection: str
    generator: str | None = None
    setting: str | None = None
    assessor: str | None = None
    task: str | None = None
    analysis: int | None = None
    system: str | None = None


@dataclass(frozen=True)
class Export:
    """A checked request: the file name to offer and the text chunks to write."""

    filename: str
    content_type: str
    chunks: Iterator[str]


def export_prepare(request: ExportRequest) -> Export:
    """Check the request against the database and return the export, ready to stream.

    Raises :class:`ExportError` with a message naming the bad option; nothing is read
    beyond what the check needs until the chunks are consumed.
    """
    if request.kind not in KINDS:
        raise ExportError(f"unknown kind {request.kind!r}: one of {', '.join(KINDS)}")
    collection = corpus_selectors.collection_get(name=request.collection)
    if collection is None:
        raise ExportError(f"no collection {request.collection!r}", not_found=True)
    return _PREPARERS[request.kind](collection, request)


def export_chunks(request: ExportRequest) -> Iterator[str]:
    """The export's text in chunks of a few thousand lines."""
    return export_prepare(request).chunks


def _batched(lines: Iterable[str]) -> Iterator[str]:
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= BATCH:
            yield "".join(buffer)
            buffer.clear()
    if buffer:
        yield "".join(buffer)


def _json_id(value: str) -> int | str:
    """An id as the pipelines write it in JSON: a number when it reads back the same."""
    return int(value) if value.isdigit() and str(int(value)) == value else value


def _json_line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _assessor(name: str | None, what: str) -> Assessor:
    if not name:
        raise ExportError(f"--assessor is required for {what}")
    assessor = corpus_selectors.assessor_get(name=name)
    if assessor is None:
        raise ExportError(f"no assessor {name!r}", not_found=True)
    return assessor


def _setting(request: ExportRequest) -> str:
    setting = request.setting or Generation.ZERO_SHOT
    if setting not in dict(Generation.SETTING_CHOICES):
        raise ExportError(f"unknown setting {setting!r}: one of {', '.join(dict(Generation.SETTING_CHOICES))}")
    return setting


# --- qrels and runs ---------------------------------------------------------------
def _qrels(collection: Collection, request: ExportRequest) -> Export:
    assessor = _assessor(request.assessor or "official", "qrels")
    if not Judgment.objects.filter(query__collection=collection, assessor=assessor).exists():
        raise ExportError(f"{assessor.name} has no judgment in {collection.name}", not_found=True)
    lines = corpus_selectors.qrels_lines(collection=collection, assessor=assessor)
    return Export(f"qrels.{collection.name}.{assessor.name}.txt", "text/plain; charset=utf-8", _batched(lines))


def _run(collection: Collection, request: ExportRequest) -> Export:
    if not request.system:
        raise ExportError("--system is required for a run")
    run = Run.objects.filter(collection=collection, system__name=request.system).select_related("system").first()
    if run is None:
        raise ExportError(f"no run of system {request.system!r} in {collection.name}", not_found=True)
    tag = run.tag or run.system.name

    def lines() -> Iterator[str]:
        rows = (RunRow.objects.filter(run=run).order_by("query__qid", "rank", "-score", "passage__docid")
                .values_list("query__qid", "passage__docid", "rank", "score").iterator(chunk_size=BATCH))
        for qid, docid, rank, score in rows:
            yield f"{qid} Q0 {docid} {rank} {score!r} {tag}\n"

    return Export(f"run.{collection.name}.{run.system.name}.txt", "text/plain; charset=utf-8", _batched(lines()))


# --- generations, BERTScore, pairwise ------------------------------------------------
def _generator(request: ExportRequest, what: str) -> Assessor:
    if not request.generator:
        raise ExportError(f"--generator is required for {what}")
    generator = corpus_selectors.assessor_get(name=request.generator)
    if generator is None:
        raise ExportError(f"no generator {request.generator!r}", not_found=True)
    return generator


def _generations(collection: Collection, request: ExportRequest) -> Export:
    generator = _generator(request, "generations")
    setting = _setting(request)
    rows = Generation.objects.filter(query__collection=collection, generator=generator, setting=setting)
    if not rows.exists():
        raise ExportError(f"no generation of {generator.name} ({setting}) in {collection.name}", not_found=True)

    def lines() -> Iterator[str]:
        for qid, text, response, extracted in rows.order_by("query__qid").values_list(
                "query__qid", "query__text", "response", "extracted_answer").iterator(chunk_size=500):
            obj: dict = {"query_id": _json_id(qid), "query": text, "response": response,
                         "extracted_answer": extracted}
            if setting == Generation.REASON_EXPANSION:
                obj = {"ds": collection.name, **obj}
            yield _json_line(obj)

    return Export(f"{collection.name}.generations.{generator.name}.{setting}.jsonl", "application/x-ndjson",
                  _batched(lines()))


def _bertscore(collection: Collection, request: ExportRequest) -> Export:
    generator = _generator(request, "BERTScore rows")
    setting = _setting(request)
    rows = BertScore.objects.filter(query__collection=collection, generator=generator, setting=setting)
    origins = set(rows.values_list("origin", flat=True).distinct())
    if not origins:
        raise ExportError(f"no BERTScore row of {generator.name} ({setting}) in {collection.name}", not_found=True)
    # imported rows are the pipeline's file; computed ones are exported when there are no others
    origin = BertScore.IMPORTED if BertScore.IMPORTED in origins else BertScore.COMPUTED
    rows = rows.filter(origin=origin)
    # each line names its model (the pipeline's files mix bert-score versions), but a
    # line holds one model: a query scored by two cannot be one line
    mixed = (rows.values("query__qid").annotate(models=Count("model_id", distinct=True))
             .filter(models__gt=1).values_list("query__qid", flat=True)[:5])
    if mixed:
        raise ExportError(f"{generator.name} ({setting}) has BERTScore rows of several models for query "
                          f"{', '.join(mixed)}: one line holds one model")

    def lines() -> Iterator[str]:
        per_query: dict[str, list[tuple]] = defaultdict(list)
        texts: dict[str, str] = {}
        models: dict[str, str] = {}
        for qid, docid, p, r, f1, model_id, text in rows.order_by("query__qid", "position").values_list(
                "query__qid", "passage__docid", "precision", "recall", "f1", "model_id", "generation__text"):
            per_query[qid].append((docid, p, r, f1))
            texts[qid] = text or ""
            models[qid] = model_id
        for qid in sorted(per_query):
            scored = per_query[qid]
            yield _json_line({
                "qid": _json_id(qid),
                "scores": {"precision": [s[1] for s in scored], "recall": [s[2] for s in scored],
                           "f1": [s[3] for s in scored], "hashcode": models[qid]},
                "main_performance": texts[qid],
                "dids": [_json_id(s[0]) for s in scored],
            })

    return Export(f"{collection.name}.bertscore.{generator.name}.{setting}.jsonl", "application/x-ndjson",
                  _batched(lines()))


def _pairwise(collection: Collection, request: ExportRequest) -> Export:
    # The pipeline's format names a winner (label 1 or 2); a tie of a both-order job has
    # none, so it is left out of this file (the pairwise page and API count the ties).
    rows = PairwisePreference.objects.filter(query__collection=collection).exclude(label=PairwisePreference.TIE)
    if request.assessor:
        rows = rows.filter(assessor=_assessor(request.assessor, "pairwise preferences"))
    else:
        names = sorted(set(rows.values_list("assessor__name", flat=True).distinct()))
        if len(names) > 1:
            raise ExportError(f"--assessor is required: {collection.name} has pairwise preferences of "
                              + ", ".join(names))
    if not rows.exists():
        raise ExportError(f"no pairwise preference in {collection.name}"
                          + (f" by {request.assessor}" if request.assessor else ""), not_found=True)

    def lines() -> Iterator[str]:
        for qid, docid, label in rows.order_by("query__qid", "passage__docid").values_list(
                "query__qid", "passage__docid", "label").iterator(chunk_size=BATCH):
            yield _json_line({"qid": _json_id(qid), "did": _json_id(docid), "label": label})

    return Export(f"{collection.name}.pairwise.jsonl", "application/x-ndjson", _batched(lines()))


# --- reasons and hard-query lists ----------------------------------------------------
def _reasons(collection: Collection, request: ExportRequest) -> Export:
    assessor = _assessor(request.assessor, "reasons")
    if request.task not in Task.values:
        raise ExportError(f"--task is required for reasons: one of {', '.join(Task.values)}")
    proposals = ReasonProposal.objects.filter(query__collection=collection, assessor=assessor, task=request.task)
    if not proposals.exists():
        raise ExportError(f"no {request.task} reasons of {assessor.name} in {collection.name}", not_found=True)

    def lines() -> Iterator[str]:
        for p in proposals.select_related("query").prefetch_related("reasons").order_by("label", "query__qid"):
            raw = p.raw_response or repr([r.text for r in p.reasons.all()])
            yield f"{p.label}\t{p.query.qid}\t{p.query.text}\t{raw}\n"

    return Export(f"original.reasons.{assessor.name}.{request.task}.{collection.name}.txt",
                  "text/tab-separated-values; charset=utf-8", _batched(lines()))


def _hard_queries(collection: Collection, request: ExportRequest) -> Export:
    if request.analysis is None:
        raise ExportError("--analysis is required for hard queries (the analysis id)")
    analysis = HardnessAnalysis.objects.filter(pk=request.analysis, collection=collection).first()
    if analysis is None:
        raise ExportError(f"no analysis {request.analysis} in {collection.name}", not_found=True)
    header = MEASURE_HEADERS.get(analysis.measure, analysis.measure or "value")

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["query", header])
        labels = HardnessLabel.objects.filter(analysis=analysis, hard=True).values_list("query__qid", "value")
        for qid, value in sorted(labels, key=lambda t: (t[1] is None, t[1] or 0.0, t[0])):
            writer.writerow([qid, "" if value is None else repr(value)])
        yield buf.getvalue()

    return Export(f"{collection.name}.hard_queries.{analysis.task}.{analysis.subject}.{analysis.id}.csv",
                  "text/csv; charset=utf-8", lines())


def probabilities_export_prepare(request: ExportRequest) -> Export:
    """The grade probabilities of the qrels ``request`` exports, as LARA's CSV.

    ``topic_id,doc_id,annotation,prob_0,...,prob_3`` (binary assessors:
    ``prob_yes,prob_no``), one row per valid judgment that has probabilities, in the
    qrels' order; what ``import_qrels --probabilities`` reads back to the same floats
    (written with ``repr``). The qrels file itself stays TREC's four columns.
    """
    if request.kind != "qrels":
        raise ExportError("--probabilities goes with --kind qrels")
    collection = Collection.objects.filter(name=request.collection).first()
    if collection is None:
        raise ExportError(f"no collection {request.collection!r}", not_found=True)
    assessor = _assessor(request.assessor or "official", "qrels")
    binary = assessor.scale == Assessor.BINARY
    header = ["topic_id", "doc_id", "annotation"] + (["prob_yes", "prob_no"] if binary else [f"prob_{g}" for g in range(4)])

    def lines() -> Iterator[str]:
        rows = (
            Judgment.objects.filter(query__collection=collection, assessor=assessor, valid=True, grade__isnull=False,
                                    probabilities__isnull=False)
            .order_by("query__qid", "passage__docid")
            .values_list("query__qid", "passage__docid", "grade", "probabilities")
            .iterator(chunk_size=5000)
        )
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for n, (qid, docid, grade, probabilities) in enumerate(rows, start=1):
            values = [float(p) for p in probabilities] + [0.0] * (len(header) - 3 - len(probabilities))
            if binary:
                values = [values[1], values[0]]
            writer.writerow([qid, docid, grade, *map(repr, values)])
            if n % BATCH == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return Export(f"probabilities.{collection.name}.{assessor.name}.csv", "text/csv; charset=utf-8", lines())


_PREPARERS = {
    "qrels": _qrels, "run": _run, "generations": _generations, "bertscore": _bertscore,
    "pairwise": _pairwise, "reasons": _reasons, "hard_queries": _hard_queries,
}

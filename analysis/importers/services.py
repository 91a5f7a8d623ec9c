"""The write services behind every import command (and any upload endpoint).

Each takes the file as ``path`` (on disk), as ``file`` + ``filename`` (a seekable binary
stream: an upload, which Django keeps on disk when it is large) or as ``data`` +
``filename`` (bytes), keyword-only options, and returns an :class:`ImportReport`; a bad
file or option raises :class:`ImportFileError` (``str()`` is ``FILE:LINE: what is
wrong``; ``field`` names the option at fault) with nothing written. ``dry_run`` does the
whole import and rolls it back, so its counts are exact.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from django.db import transaction

from analysis.importers import kinds
from analysis.importers.errors import ImportFileError
from analysis.importers.kinds import ImportReport
from analysis.importers.reading import SourceFile


def source_file(*, path: str | Path | None = None, file: BinaryIO | None = None, data: bytes | None = None,
                filename: str | None = None) -> SourceFile:
    """The file to import: on disk, a seekable binary stream (an upload) or bytes."""
    if file is not None:
        return SourceFile.from_stream(file, filename or "upload")
    if data is not None:
        return SourceFile.from_bytes(data, filename or "upload")
    if path is None:
        raise ValueError("give a path, a file or data")
    return SourceFile.from_path(path)


def _common(kwargs: dict[str, Any]) -> dict[str, Any]:
    src = source_file(path=kwargs.pop("path", None), file=kwargs.pop("file", None), data=kwargs.pop("data", None),
                      filename=kwargs.pop("filename", None))
    return {"src": src, **kwargs}


def queries_import(*, collection: str, path: str | Path | None = None, file: BinaryIO | None = None,
                   data: bytes | None = None, filename: str | None = None, replace: bool = False,
                   dry_run: bool = False, progress: bool = False) -> ImportReport:
    """``qid<TAB>query text`` into ``collection`` (created if new)."""
    return kinds.QueriesImporter(**_common(locals())).run()


def passages_import(*, collection: str, path: str | Path | None = None, file: BinaryIO | None = None,
                    data: bytes | None = None, filename: str | None = None, replace: bool = False,
                    dry_run: bool = False, progress: bool = False) -> ImportReport:
    """``docid<TAB>text`` (split at the first tab); fills in text of text-less passages."""
    return kinds.PassagesImporter(**_common(locals())).run()


def qrels_import(*, collection: str, assessor: str = "official", scale: str = "graded",
                 assessor_kind: str | None = None, model: str = "", path: str | Path | None = None,
                 file: BinaryIO | None = None, data: bytes | None = None, filename: str | None = None,
                 probabilities_path: str | Path | None = None, probabilities_file: BinaryIO | None = None,
                 probabilities_data: bytes | None = None, probabilities_filename: str | None = None,
                 clamp: bool = False, replace: bool = False, dry_run: bool = False,
                 progress: bool = False) -> ImportReport:
    """TREC qrels as the judgments of ``assessor`` (``official`` = NIST, kind official;
    any other name is an LLM unless ``assessor_kind`` says otherwise).

    ``probabilities_*`` (a path, a stream or bytes, as the qrels) is LARA's CSV of the
    assessor's grade probabilities of pairs of these qrels, stored with their judgments
    (``formats.iter_probabilities``, ``kinds.QrelsImporter``). ``clamp`` moves a grade
    outside the scale to its nearest end (counted in the report) instead of refusing it."""
    options = locals()
    given = [options.pop(k) for k in ("probabilities_path", "probabilities_file", "probabilities_data")]
    probabilities_filename = options.pop("probabilities_filename")
    probabilities = None
    if any(v is not None for v in given):
        probabilities = source_file(path=given[0], file=given[1], data=given[2],
                                    filename=probabilities_filename or "probabilities.csv")
    return kinds.QrelsImporter(probabilities=probabilities, **_common(options)).run()


def assessor_from_filename(path: str | Path) -> str:
    """The assessor a label-set file is named after: its name without the extension
    (``willia-umbrela1.txt`` is ``willia-umbrela1``)."""
    name = Path(path).name
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


def qrels_import_many(*, collection: str, paths: list[str | Path], scale: str = "graded",
                      assessor_kind: str | None = None, model: str = "", clamp: bool = False,
                      replace: bool = False, dry_run: bool = False, progress: bool = False) -> list[ImportReport]:
    """Several qrels files, each the judgments of the assessor named after its file
    (``assessor_from_filename``), in ONE transaction: a bad line in any file raises its
    ``FILE:LINE`` error and nothing of any file is written."""
    names: dict[str, str] = {}
    for path in paths:
        name = assessor_from_filename(path)
        if name in names:
            raise ImportFileError(str(path), None, f"assessor {name!r} again: {names[name]} has the same name")
        names[name] = str(path)
    reports = []
    with transaction.atomic():
        for path in paths:
            # Each file runs in its own savepoint (Importer.run), inside this transaction.
            reports.append(qrels_import(
                collection=collection, assessor=assessor_from_filename(path), scale=scale,
                assessor_kind=assessor_kind, model=model, path=path, clamp=clamp, replace=replace,
                dry_run=dry_run, progress=progress,
            ))
    return reports


def run_import(*, collection: str, system: str, path: str | Path | None = None, file: BinaryIO | None = None,
               data: bytes | None = None, filename: str | None = None, replace: bool = False,
               dry_run: bool = False, progress: bool = False) -> ImportReport:
    """A TREC run of ``system`` on ``collection``; every qid must be a query of it."""
    return kinds.RunImporter(**_common(locals())).run()


def generations_import(*, collection: str, generator: str, setting: str | None = None,
                       path: str | Path | None = None, file: BinaryIO | None = None, data: bytes | None = None,
                       filename: str | None = None, replace: bool = False, dry_run: bool = False,
                       progress: bool = False) -> ImportReport:
    """Generated passages (JSON lines); ``setting`` defaults from the file name."""
    return kinds.GenerationsImporter(**_common(locals())).run()


def bertscore_import(*, collection: str, generator: str, setting: str | None = None,
                     path: str | Path | None = None, file: BinaryIO | None = None, data: bytes | None = None,
                     filename: str | None = None, replace: bool = False, dry_run: bool = False,
                     progress: bool = False) -> ImportReport:
    """BERTScore rows (JSON lines, aligned with ``dids``); ``setting`` defaults from the file name."""
    return kinds.BertScoreImporter(**_common(locals())).run()


def pairwise_import(*, collection: str, assessor: str, path: str | Path | None = None, file: BinaryIO | None = None,
                    data: bytes | None = None, filename: str | None = None, replace: bool = False,
                    dry_run: bool = False, progress: bool = False) -> ImportReport:
    """Pairwise preferences (JSON lines ``qid, did, label``) of ``assessor``."""
    return kinds.PairwiseImporter(**_common(locals())).run()


def reasons_import(*, task: str, assessor: str, path: str | Path | None = None, file: BinaryIO | None = None,
                   data: bytes | None = None, filename: str | None = None, replace: bool = False,
                   dry_run: bool = False, progress: bool = False) -> ImportReport:
    """Failure reasons; each row's collection comes from its label, unknown collections are skipped."""
    return kinds.ReasonsImporter(collection=None, **_common(locals())).run()


def hard_queries_import(*, collection: str, task: str, subject: str, quantile: float | None = None,
                        path: str | Path | None = None, file: BinaryIO | None = None, data: bytes | None = None,
                        filename: str | None = None, replace: bool = False, dry_run: bool = False,
                        progress: bool = False) -> ImportReport:
    """A hard-query CSV (``query,<measure>``) as an imported HardnessAnalysis."""
    return kinds.HardQueriesImporter(**_common(locals())).run()


__all__ = [
    "ImportFileError",
    "ImportReport",
    "bertscore_import",
    "generations_import",
    "hard_queries_import",
    "pairwise_import",
    "passages_import",
    "qrels_import",
    "queries_import",
    "reasons_import",
    "run_import",
    "source_file",
]

"""The importers: one per kind of pipeline file, all run through :meth:`Importer.run`.

``run`` is the one validation and reporting path: it fingerprints the file, returns
"unchanged" when the same content of the same source was imported before, parses the
whole file (``formats``), checks it against the database, and only then writes, in
one transaction (a savepoint when called inside a bundle). Any error raises
:class:`ImportFileError` naming ``FILE:LINE`` and leaves the database as it was.

Identity of a source: ``(kind, collection, label)`` of :class:`ImportSource`; the label
is the assessor, system, or ``generator/setting`` the file belongs to. Importing a new
version of a source merges: new rows are created, changed rows updated, the rest
left alone; ``replace=True`` first deletes the rows of the earlier import. Queries and
passages are never deleted (everything else hangs on them): for them ``replace``
re-imports and overwrites texts.

Qrels, runs, judgments, generations, BERTScores, preferences and hard-query lists
require their queries to exist (import the queries first): an unknown qid is an error
naming its line, because a qid typo would otherwise create labels for no query. Their
docids need not exist: an unknown docid becomes ``Passage(text=None)``.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from analysis.importers import formats
from analysis.bulk_writes import insert_rows
from analysis.importers.errors import ImportFileError
from analysis.importers.limits import collection_name_problem, name_problem
from analysis.importers.naming import model_from_name, reasons_label_parts
from analysis.importers.staging import Staging, table
from analysis.importers.reading import SourceFile
from analysis.judgments import AssessorConflict, assessor_get_or_create, judgments_write_staged
from analysis.models import (
    Assessor,
    BertScore,
    Collection,
    Generation,
    HardnessAnalysis,
    HardnessLabel,
    ImportSource,
    PairwisePreference,
    Passage,
    Query,
    Reason,
    ReasonProposal,
    Run,
    RunRow,
    System,
    Task,
)


@dataclass
class ImportReport:
    """What one import did (or, in a dry run, would do)."""

    kind: str
    label: str
    filename: str
    collection: str | None
    status: str = "imported"  # imported | unchanged | dry-run
    rows: int = 0  # records read from the file
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # rows already stored exactly so
    skipped: int = 0  # lines not imported (repeats, collections not in the database)
    deleted: int = 0  # rows of the earlier import removed by replace
    clamped: int = 0  # qrels: out-of-scale grades moved to the nearest end of the scale (--clamp)
    new_passages: int = 0  # docids without text, kept as Passage(text=None)
    notes: list[str] = field(default_factory=list)
    # reasons: the lists that appear for several queries under one label ({label, qids})
    repeated_reason_lists: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (for an API response or JSON output)."""
        return asdict(self)

    def summary(self) -> str:
        where = f" into {self.collection}" if self.collection else ""
        head = f"{self.filename}: {self.kind} '{self.label}'{where}"
        if self.status == "unchanged":
            return f"{head}: unchanged (same file imported before, {self.rows} rows; --replace imports it again)"
        parts = [
            f"{self.rows} rows read",
            f"{self.created} created",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
            f"{self.skipped} skipped",
        ]
        if self.deleted:
            parts.append(f"{self.deleted} deleted by --replace")
        if self.new_passages:
            parts.append(f"{self.new_passages} passages without text added")
        if self.clamped:
            parts.append(f"{self.clamped} grades clamped to the scale")
        prefix = "DRY RUN, nothing written: " if self.status == "dry-run" else ""
        text = f"{head}: {prefix}" + ", ".join(parts)
        for note in self.notes:
            text += f"\n  {note}"
        return text


class Importer:
    """Base of every importer; subclasses provide ``parse``, ``check``, ``write``."""

    kind: ClassVar[str]
    needs_collection: ClassVar[bool] = True
    # The option the source's label is made of (for its error when too long).
    label_option: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        src: SourceFile,
        collection: str | None,
        replace: bool = False,
        dry_run: bool = False,
        progress: bool = False,
    ) -> None:
        self.src = src
        self.collection_name = collection
        self.replace = replace
        self.dry_run = dry_run
        self.progress = progress
        self.collection: Collection | None = None
        self.report = ImportReport(kind=self.kind, label=self.label(), filename=src.basename, collection=collection)

    # --- what subclasses define ---
    def label(self) -> str:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        return {}

    def names(self) -> list[tuple[str, str, type, str]]:
        """The names the import will store, as ``(option, value, model, field)``: each
        must fit its column (checked before anything is read or written)."""
        return []

    def parse(self) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Database checks that may reject the file; no writes."""

    def recorded_options(self) -> dict[str, Any]:
        """Facts about the file worth keeping with its source (after parsing)."""
        return {}

    def delete_previous(self, source: ImportSource) -> int:
        return 0

    def write(self, source: ImportSource) -> None:
        raise NotImplementedError

    # --- the shared path ---
    def error(self, line: int | None, message: str, *, field: str | None = None) -> ImportFileError:
        return ImportFileError(self.src.name, line, message, field=field)

    def check_options(self) -> None:
        """Refuse options that cannot be stored (a collection name that is no name, a name
        longer than its column) and a file with nothing in it, before any write."""
        if self.needs_collection:
            if not self.collection_name:
                raise self.error(None, "a collection is required", field="collection")
            problem = collection_name_problem(self.collection_name)
            if problem:
                raise self.error(None, problem, field="collection")
        for option, value, model, field_name in self.names():
            problem = name_problem(value, what=option, model=model, field=field_name)
            if problem:
                raise self.error(None, problem, field=option)
        what = f"the import's label (made of the {self.label_option})" if self.label_option else "the import's label"
        problem = name_problem(self.label(), what=what, model=ImportSource, field="label")
        if problem:
            raise self.error(None, problem, field=self.label_option)
        if self.src.is_blank():
            raise self.error(None, "empty")

    def run(self) -> ImportReport:
        """Validate the whole file, then write it in one transaction; see the module doc."""
        self.check_options()
        report = self.report
        sha = self.src.sha256
        with transaction.atomic():
            if self.needs_collection:
                self.collection, _ = Collection.objects.get_or_create(name=self.collection_name)
            source = (
                ImportSource.objects.select_for_update()
                .filter(kind=self.kind, collection=self.collection, label=self.label())
                .first()
            )
            # Options a parser records (e.g. the qrels' second column) are not part of the identity.
            same_options = source is not None and all(source.options.get(k) == v for k, v in self.options().items())
            if source and not self.replace and source.sha256 == sha and same_options:
                report.status = "unchanged"
                report.rows = source.rows
                return report
            self.parse()
            self.check()
            if source is not None and self.replace:
                report.deleted = self.delete_previous(source)
            if source is None:
                source = ImportSource(kind=self.kind, collection=self.collection, label=self.label())
            source.filename = self.src.basename[:500]
            source.sha256 = sha
            source.options = {**self.options(), **self.recorded_options()}
            source.save()
            self.write(source)
            source.rows = report.rows
            source.created = report.created
            source.updated = report.updated
            source.skipped = report.skipped
            source.save(update_fields=["rows", "created", "updated", "skipped"])
            if self.dry_run:
                report.status = "dry-run"
                transaction.set_rollback(True)
        return report

    # --- helpers shared by the kinds ---
    def query_ids(self) -> dict[str, int]:
        return dict(Query.objects.filter(collection=self.collection).values_list("qid", "id"))

    def require_queries(self, records: list[Any], qids: dict[str, int]) -> None:
        for record in records:
            if record.qid not in qids:
                raise self.error(
                    record.line,
                    f"unknown qid {record.qid}: not a query of collection {self.collection_name} "
                    "(import the queries first)",
                )

    def passage_ids(self, docids: set[str]) -> dict[str, int]:
        """Ids of the collection's passages, creating text-less ones for unknown ``docids``."""
        known = dict(Passage.objects.filter(collection=self.collection).values_list("docid", "id"))
        missing = sorted(docids - known.keys())
        if missing:
            assert self.collection is not None
            cid = self.collection.id
            insert_rows(Passage, ["collection", "docid", "text"], ((cid, d, None) for d in missing))
            # Reading the collection's ids again is cheaper than an IN list of thousands of docids.
            known = dict(Passage.objects.filter(collection=self.collection).values_list("docid", "id"))
            self.report.new_passages += len(missing)
        return known

    def llm_assessor(self, name: str, *, kind: str = Assessor.LLM, scale: str | None = None,
                     model: str = "") -> Assessor:
        """The named assessor, created if new; an existing one must have the same scale."""
        try:
            return assessor_get_or_create(
                name=name, kind=kind, scale=scale or Assessor.GRADED, fields={"model": model}, same_scale=bool(scale)
            )
        except AssessorConflict as exc:
            raise self.error(None, str(exc)) from exc


# --- corpus ----------------------------------------------------------------------
class QueriesImporter(Importer):
    kind = "queries"

    def label(self) -> str:
        return "queries"

    def parse(self) -> None:
        # Staged, as every large file is (see ``staging``): memory stays flat.
        self.stage = Staging("hardq_stage_queries", [
            ("line", "integer"), ("qid", "varchar(%d)" % formats.MAX_QID), ("text", "text"),
        ])
        self.report.rows = self.stage.load(formats.iter_queries(self.src, progress=self.progress))

    def check(self) -> None:
        clash = self.stage.first_other("qid", "text")
        if clash:
            line, qid, first = clash
            raise self.error(line, f"qid {qid} again with another text (first on line {first})")
        repeated = self.report.rows - self.stage.count_distinct("qid")
        self.report.skipped = repeated
        if repeated:
            self.report.notes.append(f"{repeated} repeated lines skipped")

    def write(self, source: ImportSource) -> None:
        assert self.collection is not None
        cid, queries = self.collection.id, table(Query)
        # One row per qid (a repeat has the same text: check() refused any other).
        staged = "(SELECT DISTINCT qid, text FROM {stage}) AS s"
        updated = self.stage.execute(
            f"UPDATE {queries} SET text = s.text FROM {staged} WHERE {queries}.collection_id = %s "
            f"AND {queries}.qid = s.qid AND {queries}.text <> s.text",
            [cid],
        )
        created = self.stage.execute(
            f"INSERT INTO {queries} (collection_id, qid, text) SELECT %s, s.qid, s.text FROM {staged} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {queries} AS q WHERE q.collection_id = %s AND q.qid = s.qid)",
            [cid, cid],
        )
        self.stage.drop()
        self.report.created = created
        self.report.updated = updated
        self.report.unchanged = self.report.rows - self.report.skipped - created - updated


class PassagesImporter(Importer):
    kind = "passages"

    def label(self) -> str:
        return "passages"

    def parse(self) -> None:
        self.stage = Staging("hardq_stage_passages", [
            ("line", "integer"), ("docid", "varchar(%d)" % formats.MAX_DOCID), ("text", "text"),
        ])
        self.report.rows = self.stage.load(formats.iter_passages(self.src, progress=self.progress))

    def check(self) -> None:
        clash = self.stage.first_other("docid", "text")
        if clash:
            line, docid, first = clash
            raise self.error(line, f"docid {docid} again with another text (first on line {first})")
        repeated = self.report.rows - self.stage.count_distinct("docid")
        self.report.skipped = repeated
        if repeated:
            self.report.notes.append(f"{repeated} repeated lines (same docid, same text) skipped")

    def write(self, source: ImportSource) -> None:
        assert self.collection is not None
        cid, passages = self.collection.id, table(Passage)
        staged = "(SELECT DISTINCT docid, text FROM {stage}) AS s"
        updated = self.stage.execute(
            f"UPDATE {passages} SET text = s.text FROM {staged} WHERE {passages}.collection_id = %s "
            f"AND {passages}.docid = s.docid AND ({passages}.text IS NULL OR {passages}.text <> s.text)",
            [cid],
        )
        created = self.stage.execute(
            f"INSERT INTO {passages} (collection_id, docid, text) SELECT %s, s.docid, s.text FROM {staged} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {passages} AS p WHERE p.collection_id = %s AND p.docid = s.docid)",
            [cid, cid],
        )
        self.stage.drop()
        self.report.created = created
        self.report.updated = updated
        self.report.unchanged = self.report.rows - self.report.skipped - created - updated


# --- labels ----------------------------------------------------------------------
class QrelsImporter(Importer):
    """TREC qrels of one assessor: official NIST qrels, an LLM judge, a human.

    With ``probabilities`` (LARA's CSV, ``formats.iter_probabilities``) the judgments
    of the import also get the assessor's probability of each grade: the qrels give
    the grades, the CSV the probabilities of some or all of its pairs. A CSV row naming
    a pair the qrels do not have, or whose ``annotation`` is not the qrels' grade of
    the pair, refuses the import (both files must describe the same labels); a pair
    the CSV does not name has no probabilities.
    """

    kind = "judgments"
    label_option = "assessor"

    def __init__(self, *, assessor: str = "official", scale: str = Assessor.GRADED, assessor_kind: str | None = None,
                 model: str = "", probabilities: SourceFile | None = None, clamp: bool = False,
                 **kwargs: Any) -> None:
        if scale not in formats.SCALES:
            raise ValueError(f"unknown scale {scale!r}")
        self.clamp = clamp
        self.clamped_lines: list[tuple[int, int]] = []
        self.probabilities_src = probabilities
        self.probabilities_stage: Staging | None = None
        self.assessor_name = assessor
        self.scale = scale
        self.assessor_kind = assessor_kind or (Assessor.OFFICIAL if assessor == "official" else Assessor.LLM)
        # Bundle file names spell the model with "_" for the tag's colon.
        self.model = model_from_name(model) if model and ":" not in model else model
        super().__init__(**kwargs)

    def label(self) -> str:
        return self.assessor_name

    def names(self) -> list[tuple[str, str, type, str]]:
        names: list[tuple[str, str, type, str]] = [("assessor", self.assessor_name, Assessor, "name")]
        if self.model:
            names.append(("model", self.model, Assessor, "model"))
        return names

    def options(self) -> dict[str, Any]:
        # The probabilities file is part of what was imported: another one is a new import.
        probabilities = self.probabilities_src.sha256 if self.probabilities_src is not None else ""
        options: dict[str, Any] = {"scale": self.scale, "probabilities_sha256": probabilities}
        if self.clamp:  # recorded only when asked, so earlier imports keep their identity
            options["clamp"] = True
        return options

    def check_options(self) -> None:
        super().check_options()
        if self.probabilities_src is not None and self.probabilities_src.is_blank():
            raise ImportFileError(self.probabilities_src.name, None, "empty")

    def parse(self) -> None:
        # The rows go to a staging table (see ``staging``), as a run's: the memory of a
        # qrels import stays flat whatever the file. So does the probabilities file's.
        self.stage = Staging("hardq_stage_qrels", [
            ("line", "integer"), ("qid", "varchar(%d)" % formats.MAX_QID),
            ("docid", "varchar(%d)" % formats.MAX_DOCID), ("grade", "smallint"),
        ])
        self.column2: str | None = None
        mixed = False

        def rows() -> Iterator[tuple[int, str, str, int]]:
            nonlocal mixed
            for line, qid, second, docid, grade in formats.iter_qrels(
                self.src, scale=self.scale, progress=self.progress,
                on_clamp=self._clamped if self.clamp else None,
            ):
                if self.column2 is None and not mixed:
                    self.column2 = second
                elif second != self.column2:
                    mixed, self.column2 = True, None
                yield line, qid, docid, grade

        self.report.rows = self.stage.load(rows())
        if self.clamped_lines:
            self.report.clamped = len(self.clamped_lines)
            shown = ", ".join(f"line {line}: {grade}" for line, grade in self.clamped_lines[:5])
            more = f" and {len(self.clamped_lines) - 5} more" if len(self.clamped_lines) > 5 else ""
            self.report.notes.append(f"{len(self.clamped_lines)} grades outside the {self.scale} scale clamped "
                                     f"to its nearest end ({shown}{more})")
        # A repeated pair is the file's fault, found before the probabilities file is read
        # (whose rows are checked against the qrels' pairs, one each).
        repeat = self.stage.first_repeat(["qid", "docid"])
        if repeat:
            line, qid, docid, first = repeat
            raise self.error(line, f"duplicate judgment of ({qid}, {docid}) (first on line {first})")
        if self.probabilities_src is not None:
            with_probabilities = self.parse_probabilities(self.probabilities_src)
            self.report.notes.append(f"{with_probabilities} of {self.report.rows} judgments with probabilities")

    def _clamped(self, line: int, grade: int) -> None:
        self.clamped_lines.append((line, grade))

    def parse_probabilities(self, src: SourceFile) -> int:
        """Stage the probabilities file (as the qrels are) and check it against the staged
        qrels: each pair once, a pair of the qrels, its ``annotation`` (when given) the
        qrels' grade. Returns its number of rows."""
        self.probabilities_stage = Staging("hardq_stage_probabilities", [
            ("line", "integer"), ("qid", "varchar(%d)" % formats.MAX_QID),
            ("docid", "varchar(%d)" % formats.MAX_DOCID), ("annotation", "smallint"),
            ("probabilities", "text"),  # JSON, as judgments_write_staged reads it
        ])
        staged = self.probabilities_stage.load(
            (line, qid, docid, annotation, json.dumps(probabilities))
            for line, qid, docid, annotation, probabilities in formats.iter_probabilities(
                src, scale=self.scale, progress=self.progress
            )
        )
        repeat = self.probabilities_stage.first_repeat(["qid", "docid"])
        if repeat:
            line, qid, docid, first = repeat
            raise ImportFileError(src.name, line, f"duplicate pair ({qid}, {docid}) (first on line {first})")
        # The first row (in file order) naming no pair of the qrels, or another grade.
        wrong = self.probabilities_stage.first(
            f"SELECT ps.line, ps.qid, ps.docid, ps.annotation, s.grade FROM {{stage}} AS ps "
            f"LEFT JOIN {self.stage.name} AS s ON s.qid = ps.qid AND s.docid = ps.docid "
            "WHERE s.line IS NULL OR (ps.annotation IS NOT NULL AND ps.annotation <> s.grade) ORDER BY ps.line LIMIT 1"
        )
        if wrong:
            line, qid, docid, annotation, grade = wrong
            if grade is None:
                raise ImportFileError(src.name, line, f"unknown pair ({qid}, {docid}): not in {self.src.basename}")
            raise ImportFileError(
                src.name, line,
                f"annotation {annotation} of ({qid}, {docid}) is not its grade {grade} in {self.src.basename}",
            )
        return staged

    def recorded_options(self) -> dict[str, Any]:
        # export_qrels writes the second column back as the file had it (Q0 or 0).
        return {"column2": self.column2} if self.column2 is not None else {}

    def check(self) -> None:
        assert self.collection is not None
        unknown = self.stage.first_unknown_qid(self.collection.id)
        if unknown:
            raise self.error(
                unknown[0],
                f"unknown qid {unknown[1]}: not a query of collection {self.collection_name} (import the queries first)",
            )
        self.assessor = self.llm_assessor(self.assessor_name, kind=self.assessor_kind, scale=self.scale, model=self.model)

    def delete_previous(self, source: ImportSource) -> int:
        return 0  # judgments_write_staged(replace=True) drops the earlier import's rows the file no longer has

    def write(self, source: ImportSource) -> None:
        assert self.collection is not None
        self.report.new_passages += self.stage.add_missing_passages(self.collection.id)
        probabilities = self.probabilities_stage
        written = judgments_write_staged(
            assessor=self.assessor, stage=self.stage.name, collection_id=self.collection.id, source=source,
            probabilities_stage=probabilities.name if probabilities is not None else None,
            replace=self.replace,
        )
        self.stage.drop()
        if probabilities is not None:
            probabilities.drop()
        self.report.created = written.created
        self.report.updated = written.updated
        self.report.unchanged = written.unchanged
        self.report.deleted = written.deleted


class RunImporter(Importer):
    kind = "run"
    label_option = "system"

    def __init__(self, *, system: str, **kwargs: Any) -> None:
        self.system_name = system
        super().__init__(**kwargs)

    def label(self) -> str:
        return self.system_name

    def names(self) -> list[tuple[str, str, type, str]]:
        return [("system", self.system_name, System, "name")]

    def parse(self) -> None:
        # The rows go to a staging table (see ``staging``): a run's memory stays flat.
        self.stage = Staging("hardq_stage_run", [
            ("line", "integer"), ("qid", "varchar(%d)" % formats.MAX_QID), ("docid", "varchar(%d)" % formats.MAX_DOCID),
            ("rank", "integer"), ("score", "double precision"),
        ])
        self.tags: Counter[str] = Counter()

        def rows() -> Iterator[tuple[int, str, str, int, float]]:
            for line, qid, docid, rank, score, tag in formats.iter_run(self.src, progress=self.progress):
                self.tags[tag] += 1
                yield line, qid, docid, rank, score

        self.report.rows = self.stage.load(rows())

    def check(self) -> None:
        assert self.collection is not None
        repeat = self.stage.first_repeat(["qid", "docid"])
        if repeat:
            line, qid, docid, first = repeat
            raise self.error(line, f"duplicate run row for ({qid}, {docid}) (first on line {first})")
        unknown = self.stage.first_unknown_qid(self.collection.id)
        if unknown:
            raise self.error(
                unknown[0],
                f"unknown qid {unknown[1]}: not a query of collection {self.collection_name} (import the queries first)",
            )

    def delete_previous(self, source: ImportSource) -> int:
        return RunRow.objects.filter(run__source=source).delete()[0]

    def write(self, source: ImportSource) -> None:
        assert self.collection is not None
        system, _ = System.objects.get_or_create(name=self.system_name)
        tag = self.tags.most_common(1)[0][0] if self.tags else ""
        run, _ = Run.objects.get_or_create(system=system, collection=self.collection, defaults={"tag": tag})
        if run.source_id != source.id or run.tag != tag:
            run.source = source
            run.tag = tag
            run.save(update_fields=["source", "tag"])
        cid = self.collection.id
        self.report.new_passages += self.stage.add_missing_passages(cid)
        rows, queries, passages = table(RunRow), table(Query), table(Passage)
        # Each staged row, with its query and passage ids.
        joined = (
            f"{{stage}} AS s JOIN {queries} AS q ON q.collection_id = %s AND q.qid = s.qid "
            f"JOIN {passages} AS p ON p.collection_id = %s AND p.docid = s.docid"
        )
        updated = 0
        if RunRow.objects.filter(run=run).exists():  # not on a first import, nor after --replace
            updated = self.stage.execute(
                f"UPDATE {rows} SET rank = s.rank, score = s.score FROM {joined} "
                f"WHERE {rows}.run_id = %s AND {rows}.query_id = q.id AND {rows}.passage_id = p.id "
                f"AND ({rows}.rank <> s.rank OR {rows}.score <> s.score)",
                [cid, cid, run.id],
            )
        created = self.stage.execute(
            f"INSERT INTO {rows} (run_id, query_id, passage_id, rank, score) SELECT %s, q.id, p.id, s.rank, s.score "
            f"FROM {joined} WHERE NOT EXISTS (SELECT 1 FROM {rows} AS r "
            "WHERE r.run_id = %s AND r.query_id = q.id AND r.passage_id = p.id)",
            [run.id, cid, cid, run.id],
        )
        self.stage.drop()
        self.report.created = created
        self.report.updated = updated
        self.report.unchanged = self.report.rows - created - updated


def setting_from_filename(name: str) -> str:
    """Generations and BERTScores made with the failure reasons as context say so in
    their file name (``*_all_reasons_expansion_*``, ``bert_score_*_reason_expansion_*``)."""
    return Generation.REASON_EXPANSION if "reason" in name.lower() and "expansion" in name.lower() else Generation.ZERO_SHOT


class GenerationsImporter(Importer):
    kind = "generations"
    label_option = "generator"

    def __init__(self, *, generator: str, setting: str | None = None, **kwargs: Any) -> None:
        self.generator_name = generator
        self.setting = setting or setting_from_filename(kwargs["src"].basename)
        if self.setting not in dict(Generation.SETTING_CHOICES):
            raise ValueError(f"unknown setting {self.setting!r}")
        super().__init__(**kwargs)

    def label(self) -> str:
        return f"{self.generator_name}/{self.setting}"

    def names(self) -> list[tuple[str, str, type, str]]:
        return [("generator", self.generator_name, Assessor, "name"),
                ("generator", model_from_name(self.generator_name), Assessor, "model")]

    def parse(self) -> None:
        self.stage = Staging("hardq_stage_generations", [
            ("line", "integer"), ("qid", "varchar(%d)" % formats.MAX_QID), ("response", "text"), ("text", "text"),
            ("extracted", "text"), ("ds", "text"),
        ])
        self.report.rows = self.stage.load(formats.iter_generations(self.src, progress=self.progress))

    def check(self) -> None:
        assert self.collection is not None
        repeat = self.stage.first_repeat(["qid"])
        if repeat:
            line, qid, first = repeat
            raise self.error(line, f"duplicate generation for query {qid} (first on line {first})")
        other = self.stage.first(
            "SELECT line, ds FROM {stage} WHERE ds IS NOT NULL AND ds <> '' AND LOWER(ds) <> LOWER(%s) "
            "ORDER BY line LIMIT 1",
            [self.collection_name],
        )
        if other:
            raise self.error(other[0], f"'ds' is {other[1]!r}, not the collection {self.collection_name}")
        unknown = self.stage.first_unknown_qid(self.collection.id)
        if unknown:
            raise self.error(
                unknown[0],
                f"unknown qid {unknown[1]}: not a query of collection {self.collection_name} (import the queries first)",
            )
        self.generator = self.llm_assessor(self.generator_name, model=model_from_name(self.generator_name))

    def delete_previous(self, source: ImportSource) -> int:
        return Generation.objects.filter(source=source).delete()[0]

    def write(self, source: ImportSource) -> None:
        assert self.collection is not None
        generations, queries = table(Generation), table(Query)
        joined = f"{{stage}} AS s JOIN {queries} AS q ON q.collection_id = %s AND q.qid = s.qid"
        updated = self.stage.execute(
            f"UPDATE {generations} SET response = s.response, text = s.text, extracted_answer = s.extracted, "
            f"source_id = %s FROM {joined} WHERE {generations}.generator_id = %s AND {generations}.setting = %s "
            f"AND {generations}.query_id = q.id AND ({generations}.response <> s.response OR {generations}.text <> s.text "
            f"OR ({generations}.extracted_answer IS NULL) <> (s.extracted IS NULL) "
            f"OR {generations}.extracted_answer <> s.extracted)",
            [source.id, self.collection.id, self.generator.id, self.setting],
        )
        created = self.stage.execute(
            f"INSERT INTO {generations} (query_id, generator_id, setting, prompt, response, text, extracted_answer, "
            f"source_id) SELECT q.id, %s, %s, '', s.response, s.text, s.extracted, %s FROM {joined} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {generations} AS g WHERE g.query_id = q.id AND g.generator_id = %s AND g.setting = %s)",
            [self.generator.id, self.setting, source.id, self.collection.id, self.generator.id, self.setting],
        )
        self.stage.drop()
        # BERTScores imported before their generations (or orphaned by --replace) get linked now.
        BertScore.objects.filter(
            generator=self.generator, setting=self.setting, generation__isnull=True, query__collection=self.collection
        ).update(
            generation=Subquery(
                Generation.objects.filter(generator=self.generator, setting=self.setting, query=OuterRef("query"))
                .values("id")[:1]
            )
        )
        self.report.created = created
        self.report.updated = updated
        self.report.unchanged = self.report.rows - created - updated


class BertScoreImporter(Importer):
    """BERTScore rows; each is linked to the generation of the same generator and
    setting when that was imported (import generations first)."""

    kind = "bertscore"
    label_option = "generator"

    def __init__(self, *, generator: str, setting: str | None = None, **kwargs: Any) -> None:
        self.generator_name = generator
        self.setting = setting or setting_from_filename(kwargs["src"].basename)
        super().__init__(**kwargs)

    def label(self) -> str:
        return f"{self.generator_name}/{self.setting}"

    def names(self) -> list[tuple[str, str, type, str]]:
        return [("generator", self.generator_name, Assessor, "name"),
                ("generator", model_from_name(self.generator_name), Assessor, "model")]

    def parse(self) -> None:
        # Staged one row per (qid, docid), as a run's rows are: a BERTScore file's memory stays flat.
        self.stage = Staging("hardq_stage_bertscore", [
            ("line", "integer"), ("qid", "varchar(%d)" % formats.MAX_QID), ("pos", "integer"),
            ("docid", "varchar(%d)" % formats.MAX_DOCID), ("prec", "double precision"),
            ("rec", "double precision"), ("f1", "double precision"),
            ("model", "varchar(%d)" % formats.MAX_BERTSCORE_MODEL),
        ])
        self.stage.load(formats.iter_bertscore(self.src, progress=self.progress))
        # A line without dids stages one row without a docid (for its qid's repeats only).
        counted = self.stage.first("SELECT COUNT(*) FROM {stage} WHERE docid IS NOT NULL")
        self.report.rows = int(counted[0]) if counted else 0

    def check(self) -> None:
        assert self.collection is not None
        repeat = self.stage.first_repeat(["qid"], rows_per_line=True)
        if repeat:
            line, qid, first = repeat
            raise self.error(line, f"duplicate BERTScore row for query {qid} (first on line {first})")
        unknown = self.stage.first_unknown_qid(self.collection.id)
        if unknown:
            raise self.error(
                unknown[0],
                f"unknown qid {unknown[1]}: not a query of collection {self.collection_name} (import the queries first)",
            )
        self.generator = self.llm_assessor(self.generator_name, model=model_from_name(self.generator_name))

    def delete_previous(self, source: ImportSource) -> int:
        return BertScore.objects.filter(source=source).delete()[0]

    def write(self, source: ImportSource) -> None:
        assert self.collection is not None
        cid, gid, setting, imported = self.collection.id, self.generator.id, self.setting, BertScore.IMPORTED
        self.report.new_passages += self.stage.add_missing_passages(cid)
        # The scores a large earlier import added: without their statistics the merge
        # below is planned as if the table were empty and scans it once per staged row.
        self.stage.analyze(BertScore, Query, Generation)
        rows, queries, passages, generations = table(BertScore), table(Query), table(Passage), table(Generation)
        qn = connection.ops.quote_name
        position, precision, recall, f1 = qn("position"), qn("precision"), qn("recall"), qn("f1")
        # Each row is linked to the generation of its query, generator and setting, if imported.
        joined = (
            f"{{stage}} AS s JOIN {queries} AS q ON q.collection_id = %s AND q.qid = s.qid "
            f"JOIN {passages} AS p ON p.collection_id = %s AND p.docid = s.docid "
            f"LEFT JOIN {generations} AS g ON g.query_id = q.id AND g.generator_id = %s AND g.setting = %s"
        )
        joined_params = [cid, cid, gid, setting]
        updated = self.stage.execute(
            f"UPDATE {rows} SET {position} = s.pos, {precision} = s.prec, {recall} = s.rec, {f1} = s.f1, "
            f"generation_id = g.id, source_id = %s FROM {joined} "
            f"WHERE {rows}.generator_id = %s AND {rows}.setting = %s AND {rows}.origin = %s "
            f"AND {rows}.query_id = q.id AND {rows}.passage_id = p.id AND {rows}.model_id = s.model "
            f"AND ({rows}.{position} <> s.pos OR {rows}.{precision} <> s.prec OR {rows}.{recall} <> s.rec "
            f"OR {rows}.{f1} <> s.f1 OR ({rows}.generation_id IS NULL) <> (g.id IS NULL) "
            f"OR {rows}.generation_id <> g.id)",
            [source.id, *joined_params, gid, setting, imported],
        )
        created = self.stage.execute(
            f"INSERT INTO {rows} (query_id, generator_id, setting, generation_id, passage_id, {position}, "
            f"{precision}, {recall}, {f1}, model_id, origin, source_id) "
            f"SELECT q.id, %s, %s, g.id, p.id, s.pos, s.prec, s.rec, s.f1, s.model, %s, %s FROM {joined} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {rows} AS b WHERE b.query_id = q.id AND b.generator_id = %s "
            "AND b.setting = %s AND b.passage_id = p.id AND b.model_id = s.model AND b.origin = %s)",
            [gid, setting, imported, source.id, *joined_params, gid, setting, imported],
        )
        unlinked = self.stage.first(
            f"SELECT COUNT(DISTINCT s.qid) FROM {{stage}} AS s JOIN {queries} AS q "
            "ON q.collection_id = %s AND q.qid = s.qid "
            f"WHERE NOT EXISTS (SELECT 1 FROM {generations} AS g WHERE g.query_id = q.id "
            "AND g.generator_id = %s AND g.setting = %s)",
            [cid, gid, setting],
        )
        self.stage.drop()
        self.report.created = created
        self.report.updated = updated
        self.report.unchanged = self.report.rows - created - updated
        if unlinked and unlinked[0]:
            self.report.notes.append(
                f"{unlinked[0]} queries have no imported generation of "
                f"{self.generator_name}/{self.setting}: their rows are not linked to one"
            )


class PairwiseImporter(Importer):
    kind = "pairwise"
    label_option = "assessor"

    def __init__(self, *, assessor: str, **kwargs: Any) -> None:
        self.assessor_name = assessor
        super().__init__(**kwargs)

    def label(self) -> str:
        return self.assessor_name

    def names(self) -> list[tuple[str, str, type, str]]:
        return [("assessor", self.assessor_name, Assessor, "name")]

    def parse(self) -> None:
        # Staged as a run's rows are: a preference file's memory stays flat.
        self.stage = Staging("hardq_stage_pairwise", [
            ("line", "integer"), ("qid", "varchar(%d)" % formats.MAX_QID),
            ("docid", "varchar(%d)" % formats.MAX_DOCID), ("label", "smallint"),
        ])
        self.report.rows = self.stage.load(formats.iter_pairwise(self.src, progress=self.progress))

    def check(self) -> None:
        assert self.collection is not None
        repeat = self.stage.first_repeat(["qid", "docid"])
        if repeat:
            line, qid, docid, first = repeat
            raise self.error(line, f"duplicate preference for ({qid}, {docid}) (first on line {first})")
        unknown = self.stage.first_unknown_qid(self.collection.id)
        if unknown:
            raise self.error(
                unknown[0],
                f"unknown qid {unknown[1]}: not a query of collection {self.collection_name} (import the queries first)",
            )
        self.assessor = self.llm_assessor(self.assessor_name)

    def delete_previous(self, source: ImportSource) -> int:
        return PairwisePreference.objects.filter(source=source).delete()[0]

    def write(self, source: ImportSource) -> None:
        assert self.collection is not None
        cid = self.collection.id
        self.report.new_passages += self.stage.add_missing_passages(cid)
        rows, queries, passages = table(PairwisePreference), table(Query), table(Passage)
        joined = (
            f"{{stage}} AS s JOIN {queries} AS q ON q.collection_id = %s AND q.qid = s.qid "
            f"JOIN {passages} AS p ON p.collection_id = %s AND p.docid = s.docid"
        )
        updated = self.stage.execute(
            f"UPDATE {rows} SET label = s.label, source_id = %s FROM {joined} "
            f"WHERE {rows}.assessor_id = %s AND {rows}.query_id = q.id AND {rows}.passage_id = p.id "
            f"AND {rows}.label <> s.label",
            [source.id, cid, cid, self.assessor.id],
        )
        created = self.stage.execute(
            f"INSERT INTO {rows} (query_id, passage_id, assessor_id, generation_id, label, raw_response, source_id) "
            f"SELECT q.id, p.id, %s, NULL, s.label, '', %s FROM {joined} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {rows} AS r WHERE r.assessor_id = %s AND r.query_id = q.id AND r.passage_id = p.id)",
            [self.assessor.id, source.id, cid, cid, self.assessor.id],
        )
        self.stage.drop()
        self.report.created = created
        self.report.updated = updated
        self.report.unchanged = self.report.rows - created - updated


class ReasonsImporter(Importer):
    """Failure reasons of one LLM for one task, over several collections.

    Each row's collection is its label's prefix; rows of collections that are not in
    the database are skipped and counted (the published files cover DL19 to DL22).
    Within a collection that exists, an unknown qid is an error.
    """

    kind = "reasons"
    needs_collection = False
    label_option = "assessor"

    def __init__(self, *, task: str, assessor: str, **kwargs: Any) -> None:
        if task not in Task.values:
            raise ValueError(f"unknown task {task!r}")
        self.task = task
        self.assessor_name = assessor
        kwargs["collection"] = None
        super().__init__(**kwargs)

    def label(self) -> str:
        return f"{self.assessor_name}/{self.task}"

    def names(self) -> list[tuple[str, str, type, str]]:
        return [("assessor", self.assessor_name, Assessor, "name"),
                ("assessor", model_from_name(self.assessor_name), Assessor, "model")]

    def parse(self) -> None:
        # Staged: per line a row holding the raw list (pos -1), then a row per reason.
        self.stage = Staging("hardq_stage_reasons", [
            ("line", "integer"), ("label", "varchar(%d)" % formats.MAX_REASONS_LABEL),
            ("coll", "varchar(%d)" % formats.MAX_REASONS_LABEL), ("qid", "varchar(%d)" % formats.MAX_QID),
            ("raw", "text"), ("pos", "integer"), ("reason", "text"),
        ])
        self.stage.load(formats.iter_reasons(self.src, progress=self.progress))
        # What check and write find out about each line: its query, its proposal, new or changed.
        for column in ("query_id bigint", "proposal_id bigint", "state varchar(8)"):
            self.stage.execute(f"ALTER TABLE {{stage}} ADD COLUMN {column}")
        self.stage.execute("CREATE INDEX hardq_stage_reasons_line ON {stage} (line, pos)")
        counted = self.stage.first("SELECT COUNT(*) FROM {stage} WHERE pos = -1")
        self.report.rows = int(counted[0]) if counted else 0

    def check(self) -> None:
        repeat = self.stage.first_repeat(["label", "qid"], where="pos = -1")
        if repeat:
            line, label, qid, first = repeat
            raise self.error(line, f"duplicate reasons for ({label}, {qid}) (first on line {first})")
        collections, queries, stage = table(Collection), table(Query), self.stage.name
        self.stage.execute(
            f"UPDATE {{stage}} SET query_id = q.id FROM {queries} AS q JOIN {collections} AS c "
            f"ON c.id = q.collection_id WHERE {stage}.pos = -1 AND c.name = {stage}.coll AND q.qid = {stage}.qid"
        )
        self.stage.analyze()
        known = f"EXISTS (SELECT 1 FROM {collections} AS c WHERE c.name = s.coll)"
        unknown = self.stage.first(
            f"SELECT line, qid, coll FROM {{stage}} AS s WHERE s.pos = -1 AND s.query_id IS NULL AND {known} "
            "ORDER BY line LIMIT 1"
        )
        if unknown:
            raise self.error(unknown[0], f"unknown qid {unknown[1]}: not a query of collection {unknown[2]}")
        skipped = self.stage.fetch(
            f"SELECT coll, COUNT(*) FROM {{stage}} AS s WHERE s.pos = -1 AND NOT {known} GROUP BY coll ORDER BY coll"
        )
        self.report.skipped = sum(n for _, n in skipped)
        if skipped:
            listed = ", ".join(f"{name} ({n})" for name, n in skipped)
            self.report.notes.append(f"skipped rows of collections not in the database: {listed}")
        self.assessor = self.llm_assessor(self.assessor_name, model=model_from_name(self.assessor_name))
        self._warn_repeated_lists()

    def _warn_repeated_lists(self) -> None:
        """The same list for several queries under one label: the reference script
        carried a query's list into the next query. Imported as is, and reported."""
        # On the stage: the kept lines (a known query) with at least one reason, grouped by
        # label and list; a group of more than one query is a list carried over.
        listed_lines = (
            "SELECT s.label, s.raw, s.qid FROM {stage} AS s WHERE s.pos = -1 AND s.query_id IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM {stage} AS x WHERE x.line = s.line AND x.pos >= 0)"
        )
        rows = self.stage.fetch(
            f"SELECT l.label, l.raw, l.qid FROM ({listed_lines}) AS l JOIN (SELECT g.label, g.raw FROM "
            f"({listed_lines}) AS g GROUP BY g.label, g.raw HAVING COUNT(DISTINCT g.qid) > 1) AS r "
            "ON r.label = l.label AND r.raw = l.raw"
        )
        groups: dict[tuple[str, str], set[str]] = {}
        for label, raw, qid in rows:
            groups.setdefault((label, raw), set()).add(qid)
        repeated = sorted(
            ({"label": label, "qids": sorted(qids, key=lambda q: (len(q), q))} for (label, _), qids in groups.items()),
            key=lambda g: (g["label"], g["qids"]),
        )
        self.report.repeated_reason_lists = repeated
        if repeated:
            queries = sum(len(g["qids"]) for g in repeated)
            listed = "; ".join(f"{g['label']}: {', '.join(g['qids'])}" for g in repeated)
            self.report.notes.append(
                f"warning: {len(repeated)} reason lists appear for several queries under one label "
                f"({queries} queries; carried over from another query?): {listed}"
            )

    def delete_previous(self, source: ImportSource) -> int:
        return ReasonProposal.objects.filter(source=source).delete()[1].get("analysis.ReasonProposal", 0)

    def write(self, source: ImportSource) -> None:
        proposals, reasons, stage = table(ReasonProposal), table(Reason), self.stage.name
        qn = connection.ops.quote_name
        position, text = qn("position"), qn("text")
        mine = [self.assessor.id, self.task]
        # A line's proposal: the assessor's for the same query, task and label.
        match = (
            f"UPDATE {{stage}} SET proposal_id = p.id, state = %s FROM {proposals} AS p "
            f"WHERE {stage}.pos = -1 AND {stage}.query_id IS NOT NULL AND {stage}.proposal_id IS NULL "
            f"AND p.assessor_id = %s AND p.task = %s AND p.query_id = {stage}.query_id AND p.label = {stage}.label"
        )
        self.stage.execute(match, ["same", *mine])
        self.stage.analyze(ReasonProposal, Reason)
        # Changed: another raw list, or another reason (or number of reasons) at some position.
        self.stage.execute(
            f"UPDATE {{stage}} SET state = 'changed' FROM {proposals} AS p "
            f"WHERE {stage}.state = 'same' AND p.id = {stage}.proposal_id AND (p.raw_response <> {stage}.raw "
            f"OR (SELECT COUNT(*) FROM {reasons} AS r WHERE r.proposal_id = p.id) "
            f"<> (SELECT COUNT(*) FROM {{stage}} AS x WHERE x.line = {stage}.line AND x.pos >= 0) "
            f"OR EXISTS (SELECT 1 FROM {{stage}} AS x WHERE x.line = {stage}.line AND x.pos >= 0 AND NOT EXISTS "
            f"(SELECT 1 FROM {reasons} AS r WHERE r.proposal_id = p.id AND r.{position} = x.pos "
            f"AND r.{text} = x.reason)))"
        )
        updated = self.stage.execute(
            f"UPDATE {proposals} SET raw_response = s.raw, source_id = %s FROM {{stage}} AS s "
            f"WHERE s.state = 'changed' AND {proposals}.id = s.proposal_id",
            [source.id],
        )
        self.stage.execute(
            f"DELETE FROM {reasons} WHERE proposal_id IN (SELECT proposal_id FROM {{stage}} WHERE state = 'changed')"
        )
        created = self.stage.execute(
            f"INSERT INTO {proposals} (query_id, task, assessor_id, label, label_collection, subject, settings, "
            "quantile, raw_response, source_id, created_at) "
            "SELECT s.query_id, %s, %s, s.label, '', '', '', NULL, s.raw, %s, %s FROM {stage} AS s "
            "WHERE s.pos = -1 AND s.query_id IS NOT NULL AND s.proposal_id IS NULL",
            [self.task, self.assessor.id, source.id, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        # The proposals just created: the match must know them (and the stage its new ids).
        self.stage.analyze(ReasonProposal)
        self.stage.execute(match, ["new", *mine])
        # The new lists' label parts: labels are few, so one UPDATE per distinct label.
        for (label,) in self.stage.fetch("SELECT DISTINCT label FROM {stage} WHERE state = 'new'"):
            parts = reasons_label_parts(label)
            self.stage.execute(
                f"UPDATE {proposals} SET label_collection = %s, subject = %s, settings = %s, quantile = %s "
                f"WHERE id IN (SELECT proposal_id FROM {{stage}} WHERE state = 'new' AND label = %s)",
                [parts.collection, parts.subject, parts.settings, parts.quantile, label],
            )
        self.stage.analyze()
        self.stage.execute(
            f"INSERT INTO {reasons} (proposal_id, {position}, {text}) "
            "SELECT h.proposal_id, x.pos, x.reason FROM {stage} AS x JOIN {stage} AS h "
            "ON h.line = x.line AND h.pos = -1 WHERE x.pos >= 0 AND h.state IN ('new', 'changed')"
        )
        kept = self.stage.first("SELECT COUNT(*) FROM {stage} WHERE pos = -1 AND query_id IS NOT NULL")
        self.stage.drop()
        self.report.created = created
        self.report.updated = updated
        self.report.unchanged = (int(kept[0]) if kept else 0) - created - updated


class HardQueriesImporter(Importer):
    """A hard-query CSV (``query,<measure>``: the hard queries and their measure) as a
    HardnessAnalysis with ``origin='imported'`` and one hard HardnessLabel per row."""

    kind = "hard_queries"
    label_option = "subject"

    def __init__(self, *, task: str, subject: str, quantile: float | None = None, **kwargs: Any) -> None:
        if task not in Task.values:
            raise ValueError(f"unknown task {task!r}")
        self.task = task
        self.subject = subject
        self.quantile = quantile
        super().__init__(**kwargs)

    def label(self) -> str:
        return f"{self.task}:{self.subject}"

    def names(self) -> list[tuple[str, str, type, str]]:
        return [("subject", self.subject, HardnessAnalysis, "subject")]

    def check_options(self) -> None:
        if self.quantile is not None and not 0.0 <= self.quantile <= 1.0:
            raise self.error(None, f"quantile {self.quantile} is outside 0..1", field="quantile")
        super().check_options()

    def options(self) -> dict[str, Any]:
        return {"task": self.task, "subject": self.subject, "quantile": self.quantile}

    def parse(self) -> None:
        self.stage = Staging("hardq_stage_hard_queries", [
            ("line", "integer"), ("qid", "varchar(%d)" % formats.MAX_QID), ("value", "double precision"),
        ])
        self.measure, rows = formats.iter_hard_queries(self.src, progress=self.progress)
        self.report.rows = self.stage.load(rows)

    def check(self) -> None:
        assert self.collection is not None
        repeat = self.stage.first_repeat(["qid"])
        if repeat:
            line, qid, first = repeat
            raise self.error(line, f"duplicate query {qid} (first on line {first})")
        unknown = self.stage.first_unknown_qid(self.collection.id)
        if unknown:
            raise self.error(
                unknown[0],
                f"unknown qid {unknown[1]}: not a query of collection {self.collection_name} (import the queries first)",
            )

    def _analysis(self, source: ImportSource) -> HardnessAnalysis | None:
        return HardnessAnalysis.objects.filter(
            origin=HardnessAnalysis.IMPORTED, collection=self.collection, parameters__import_source=source.id
        ).first()

    def delete_previous(self, source: ImportSource) -> int:
        return HardnessLabel.objects.filter(analysis__in=HardnessAnalysis.objects.filter(
            origin=HardnessAnalysis.IMPORTED, collection=self.collection, parameters__import_source=source.id
        )).delete()[0]

    def write(self, source: ImportSource) -> None:
        assert self.collection is not None
        analysis = self._analysis(source)
        rows = self.report.rows
        fields = {
            "task": self.task, "subject": self.subject, "measure": self.measure,
            "quantile": self.quantile if self.quantile is not None else 0.25,
            "parameters": {"import_source": source.id, "file": self.src.basename, "quantile_given": self.quantile is not None},
        }
        if analysis is None:
            analysis = HardnessAnalysis.objects.create(
                collection=self.collection, origin=HardnessAnalysis.IMPORTED, status=HardnessAnalysis.DONE,
                progress_done=rows, progress_total=rows, finished_at=timezone.now(), **fields,
            )
        elif any(getattr(analysis, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(analysis, k, v)
            analysis.save(update_fields=list(fields))
        cid, labels, queries = self.collection.id, table(HardnessLabel), table(Query)
        joined = f"{{stage}} AS s JOIN {queries} AS q ON q.collection_id = %s AND q.qid = s.qid"
        updated = self.stage.execute(
            f"UPDATE {labels} SET value = s.value FROM {joined} WHERE {labels}.analysis_id = %s "
            f"AND {labels}.query_id = q.id AND (({labels}.value IS NULL) <> (s.value IS NULL) OR {labels}.value <> s.value)",
            [cid, analysis.id],
        )
        # The details column is JSON ({} as the model's default); braces doubled for str.format.
        no_details = "'{{}}'::jsonb" if connection.vendor == "postgresql" else "'{{}}'"
        created = self.stage.execute(
            f"INSERT INTO {labels} (analysis_id, query_id, value, hard, status, details) "
            f"SELECT %s, q.id, s.value, %s, %s, {no_details} FROM {joined} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {labels} AS l WHERE l.analysis_id = %s AND l.query_id = q.id)",
            [analysis.id, True, HardnessLabel.OK, cid, analysis.id],
        )
        self.stage.drop()
        self.report.created = created
        self.report.updated = updated
        self.report.unchanged = rows - created - updated

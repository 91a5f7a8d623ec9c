"""Importing a whole directory of pipeline outputs (the paper-data layout)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from analysis.importers import kinds, naming
from analysis.importers.errors import ImportFileError
from analysis.importers.kinds import ImportReport
from analysis.importers.limits import collection_name_problem
from analysis.importers.reading import SourceFile

IMPORTERS: dict[str, type[kinds.Importer]] = {
    "queries": kinds.QueriesImporter,
    "passages": kinds.PassagesImporter,
    "qrels": kinds.QrelsImporter,
    "run": kinds.RunImporter,
    "generations": kinds.GenerationsImporter,
    "bertscore": kinds.BertScoreImporter,
    "pairwise": kinds.PairwiseImporter,
    "reasons": kinds.ReasonsImporter,
    "hard_queries": kinds.HardQueriesImporter,
}


@dataclass
class PlannedFile:
    recognised: naming.Recognised
    lines: int
    skip_reason: str = ""

    @property
    def path(self) -> Path:
        return self.recognised.path

    @property
    def kind(self) -> str | None:
        return self.recognised.kind


@dataclass
class BundlePlan:
    collection: str
    directory: str = ""
    files: list[PlannedFile] = field(default_factory=list)

    @property
    def to_import(self) -> list[PlannedFile]:
        return [f for f in self.files if not f.skip_reason]

    @property
    def skipped(self) -> list[PlannedFile]:
        return [f for f in self.files if f.skip_reason]

    def lines(self) -> list[str]:
        """The plan as printed before anything is imported."""
        out = [f"Plan for collection {self.collection} ({len(self.to_import)} files to import):"]
        width = max([len(f.path.name) for f in self.files] + [4])
        for f in self.to_import:
            note = f"  [{f.recognised.note}]" if f.recognised.note else ""
            out.append(f"  {f.path.name:<{width}}  {f.kind:<12} {f.recognised.who:<40} {f.lines:>8} lines{note}")
        for f in self.skipped:
            out.append(f"  {f.path.name:<{width}}  skipped: {f.skip_reason}")
        return out


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def bundle_plan(*, directory: str | Path, collection: str) -> BundlePlan:
    """Recognise every file of ``directory``; files of another collection or with an
    unknown name are listed as skipped."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{directory}: not a directory")
    problem = collection_name_problem(collection)
    if problem:
        raise ImportFileError(str(directory), None, problem, field="collection")
    recognised = [naming.recognise(p) for p in sorted(root.iterdir()) if p.is_file() and not p.name.startswith(".")]
    naming.resolve_generators(recognised)
    plan = BundlePlan(collection=collection, directory=str(directory))
    for r in recognised:
        reason = ""
        if r.kind is None:
            reason = r.note or "name not recognised"
        elif r.collection and r.collection != collection.lower():
            reason = f"its name says collection {r.collection}, not {collection}"
        plan.files.append(PlannedFile(r, 0 if reason else _count_lines(r.path), reason))
    order = {kind: i for i, kind in enumerate(naming.ORDER)}
    plan.files.sort(key=lambda f: (f.skip_reason != "", order.get(f.kind or "", 99), f.path.name))
    return plan


def bundle_import(*, plan: BundlePlan, replace: bool = False, dry_run: bool = False, progress: bool = False,
                  on_report: Callable[[ImportReport], None] | None = None) -> list[ImportReport]:
    """Import the files of ``plan`` in dependency order, all in one transaction: a bad
    line in any file (``FILE:LINE``) leaves the database as it was. A dry run imports
    everything (later files need the earlier ones) and rolls back."""
    if not plan.to_import:
        raise ImportFileError(
            plan.directory, None,
            "empty: no file of the bundle has a name import_bundle recognises (import_bundle --help lists them)",
            field="file",
        )
    # Every file is refused for what the importers refuse before reading (a collection
    # name that is no name, an empty file), before the first file is imported.
    importers = [
        IMPORTERS[planned.kind or ""](
            src=SourceFile.from_path(planned.path), collection=plan.collection, replace=replace, progress=progress,
            **planned.recognised.options,
        )
        for planned in plan.to_import
    ]
    for importer in importers:
        importer.check_options()
    reports = []
    with transaction.atomic():
        for importer in importers:
            report = importer.run()
            if dry_run:
                report.status = "dry-run" if report.status != "unchanged" else report.status
            reports.append(report)
            if on_report:
                on_report(report)
        if dry_run:
            transaction.set_rollback(True)
    return reports

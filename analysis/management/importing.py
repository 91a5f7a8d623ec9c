"""What the import commands share: their common flags and how they report."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.importers.errors import ImportFileError
from analysis.importers.kinds import ImportReport

COMMON_HELP = (
    "The whole file is validated before anything is written; the first bad line stops the "
    "import with FILE:LINE and a non-zero exit. Importing the same file again changes nothing."
)


def add_common_arguments(parser: CommandParser, *, collection: bool = True, several: bool = False) -> None:
    if several:
        parser.add_argument("file", nargs="+", help="the file(s) to import")
    else:
        parser.add_argument("file", help="the file to import")
    if collection:
        parser.add_argument("--collection", required=True, help="collection name, e.g. dl19 (created if new)")
    parser.add_argument("--replace", action="store_true",
                        help="delete the rows of an earlier import of the same source first")
    parser.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def common_options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": options["file"],
        "replace": options["replace"],
        "dry_run": options["dry_run"],
        "progress": not options["no_progress"],
    }


def run_import(command: BaseCommand, service: Callable[..., ImportReport], **kwargs: Any) -> None:
    """Call one import service and print its summary; a bad file becomes a CommandError."""
    try:
        report = service(**kwargs)
    except ImportFileError as exc:
        raise CommandError(str(exc)) from exc
    except ValueError as exc:  # bad option values (scale, task, setting)
        raise CommandError(str(exc)) from exc
    command.stdout.write(report.summary())

"""``manage.py export --kind KIND --collection C [...] --output FILE``: one stored output in
its pipeline's format (see ``analysis.exports``); ``--output -`` writes to stdout."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import exports


class Command(BaseCommand):
    help = (
        "Export generations, BERTScore rows, pairwise preferences, reasons, a hard-query list, qrels or a run "
        "in the pipeline's own format, so that importing the file gives back the same rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, choices=exports.KINDS)
        parser.add_argument("--collection", required=True)
        parser.add_argument("--generator", help="generations, bertscore: the generator (e.g. qwen3_8b)")
        parser.add_argument("--setting", help="generations, bertscore: zero_shot (default) or reason_expansion")
        parser.add_argument("--assessor", help="qrels (default official), pairwise, reasons: the assessor")
        parser.add_argument("--task", choices=["h2r", "h2g", "h2j"], help="reasons: the task")
        parser.add_argument("--analysis", type=int, help="hard_queries: the analysis id")
        parser.add_argument("--system", help="run: the system")
        parser.add_argument("--output", required=True, help="file to write ('-' for stdout)")

    def handle(self, *args, **o) -> None:
        request = exports.ExportRequest(
            kind=o["kind"], collection=o["collection"], generator=o["generator"], setting=o["setting"],
            assessor=o["assessor"], task=o["task"], analysis=o["analysis"], system=o["system"],
        )
        try:
            export = exports.export_prepare(request)
        except exports.ExportError as exc:
            raise CommandError(str(exc)) from exc
        if o["output"] == "-":
            for chunk in export.chunks:
                self.stdout.write(chunk, ending="")
            return
        # written beside the target and renamed at the end: a failed export leaves no half file
        target = Path(o["output"])
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.")
        except OSError as exc:
            raise CommandError(f"{target}: {exc.strerror}") from exc
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in export.chunks:
                    data = chunk.encode("utf-8")
                    size += len(data)
                    out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stderr.write(f"{o['kind']} of {o['collection']} written to {target} ({size:,} bytes)")

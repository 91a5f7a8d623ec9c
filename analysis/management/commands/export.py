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
        parser.add_argument(
            "--probabilities", metavar="FILE",
            help="qrels: also write the judgments' grade probabilities to FILE in LARA's CSV "
                 "(topic_id,doc_id,annotation,prob_0,...; what import_qrels --probabilities reads)",
        )

    def handle(self, *args, **o) -> None:
        request = exports.ExportRequest(
            kind=o["kind"], collection=o["collection"], generator=o["generator"], setting=o["setting"],
            assessor=o["assessor"], task=o["task"], analysis=o["analysis"], system=o["system"],
        )
        try:
            export = exports.export_prepare(request)
            probabilities = exports.probabilities_export_prepare(request) if o["probabilities"] else None
        except exports.ExportError as exc:
            raise CommandError(str(exc)) from exc
        if probabilities is not None:
            if o["probabilities"] == o["output"]:
                raise CommandError("--probabilities needs a file of its own (not the --output file)")
            self.write_file(probabilities, o["probabilities"], f"probabilities of the {o['kind']} of {o['collection']}")
        if o["output"] == "-":
            for chunk in export.chunks:
                self.stdout.write(chunk, ending="")
            return
        self.write_file(export, o["output"], f"{o['kind']} of {o['collection']}")

    def write_file(self, export: exports.Export, output: str, what: str) -> None:
        # written beside the target and renamed at the end: a failed export leaves no half file
        target = Path(output)
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
        self.stderr.write(f"{what} written to {target} ({size:,} bytes)")

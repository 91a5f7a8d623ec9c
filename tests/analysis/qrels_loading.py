"""Test helper: read TREC qrels files independently of the project's importers.

The agreement tests compare the project's figures with scikit-learn on arrays read
by this helper straight from the raw files.
"""
from __future__ import annotations

from pathlib import Path


def read_qrels(path: Path) -> dict[tuple[str, str], int]:
    """``qid <any> docid grade`` lines as {(qid, docid): grade}."""
    out: dict[tuple[str, str], int] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[(parts[0], parts[2])] = int(parts[3])
    return out


def import_dl21(base, *files) -> None:
    """The DL21 queries, official qrels and the given LLM judge files, through the import commands."""
    from django.core.management import call_command

    call_command("import_queries", str(base / "test2021-queries-filterd.tsv"), collection="dl21", no_progress=True)
    call_command("import_qrels", str(base / "qrels.dl21-passage.txt"), collection="dl21", no_progress=True)
    for filename, assessor, scale in files:
        call_command(
            "import_qrels", str(base / filename), collection="dl21", assessor=assessor, scale=scale, no_progress=True
        )

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

"""Helpers for the import tests: a digest of every analysis row, and small real subsets."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.apps import apps


def database_digest() -> dict[str, tuple[int, str]]:
    """Per analysis table, its row count and a hash of every row (all columns, timestamps
    too), so "the database is exactly as before" can be asserted and a failure names the
    table that changed."""
    tables = {}
    for model in sorted(apps.get_app_config("analysis").get_models(), key=lambda m: m._meta.db_table):
        fields = [f.attname for f in model._meta.concrete_fields]
        digest = hashlib.sha256()
        count = 0
        for row in model.objects.order_by("pk").values_list(*fields):
            digest.update(repr(row).encode())
            count += 1
        tables[model._meta.db_table] = (count, digest.hexdigest())
    return tables


def read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def with_bad_line(src: Path, dest: Path, bad: str) -> tuple[Path, int]:
    """A copy of ``src`` with its middle line replaced by ``bad``; returns (copy, line number)."""
    lines = read_lines(src)
    middle = len(lines) // 2
    lines[middle] = bad
    return write_lines(dest, lines), middle + 1


def dl19_subset(paper_data: Path, dest: Path, n_queries: int = 4, run_depth: int = 30) -> dict[str, Path]:
    """Real DL19 files cut down to a few queries (those with reasons), written to ``dest``."""
    dl19 = paper_data / "dl19"
    reasons_src = paper_data / "reasons" / "original.reasons.qwen3_8b.h2r.all.txt"
    reason_lines = read_lines(reasons_src)
    qids: list[str] = []
    for line in reason_lines:
        label, qid = line.split("\t")[:2]
        if label.startswith("dl19_") and qid not in qids:
            qids.append(qid)
    keep = set(qids[:n_queries])
    dest.mkdir(parents=True, exist_ok=True)

    def first(line: str, sep: str | None = None) -> str:
        return line.split(sep)[0]

    files = {
        "queries": write_lines(dest / "queries.tsv", [l for l in read_lines(dl19 / "test2019-queries-filterd.tsv") if first(l, "\t") in keep]),
        "qrels": write_lines(dest / "qrels.txt", [l for l in read_lines(dl19 / "qrels.dl19-passage.txt") if first(l) in keep]),
        "binary": write_lines(dest / "binary.txt", [l for l in read_lines(dl19 / "binary_qwen3_8b_dl19.txt") if first(l) in keep]),
    }
    rank_ok = [l for l in read_lines(dl19 / "run.msmarco-v1-passage.bm25-default.dl19.txt")
               if first(l) in keep and int(l.split()[3]) <= run_depth]
    files["run"] = write_lines(dest / "run.txt", rank_ok)
    files["generations"] = write_lines(
        dest / "gen.json",
        [l for l in read_lines(dl19 / "DL19_D2Q_ZS_qwen3_8b.json") if str(json.loads(l)["query_id"]) in keep],
    )
    # reasons of the kept DL19 queries and a few rows of DL20 (a collection not in the database)
    files["reasons"] = write_lines(
        dest / "reasons.txt",
        [l for l in reason_lines if l.startswith("dl19_") and l.split("\t")[1] in keep]
        + [l for l in reason_lines if l.startswith("dl20_")][:3],
    )
    files["keep"] = keep  # type: ignore[assignment]
    return files

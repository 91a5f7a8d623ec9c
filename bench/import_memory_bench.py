"""How much each importer raises a process's peak memory, against the size of its file.

    DATABASE_URL=postgres://... python bench/import_memory_bench.py [--mb 20] [--kinds run,qrels,...]

For every import kind, a valid file of about ``--mb`` MB is generated
(tests/analysis/large_files.py) and imported in a fresh process by
tests/analysis/memory_probe.py, which reads ``ru_maxrss`` before and after the import
and rolls everything back (the database is left as it was). ``upload`` is a run sent to
``POST /api/imports/``, ``bundle`` a zip holding a dl19 qrels and run of ``--mb`` MB
each sent to ``POST /api/imports/bundle/``, both through Django's WSGI handler with the
body read from disk as a server reads it. ``qrels_probabilities`` is a qrels file of
``--mb`` MB with ``--probabilities``, LARA's CSV of every one of its pairs (the ratio is
to both files' size).

One line per kind: the file's size, the peak RSS growth, their ratio (the goal: at most
about 2) and the seconds the import took. Kinds with one row per query
(generations, bertscore, hard_queries) stop at ``--queries`` rows.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.analysis import large_files  # noqa: E402

KINDS = [*large_files.LINES, "qrels_probabilities", "upload", "bundle"]


def measure(kind: str, directory: Path, size: int, n_queries: int) -> dict:
    queries = large_files.write_queries(directory / "queries.tsv", n_queries)
    options: dict[str, str] = {}
    probabilities: Path | None = None
    if kind == "bundle":
        path = large_files.write_bundle(directory / "dl19.zip", directory / "bundle", size, n_queries)
        collection, queries_arg = "dl19", []
    else:
        file_kind = {"upload": "run", "qrels_probabilities": "qrels"}.get(kind, kind)
        path = large_files.write_kind(file_kind, directory / f"{file_kind}.txt", size, n_queries)
        options = dict(large_files.OPTIONS[file_kind])
        if kind == "qrels_probabilities":
            probabilities = large_files.write_probabilities(directory / "probabilities.csv", path, n_queries)
            options["probabilities"] = str(probabilities)
        if kind == "upload":
            options["kind"] = "run"
        collection = "bench"
        queries_arg = [] if kind == "queries" else ["--queries", str(queries)]
    probe_kind = "qrels" if kind == "qrels_probabilities" else kind
    command = [sys.executable, str(REPO / "tests" / "analysis" / "memory_probe.py"), probe_kind, str(path),
               "--collection", collection, *queries_arg, *(f"--option={k}={v}" for k, v in options.items())]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    if done.returncode != 0:
        sys.exit(f"{kind}: the probe failed\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if kind == "bundle":
        # What the server unpacks and imports: the members, not the compressed zip.
        import zipfile

        with zipfile.ZipFile(path) as archive:
            result["unpacked_bytes"] = sum(m.file_size for m in archive.infolist())
    if probabilities is not None:
        # Both files are the import's input: the qrels of --mb MB and their CSV.
        result["unpacked_bytes"] = result["file_bytes"] + probabilities.stat().st_size
    path.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="size of each generated file, MB (default 20)")
    parser.add_argument("--queries", type=int, default=20000, help="queries of the collection (default 20000)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, default all: " + ",".join(KINDS))
    args = parser.parse_args()
    size = int(args.mb * 2**20)
    print(f"{'kind':<20} {'file MB':>8} {'growth MB':>10} {'growth/file':>12} {'seconds':>8}")
    for kind in args.kinds.split(","):
        with tempfile.TemporaryDirectory(prefix="hardq-membench-") as tmp:
            result = measure(kind, Path(tmp), size, args.queries)
        file_bytes = result.get("unpacked_bytes", result["file_bytes"])
        growth = result["after"] - result["before"]
        status = f"  (HTTP {result['status']})" if "status" in result else ""
        print(f"{kind:<20} {file_bytes / 2**20:>8.1f} {growth / 2**20:>10.1f} {growth / file_bytes:>12.2f} "
              f"{result['seconds']:>8.1f}{status}", flush=True)


if __name__ == "__main__":
    main()

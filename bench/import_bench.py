"""How close import_run gets to a raw PostgreSQL COPY of the same run file.

    DATABASE_URL=postgres://... python bench/import_bench.py [--synthetic N] [--repeat 3]

Default input: the DL19 BM25 run of the paper data (43,000 lines; HARDQ_PAPER_DATA or
../shared/paper-data beside the checkout). ``--synthetic N`` writes an N-line run over
43 queries instead. Each measurement runs in a transaction that is rolled back, so the
database is left as it was.

- import_run: the full service (read, parse and validate every line, check every qid,
  create the text-less passages of unknown docids, COPY the rows, record the source);
- reference: ``COPY scratch_table FROM STDIN`` of the file's bytes as they are, into a
  temp table with the run's six columns and no index, i.e. the floor for loading
  these rows into PostgreSQL.

Last line: ``ratio: X`` = import_run seconds / raw COPY seconds (median of the repeats).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from analysis.importers import services  # noqa: E402


class Rollback(Exception):
    pass


def paper_data() -> Path:
    for candidate in [os.environ.get("HARDQ_PAPER_DATA", ""), str(REPO.parent / "shared" / "paper-data")]:
        if candidate and Path(candidate, "dl19").is_dir():
            return Path(candidate)
    sys.exit("paper data not found: set HARDQ_PAPER_DATA")


def synthetic_run(lines: int, directory: Path) -> tuple[Path, Path]:
    rng = random.Random(7)
    queries = directory / "queries.tsv"
    qids = [str(100000 + i) for i in range(43)]
    queries.write_text("".join(f"{q}\tsynthetic query {q}\n" for q in qids))
    run = directory / "run.txt"
    per_query = lines // len(qids)
    with run.open("w") as out:
        for q in qids:
            docs = rng.sample(range(10_000_000), per_query)
            for rank, d in enumerate(docs, start=1):
                out.write(f"{q} Q0 {d} {rank} {100 - rank * 0.001:.6f} synthetic\n")
    return queries, run


def time_import(queries: Path, run: Path) -> float:
    try:
        with transaction.atomic():
            services.queries_import(collection="bench-import", path=queries)
            start = time.perf_counter()
            report = services.run_import(collection="bench-import", system="bench-bm25", path=run)
            elapsed = time.perf_counter() - start
            assert report.created == report.rows, report.summary()
            raise Rollback
    except Rollback:
        return elapsed


def time_raw_copy(run: Path) -> float:
    data = run.read_bytes()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                raw = cursor.cursor
                raw.execute(
                    "CREATE TEMP TABLE bench_scratch (qid text, q0 text, docid text, rank integer,"
                    " score double precision, tag text)"
                )
                start = time.perf_counter()
                with raw.copy("COPY bench_scratch FROM STDIN (FORMAT text, DELIMITER ' ')") as copy:
                    copy.write(data)
                elapsed = time.perf_counter() - start
                raw.execute("SELECT count(*) FROM bench_scratch")
                assert raw.fetchone()[0] == data.count(b"\n")
            raise Rollback
    except Rollback:
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=0, help="lines of a synthetic run instead of DL19 BM25")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("this benchmark compares against PostgreSQL COPY: set DATABASE_URL to a PostgreSQL database")
    with tempfile.TemporaryDirectory() as tmp:
        if args.synthetic:
            queries, run = synthetic_run(args.synthetic, Path(tmp))
        else:
            data = paper_data() / "dl19"
            queries = data / "test2019-queries-filterd.tsv"
            run = data / "run.msmarco-v1-passage.bm25-default.dl19.txt"
        lines = sum(1 for _ in run.open("rb"))
        imports, copies = [], []
        for _ in range(args.repeat):
            imports.append(time_import(queries, run))
            copies.append(time_raw_copy(run))
        t_import, t_copy = statistics.median(imports), statistics.median(copies)
        print(f"input: {run.name}, {lines} lines; {args.repeat} repeats, medians")
        print(f"import_run (parse + validate + passages + COPY): {t_import:.3f} s ({lines / t_import:,.0f} rows/s)")
        print(f"raw COPY into a scratch table:                   {t_copy:.3f} s ({lines / t_copy:,.0f} rows/s)")
        print(f"ratio: {t_import / t_copy:.2f}")


if __name__ == "__main__":
    main()

"""Benchmark: agreement of 1,000,000 label pairs stored in PostgreSQL.

Creates a scratch database (``<DATABASE_URL name>_agreement_bench``), migrates it,
bulk-loads with COPY one collection of synthetic queries and passages and two
assessors with 1,000,000 judgments each, then times

* HardQ: ``aligned_labels`` (the assessors' packed label arrays read from
  PostgreSQL and aligned in numpy) plus ``pair_agreement`` (confusion matrix,
  percent agreement, three kappas, per-grade accuracy; no bootstrap), against
* the reference: the same figures from numpy / scikit-learn (``confusion_matrix``,
  ``cohen_kappa_score`` x3, accuracy) on the same two arrays already in memory.

Three HardQ figures: *cold* (the first report after loading: both assessors' arrays
built from their judgments), *after a write* (the first report after 1,000 grades of
the LLM assessor changed: through ``analysis.judgments.judgments_write`` where it
exists, else through the ORM, whose writes the database triggers of older versions
followed; the write's own time is printed beside it) and *steady* (best of R, nothing changed). The script asserts that every
figure equals scikit-learn's, after the write too.

Usage: DATABASE_URL=postgres://... python bench/agreement_bench.py [--pairs N] [--repeat R] [--keep]
Last line: ``ratio: X`` (HardQ steady time / in-memory time, best of R).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def scratch_url(base: str) -> tuple[str, str, str]:
    parts = urlsplit(base)
    name = parts.path.lstrip("/") + "_agreement_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    return urlunsplit(parts._replace(path="/" + name)), admin, name


def copy_rows(cursor, table: str, columns: str, lines) -> None:
    buf = io.StringIO("".join(lines))
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while chunk := buf.read(1 << 20):
            copy.write(chunk)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database (the scratch one is derived from it)")
    url, admin_url, name = scratch_url(base)

    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        run(url, args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def run(url: str, args) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from sklearn.metrics import cohen_kappa_score
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    from analysis import agreement
    from analysis.agreement_selectors import aligned_labels
    from analysis.models import Assessor, Collection

    call_command("migrate", verbosity=0)
    n, n_q = args.pairs, args.queries
    rng = np.random.default_rng(2026)
    ref = rng.integers(0, 4, n)
    # An LLM-like judge: right half the time, otherwise off by a random amount.
    other = np.where(rng.random(n) < 0.5, ref, rng.integers(0, 4, n))

    t0 = time.perf_counter()
    coll = Collection.objects.create(name="bench")
    a = Assessor.objects.create(name="bench-official", kind=Assessor.OFFICIAL)
    b = Assessor.objects.create(name="bench-llm", kind=Assessor.LLM)
    with connection.cursor() as c:
        cur = c.cursor
        copy_rows(cur, "analysis_query", "collection_id, qid, text", (f"{coll.pk}\tq{i}\t\n" for i in range(n_q)))
        copy_rows(cur, "analysis_passage", "collection_id, docid, text", (f"{coll.pk}\td{i}\t\\N\n" for i in range(n)))
        cur.execute("SELECT min(id) FROM analysis_query WHERE collection_id = %s", [coll.pk])
        q0 = cur.fetchone()[0]
        cur.execute("SELECT min(id) FROM analysis_passage WHERE collection_id = %s", [coll.pk])
        p0 = cur.fetchone()[0]
        per_query = -(-n // n_q)
        for who, grades in ((a, ref), (b, other)):
            copy_rows(
                cur,
                "analysis_judgment",
                "query_id, passage_id, assessor_id, grade, valid, raw_response, updated_at",
                (f"{q0 + i // per_query}\t{p0 + i}\t{who.pk}\t{g}\tt\t\tnow\n" for i, g in enumerate(grades.tolist())),
            )
    with connection.cursor() as c:
        c.execute("ANALYZE")
    print(f"loaded {n:,} pairs x 2 assessors in {time.perf_counter() - t0:.1f} s")

    def hardq():
        data = aligned_labels(collection="bench", assessors=["bench-official", "bench-llm"])
        return agreement.pair_agreement(data.grades[:, 0], data.grades[:, 1], data.query_ids, n_boot=0)

    def in_memory():
        cm = sk_confusion_matrix(ref, other, labels=[0, 1, 2, 3])
        return (
            cm,
            float(np.mean(ref == other)),
            cohen_kappa_score(ref, other),
            cohen_kappa_score(ref, other, weights="linear"),
            cohen_kappa_score(ref, other, weights="quadratic"),
        )

    def check(result, ref_grades, other_grades) -> None:
        cm = sk_confusion_matrix(ref_grades, other_grades, labels=[0, 1, 2, 3])
        assert result.n == ref_grades.size
        assert np.array_equal(result.confusion_matrix, cm)
        want = (
            float(np.mean(ref_grades == other_grades)),
            cohen_kappa_score(ref_grades, other_grades),
            cohen_kappa_score(ref_grades, other_grades, weights="linear"),
            cohen_kappa_score(ref_grades, other_grades, weights="quadratic"),
        )
        got = (result.percent_agreement, result.kappa, result.kappa_linear, result.kappa_quadratic)
        for g, w in zip(got, want):
            assert abs(g - w) < 1e-12, (g, w)

    start = time.perf_counter()
    result = hardq()  # cold: the packed label arrays are built from the judgments here
    t_cold = time.perf_counter() - start
    check(result, ref, other)

    # 1,000 grades of the LLM assessor change, the way the project writes judgments.
    changed = rng.choice(n, 1000, replace=False)
    other = other.copy()
    other[changed] = (other[changed] + 1) % 4
    from analysis.models import Judgment

    start = time.perf_counter()
    try:
        from analysis.judgments import JudgmentRow, judgments_write
    except ImportError:  # versions before the one write path: the ORM, followed by triggers
        objs = list(Judgment.objects.filter(assessor=b, passage_id__in=[p0 + int(i) for i in changed]))
        for obj in objs:
            obj.grade = int(other[obj.passage_id - p0])
        Judgment.objects.bulk_update(objs, ["grade", "updated_at"])
    else:
        judgments_write(
            assessor=b,
            rows=[JudgmentRow(query_id=q0 + int(i) // per_query, passage_id=p0 + int(i), grade=int(other[i])) for i in changed],
        )
    t_write = time.perf_counter() - start
    start = time.perf_counter()
    result = hardq()
    t_after_write = time.perf_counter() - start
    check(result, ref, other)

    def best(fn) -> float:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    t_hardq, t_mem = best(hardq), best(in_memory)
    t_select = best(lambda: aligned_labels(collection="bench", assessors=["bench-official", "bench-llm"]))
    print(f"pairs: {n:,}  kappa={result.kappa:.4f} linear={result.kappa_linear:.4f} quadratic={result.kappa_quadratic:.4f}")
    print(f"HardQ (label arrays from PostgreSQL + numpy stats):   {t_hardq:.3f} s (selector alone {t_select:.3f} s)")
    print(f"numpy/scikit-learn on the arrays in memory:          {t_mem:.3f} s")
    print(f"HardQ cold (label arrays built from 2 x {n:,} judgments, first call after loading): {t_cold:.3f} s")
    print(f"HardQ first call after 1,000 grades of one assessor changed: {t_after_write:.3f} s"
          f" (the write itself {t_write:.3f} s)")
    met = max(t_cold, t_after_write) <= 2 and t_hardq <= 1.5 * t_mem
    print(f"goal: first report <= 2 s and steady <= 1.5x in-memory -> {'met' if met else 'NOT met'}")
    print(f"ratio: {t_hardq / t_mem:.2f}")


if __name__ == "__main__":
    main()

"""H2R benchmark: per-query judged-only nDCG@10 and hard labels of a 1M-line run.

Generates a synthetic run (1,000 queries x 1,000 documents) and graded qrels in a
temporary directory, then times, starting from the files each time:
  (a) the project's path: ``hardness h2r --run-file`` (analysis.hardness.h2r.h2r_from_files:
      pandas C parser, judged filter, pytrec_eval on the rows that matter, threshold, labels);
  (b) pytrec_eval fed by a plain Python parse of the files (the usual script);
  (c) trectools' get_ndcg(per_query=True, removeUnjudged=True) (the reference script).
Checks that (a) equals (b) exactly (|diff| < 1e-9) and (c) wherever trectools is not NaN
(trectools gives NaN where trec_eval gives 0: the defect the compat mode reproduces).

Run: python bench/h2r_bench.py [--queries 1000] [--docs 1000] [--repeat 3]
The last line is ``ratio: X`` = project time / pytrec_eval time (goal <= 1.0).
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_synthetic(dirpath: Path, n_queries: int, n_docs: int, seed: int = 13) -> tuple[Path, Path]:
    """A TREC run and graded qrels: ~10% of each ranking judged, plus judged docs never retrieved."""
    rng = random.Random(seed)
    run_path, qrels_path = dirpath / "run.txt", dirpath / "qrels.txt"
    with run_path.open("w") as run, qrels_path.open("w") as qrels:
        for q in range(n_queries):
            qid = str(100000 + q * 7)
            docids = rng.sample(range(1, 9_000_000), n_docs)
            # distinct scores (a tie would be broken differently by trectools)
            scores = sorted((rng.uniform(0, 30) for _ in range(n_docs)), reverse=True)
            lines = [f"{qid} Q0 {d} {r + 1} {s:.6f} synth\n" for r, (d, s) in enumerate(zip(docids, scores))]
            run.writelines(lines)
            judged = rng.sample(docids, n_docs // 10) + [rng.randrange(9_000_000, 9_900_000) for _ in range(20)]
            for d in judged:
                grade = rng.choices([0, 1, 2, 3], weights=[60, 20, 12, 8])[0]
                qrels.write(f"{qid} 0 {d} {grade}\n")
    return run_path, qrels_path


def project(run_path: Path, qrels_path: Path) -> dict[str, float]:
    from analysis.hardness.h2r import h2r_from_files

    outcome = h2r_from_files(run_path, qrels_path)
    assert outcome.threshold is not None and outcome.hard  # the labels are part of the timed path
    return {q: v for q, v in outcome.values.items() if v is not None}


def pytrec_plain(run_path: Path, qrels_path: Path) -> dict[str, float]:
    import pandas as pd
    import pytrec_eval

    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open() as fh:
        for line in fh:
            qid, _, docid, grade = line.split()
            qrels.setdefault(qid, {})[docid] = int(grade)
    run: dict[str, dict[str, float]] = {}
    with run_path.open() as fh:
        for line in fh:
            qid, _, docid, _, score, _ = line.split()
            judged = qrels.get(qid)
            if judged is not None and docid in judged:  # trec_eval -J
                run.setdefault(qid, {})[docid] = float(score)
    res = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    values = {q: res.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels}
    s = pd.Series(values)
    _ = s[s < s.quantile(0.25)]
    return values


def trectools_ndcg(run_path: Path, qrels_path: Path) -> dict[str, float]:
    from trectools import TrecEval, TrecQrel, TrecRun

    qrels = TrecQrel(str(qrels_path))
    run = TrecRun(str(run_path))
    run.run_data = run.run_data[run.run_data["query"].isin(qrels.qrels_data["query"].unique())]
    res = TrecEval(run, qrels).get_ndcg(depth=10, per_query=True, removeUnjudged=True)
    return {str(q): float(v) for q, v in res["NDCG@10"].items()}


def timed(fn, *args, repeat: int = 1):
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-trectools", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="h2r-bench-") as tmp:
        run_path, qrels_path = write_synthetic(Path(tmp), args.queries, args.docs)
        print(f"synthetic run: {args.queries} queries x {args.docs} docs = {args.queries * args.docs} lines")
        # interleave so that a busy machine slows both alike
        t_proj = t_ref = math.inf
        for _ in range(args.repeat):
            tp, ours = timed(project, run_path, qrels_path)
            tr, ref = timed(pytrec_plain, run_path, qrels_path)
            t_proj, t_ref = min(t_proj, tp), min(t_ref, tr)
        assert set(ours) == set(ref), "different query sets"
        worst = max(abs(ours[q] - ref[q]) for q in ref)
        assert worst < 1e-9, worst
        print(f"(a) project (hardness h2r --run-file path): {t_proj:.3f} s")
        print(f"(b) pytrec_eval + plain Python parse:       {t_ref:.3f} s   max |diff| vs project {worst:.1e}")
        if not args.skip_trectools:
            t_tt, tt = timed(trectools_ndcg, run_path, qrels_path)
            nan = [q for q, v in tt.items() if math.isnan(v)]
            assert all(ours[q] == 0.0 for q in nan)
            worst_tt = max(abs(ours[q] - v) for q, v in tt.items() if not math.isnan(v))
            assert worst_tt < 1e-9, worst_tt
            print(f"(c) trectools get_ndcg(removeUnjudged):      {t_tt:.3f} s   max |diff| {worst_tt:.1e}, "
                  f"{len(nan)} NaN where the project gives 0")
            print(f"trectools / project: {t_tt / t_proj:.1f}x")
        print(f"ratio: {t_proj / t_ref:.3f}")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")
    main()

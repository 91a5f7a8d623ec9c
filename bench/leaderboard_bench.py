"""Benchmark: the judges leaderboard of a collection with many label sets, cold and warm.

Reads the database of ``DATABASE_URL`` as it is: import the collection first (the
LLMJudge set: its queries, the official qrels and the 33 submissions with
``import_qrels --kind llm``, grades above 3 clamped to 3; see BENCHMARKS.md). Times

* *cold*: ``leaderboard_selectors.leaderboard`` after the cache is cleared (every
  row's kappas, alpha and tau computed from the label arrays), the reference of the run;
* *warm*: the same call again (rows from the cache, keyed by the labels' state), best
  and median of R;
* *API warm*: ``GET /api/judges/leaderboard/`` through Django's test client as an admin,
  median of R (the HTTP layer and the JSON rendering included).

Usage: DATABASE_URL=postgres://... python bench/leaderboard_bench.py --collection llmjudge [--repeat R]
Last line: ``ratio: X`` (warm median / cold).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--collection", required=True)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from judges import leaderboard_selectors

    cache.clear()
    start = time.perf_counter()
    board = leaderboard_selectors.leaderboard(collection=args.collection)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        again = leaderboard_selectors.leaderboard(collection=args.collection)
        warm.append(time.perf_counter() - start)
        assert again["cached"] and again["rows"] == board["rows"]
    user, _ = get_user_model().objects.get_or_create(username="leaderboard-bench", defaults={"is_staff": True})
    client = Client()
    client.force_login(user)
    api = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        response = client.get("/api/judges/leaderboard/", {"collection": args.collection})
        api.append(time.perf_counter() - start)
        assert response.status_code == 200, response.content[:200]
    user.delete()
    print(f"{args.collection}: {len(board['rows'])} rows, {len(board['excluded'])} below the coverage threshold")
    print(f"cold {cold:.3f} s; warm best {min(warm):.3f} s, median {statistics.median(warm):.3f} s; "
          f"API warm median {statistics.median(api):.3f} s, max {max(api[1:]):.3f} s after the first request "
          f"({api[0]:.3f} s: the URLconf and the API modules imported)")
    print(f"ratio: {statistics.median(warm) / cold:.3f}")


if __name__ == "__main__":
    main()

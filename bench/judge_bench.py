"""Benchmark: LLM judge job throughput against a local OpenAI-compatible server.

10,000 (query, passage) judge calls go through the real job runner (claims, cache
lookups, the async client, batched writes of calls, items and judgments) against the
fake server of the tests, answering every call after 100 ms. The reference is a
sequential loop like the reference scripts: one openai ``chat.completions.create`` at a
time on the same server; its rate is measured on a sample (--sequential-sample, 200 by
default) and extrapolated to 10,000 calls.

The job runs as ``--runners`` processes (default 2) sharing its items through their
claims, exactly as several Celery worker processes share one job; the 32 calls in
flight are split between them.

Targets: throughput >= 90% of concurrency / latency (288 calls/s at 32 concurrent), and
>= 25x the sequential loop. Runs in a throw-away test database (test_<DATABASE_URL name>).

    DATABASE_URL=postgres://... python bench/judge_bench.py [--calls 10000] [--concurrency 32]

Last line: ``ratio: X`` (job throughput / sequential throughput).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")


def _run_runner(job_id: int, database_url: str, ready, go) -> None:
    """One runner in its own process (as one Celery worker process would run it).

    The process boots Django and imports the runner first, then waits for ``go``: a
    Celery worker process is already running when a job arrives, so its start-up is
    not part of the job's throughput.
    """
    os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from judges.runner import JobRunner

    ready.set()
    go.wait()
    JobRunner(job_id).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--sequential-sample", type=int, default=200)
    parser.add_argument("--runners", type=int, default=2,
                        help="runner processes sharing the job (as Celery worker processes do); concurrency is split")
    parser.add_argument("--no-logprobs", action="store_true",
                        help="do not ask for logprobs (by default judge calls ask for top_logprobs, as jobs do)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    import openai

    from analysis.models import Assessor, Collection, Judgment, Passage, Query
    from judges import runner, selectors, services
    from tests.judges.fake_llm import FakeConfig, FakeLLMProcess

    setup_test_environment()
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        n_queries = 100
        per_query = -(-args.calls // n_queries)
        collection = Collection.objects.create(name="bench")
        official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
        queries = Query.objects.bulk_create(
            [Query(collection=collection, qid=str(i), text=f"what is benchmark topic {i}") for i in range(n_queries)]
        )
        passages = Passage.objects.bulk_create(
            [Passage(collection=collection, docid=f"{i}-{j}", text=f"Passage {j} on benchmark topic {i}, with some words.")
             for i in range(n_queries) for j in range(per_query)], batch_size=5000,
        )
        Judgment.objects.bulk_create(
            [Judgment(query=queries[k // per_query], passage=p, assessor=official, grade=k % 4)
             for k, p in enumerate(passages)][: args.calls], batch_size=5000,
        )

        with FakeLLMProcess(FakeConfig(latency=args.latency)) as server:
            # The reference: one call at a time with the SDK, as the reference scripts do.
            client = openai.OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0)
            t0 = time.perf_counter()
            for i in range(args.sequential_sample):
                client.chat.completions.create(
                    model="bench", messages=[{"role": "user", "content": f"Query: sequential {i}\nPassage: p\n##final score"}]
                )
            sequential_rate = args.sequential_sample / (time.perf_counter() - t0)

            endpoint = services.endpoint_get_or_create(
                base_url=server.base_url, model="bench-judge", timeout=30, supports_logprobs=not args.no_logprobs
            )
            template = selectors.template_resolve(prompt="graded", kinds=["graded"])
            job = services.job_create_judge(
                collection=collection, endpoint=endpoint, template=template, concurrency=args.concurrency,
                runners=args.runners,
            )
            runner.job_mark_running(job_id=job.pk)
            parts = urlsplit(os.environ.get("DATABASE_URL", ""))
            test_url = urlunsplit(parts._replace(path="/" + db_name))
            connection.close()
            context = multiprocessing.get_context("spawn")
            go = context.Event()
            readies = [context.Event() for _ in range(args.runners)]
            processes = [
                context.Process(target=_run_runner, args=(job.pk, test_url, ready, go)) for ready in readies
            ]
            for p in processes:
                p.start()
            for ready in readies:  # every worker process booted, as in a running Celery worker
                ready.wait(timeout=120)
            t0 = time.perf_counter()
            go.set()
            for p in processes:
                p.join()
            elapsed = time.perf_counter() - t0
            if any(p.exitcode for p in processes):
                raise SystemExit("a runner process failed")
            job = runner.job_finish(job_id=job.pk)
            server_requests = server.stats()["requests"]
        job_rate = job.calls / elapsed
        ideal = args.concurrency / args.latency
        print(f"server latency: {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, ideal {ideal:.0f} calls/s")
        print(f"sequential loop: {sequential_rate:.2f} calls/s (measured on {args.sequential_sample} calls; "
              f"10,000 calls would take {args.calls / sequential_rate:.0f} s)")
        print(f"job: {job.calls} calls ({server_requests} seen by the server), {job.done} judged, {job.invalid} invalid, "
              f"{job.failed} failed in {elapsed:.1f} s = {job_rate:.1f} calls/s "
              f"({100 * job_rate / ideal:.1f}% of concurrency/latency) with {args.runners} runner process(es), "
              f"{args.concurrency} calls in flight in all, logprobs {'not asked' if args.no_logprobs else 'asked'}")
        print(f"machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"ratio: {job_rate / sequential_rate:.1f}")
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)


if __name__ == "__main__":
    main()

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

``--workers 1,3`` measures one job over several workers instead (each a process that
runs the job's task body, as one Celery worker process does; they share the items
through their claims), every setting in the same run, against the same server:

- slow endpoint (``--slow-latency``, 1 s per call), ``--slow-in-flight`` (8) calls in
  flight per worker, ``--slow-calls`` (240) calls per worker: the throughput of each
  worker count, and its ratio to one worker's (target: three workers >= 2.7x);
- fast endpoint (``--latency``, 100 ms), ``--concurrency`` (32) calls in flight in all,
  ``--calls`` (10,000) calls: the platform's overhead per call, elapsed x calls in
  flight / calls - the endpoint's latency (target: under 5 ms), and the CPU the worker
  processes spent per call.

Each job asks a model name of its own, so no job answers from another's cache. The
clock runs from the moment the booted workers are let go to the moment the job's
counters say every item is finished.
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


def _run_worker(job_id: int, database_url: str, worker: str, ready, go, cpu) -> None:
    """One worker of ``--workers``: the task's body (``runner.job_run``) under the worker's name."""
    os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from judges import runner

    ready.set()
    go.wait()
    started = time.process_time()  # all threads of the process, from the start of the job
    profile_dir = os.environ.get("HARDQ_BENCH_PROFILE", "")
    if not profile_dir:
        runner.job_run(job_id=job_id, worker=worker)
        cpu.put(time.process_time() - started)
        return
    import cProfile

    # HARDQ_BENCH_PROFILE=DIR: each worker's profile (all threads but the engine's) in DIR.
    cProfile.runctx("runner.job_run(job_id=job_id, worker=worker)", globals(), locals(),
                    str(Path(profile_dir) / f"job{job_id}-{os.getpid()}.prof"))
    cpu.put(time.process_time() - started)


def _time_job(*, job_id: int, test_url: str, workers: int) -> tuple[float, float]:
    """Run the job on ``workers`` processes; (seconds until every item is finished, CPU
    seconds the worker processes spent)."""
    from django.db import connection

    from judges.models import LLMJob

    connection.close()
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    cpu = context.Queue()
    readies = [context.Event() for _ in range(workers)]
    processes = [
        context.Process(target=_run_worker, args=(job_id, test_url, f"bench-worker-{n}@local", ready, go, cpu))
        for n, ready in enumerate(readies, 1)
    ]
    for p in processes:
        p.start()
    for ready in readies:
        ready.wait(timeout=120)
    t0 = time.perf_counter()
    go.set()
    total = LLMJob.objects.get(pk=job_id).total
    while True:
        job = LLMJob.objects.only("done", "invalid", "failed").get(pk=job_id)
        if job.finished_items >= total:
            break
        if not any(p.is_alive() for p in processes):
            raise SystemExit("the workers stopped before the job was finished")
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    seconds = [cpu.get(timeout=120) for _ in processes]
    for p in processes:
        p.join()
    if any(p.exitcode for p in processes):
        raise SystemExit("a worker process failed")
    return elapsed, sum(seconds)


def seed_collection(pairs: int):
    """A collection "bench" of 100 queries with ``pairs`` officially judged pairs."""
    from analysis.models import Assessor, Collection, Judgment, Passage, Query

    n_queries = 100
    per_query = -(-pairs // n_queries)
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
         for k, p in enumerate(passages)][:pairs], batch_size=5000,
    )
    return collection


def workers_main(args: argparse.Namespace) -> None:
    """``--workers 1,3``: throughput per worker count (slow endpoint), overhead per call (fast)."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from judges import selectors, services
    from django.db.models import Avg

    from judges.models import LLMCall, LLMJob
    from tests.judges.fake_llm import FakeConfig, FakeLLMProcess

    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if not counts or min(counts) < 1:
        raise SystemExit("--workers: a comma-separated list of worker counts, e.g. 1,3")
    need = max(args.calls, max(counts) * args.slow_calls)
    setup_test_environment()
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    test_url = urlunsplit(urlsplit(os.environ.get("DATABASE_URL", ""))._replace(path="/" + db_name))
    print(f"judge_bench --workers {args.workers}: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    try:
        collection = seed_collection(need)
        template = selectors.template_resolve(prompt="graded", kinds=["graded"])

        def job_for(name: str, *, calls: int, concurrency: int, workers: int) -> int:
            endpoint = services.endpoint_get_or_create(
                base_url=server.base_url, model=f"bench-{name}", timeout=30, supports_logprobs=not args.no_logprobs
            )
            job = services.job_create_judge(
                collection=collection, endpoint=endpoint, template=template, concurrency=concurrency,
                runners=workers, limit=calls, assessor_name=f"bench-{name}",
            )
            return job.pk

        with FakeLLMProcess(FakeConfig(latency=args.slow_latency)) as server:
            rates: dict[int, float] = {}
            for w in counts:
                job_id = job_for(f"slow-{w}", calls=w * args.slow_calls, concurrency=w * args.slow_in_flight, workers=w)
                elapsed, cpu = _time_job(job_id=job_id, test_url=test_url, workers=w)
                job = LLMJob.objects.get(pk=job_id)
                rates[w] = job.calls / elapsed
                print(f"slow endpoint ({args.slow_latency * 1000:.0f} ms, {args.slow_in_flight} in flight per worker), "
                      f"{w} worker(s): {job.calls} calls, {job.done} judged, {job.failed} failed in {elapsed:.1f} s "
                      f"= {rates[w]:.2f} calls/s ({rates[w] / rates[counts[0]]:.2f}x {counts[0]} worker(s); "
                      f"ideal {w * args.slow_in_flight / args.slow_latency:.0f}/s); "
                      f"load average {os.getloadavg()[0]:.1f}")
            server.configure(latency=args.latency)
            for w in counts:
                job_id = job_for(f"fast-{w}", calls=args.calls, concurrency=args.concurrency, workers=w)
                elapsed, cpu = _time_job(job_id=job_id, test_url=test_url, workers=w)
                job = LLMJob.objects.get(pk=job_id)
                overhead = elapsed * args.concurrency / job.calls - args.latency
                # What the client saw per call (send to answer read, on the engine's loop):
                # the endpoint's latency plus transport and event-loop delays.
                seen = LLMCall.objects.filter(job_id=job_id, error="").aggregate(ms=Avg("latency_ms"))["ms"] or 0.0
                print(f"fast endpoint ({args.latency * 1000:.0f} ms, {args.concurrency} in flight in all), "
                      f"{w} worker(s): {job.calls} calls, {job.done} judged, {job.failed} failed in {elapsed:.1f} s "
                      f"= {job.calls / elapsed:.1f} calls/s; overhead per call {elapsed:.2f} x {args.concurrency} / "
                      f"{job.calls} - {args.latency * 1000:.0f} ms = {overhead * 1000:.2f} ms; worker CPU "
                      f"{cpu * 1000 / job.calls:.2f} ms per call; latency seen by the client {seen:.1f} ms; load average {os.getloadavg()[0]:.1f}")
        if len(counts) > 1:
            print(f"ratio: {rates[counts[-1]] / rates[counts[0]]:.2f}")
    finally:
        connection.close()
        connection.creation.destroy_test_db(db_name, verbosity=0)


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
    parser.add_argument("--workers", default="",
                        help="comma-separated worker counts (e.g. 1,3): the slow/fast endpoint runs described above")
    parser.add_argument("--slow-latency", type=float, default=1.0)
    parser.add_argument("--slow-in-flight", type=int, default=8, help="calls in flight per worker (slow endpoint)")
    parser.add_argument("--slow-calls", type=int, default=240, help="calls per worker (slow endpoint)")
    args = parser.parse_args()
    if args.workers:
        workers_main(args)
        return

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    import openai

    from judges import runner, selectors, services
    from tests.judges.fake_llm import FakeConfig, FakeLLMProcess

    setup_test_environment()
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        collection = seed_collection(args.calls)

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

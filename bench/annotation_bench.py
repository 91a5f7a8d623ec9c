"""p95 latency of the annotation screen and of submit under 50 concurrent annotators.

What it does, all on loopback:
1. creates a scratch PostgreSQL database (``<db>_bench`` beside DATABASE_URL's, or
   ``--database-url``), migrates it, and seeds a reasons campaign of the H2R kind (the
   heaviest screen: the run's top 10 with official grades, nDCG against the threshold,
   six proposed reasons of two models, the taxonomy) with k = 3 and 50 annotators;
2. starts gunicorn (4 gthread workers x 4 threads: two processes per core) on a free
   port as in production: DEBUG off (cached template loader), SECRET_KEY and
   ALLOWED_HOSTS set, persistent database connections (CONN_MAX_AGE=60);
3. runs 50 simulated annotators in threads, each with its own session and keep-alive
   connection (plain http.client, the lightest client): a warm-up screen load and the
   POST that takes the first lease (not measured), then load the screen, think, submit verdicts for every reason (the
   response is the next item's panel), think, until its item budget or the time limit
   is used up. Think time is drawn uniformly from ``--think`` seconds: real annotators
   spend 5-30 s per query-passage pair or reason list, so the default 1-3 s is
   pessimistic; ``--think 0.2 0.8`` is the heavy setting, ``--think 0 0`` the
   closed-loop stress figure;
4. prints p50/p95/p99 per endpoint and the machine's load average, checks that no item
   got more than k annotations, stops gunicorn and drops the scratch database.

The last line is ``p95_ms: X``, the larger of the two endpoints' p95.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hardq python bench/annotation_bench.py
    DATABASE_URL=... python bench/annotation_bench.py --in-process 100 [--profile]  # service time, SQL counts
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit


REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT_RE = re.compile(r'id="item-panel"[^>]*data-assignment="(\d+)"')
VERDICT_RE = re.compile(r'name="verdict_(\d+)" value="agree"')


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default="", help="scratch database URL (default: <DATABASE_URL db>_bench)")
    p.add_argument("--annotators", type=int, default=50)
    p.add_argument("--items", type=int, default=400)
    p.add_argument("--overlap", type=int, default=3)
    p.add_argument("--per-annotator", type=int, default=12, help="items each simulated annotator submits at most")
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds for the whole load phase")
    # Reading a query, ten passages and six reasons and deciding takes people 5-30 s per
    # item; 1-3 s between requests is a deliberately pessimistic default (more load than
    # 50 real annotators make). --think 0.2 0.8 is the heavy setting.
    p.add_argument("--think", type=float, nargs=2, default=[1.0, 3.0], metavar=("MIN", "MAX"))
    # Two cores: two gunicorn processes per core (gunicorn's advice is 2-4 per core), so
    # that one runs Python while another waits on PostgreSQL (one GIL per process);
    # threads cover more concurrent waits. 4 x 4 beat 2 x 8 here (p95 150 vs 201 ms).
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--port", type=int, default=0, help="gunicorn's port (default: a free one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch database")
    p.add_argument("--in-process", type=int, default=0, metavar="N",
                   help="no server: time N screens and N submits one at a time with Django's test client "
                        "(DEBUG off), count their SQL queries, and stop")
    p.add_argument("--show-sql", action="store_true", help="with --in-process: print the SQL of the last screen "
                   "and submit with each statement's time")
    p.add_argument("--profile", action="store_true", help="with --in-process: print a cProfile (CPU time) of the "
                   "timed requests; PROFILE_ONLY=screen|submit, PROFILE_SORT, PROFILE_FILTER narrow it")
    return p.parse_args()


def scratch_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return args.database_url
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL server (the benchmark makes its own scratch database)")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_bench"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def seed(args: argparse.Namespace) -> tuple[int, list[str]]:
    """Campaign + annotators; returns the campaign id and one session key per annotator."""
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connections

    from analysis import models as am
    from annotation import services

    User = get_user_model()
    coll = am.Collection.objects.create(name="bench", corpus="msmarco-v1-passage")
    official = am.Assessor.objects.create(name="official", kind=am.Assessor.OFFICIAL)
    models = [am.Assessor.objects.create(name=n, kind=am.Assessor.LLM) for n in ("llama3.2:latest", "qwen3:8b")]
    analysis = am.HardnessAnalysis.objects.create(
        task="h2r", collection=coll, subject="bm25", measure="ndcg_cut_10", threshold=0.3, status="done"
    )
    run = am.Run.objects.create(system=am.System.objects.create(name="bm25"), collection=coll)
    queries = am.Query.objects.bulk_create(
        [am.Query(collection=coll, qid=str(10000 + i), text=f"what is the boiling point of substance {i}")
         for i in range(args.items)]
    )
    passages = am.Passage.objects.bulk_create(
        [am.Passage(collection=coll, docid=f"D{i}", text=("A passage with <b>markup</b> & words. " * 12))
         for i in range(args.items * 10)]
    )
    rows, judgments, labels, proposals = [], [], [], []
    for qi, q in enumerate(queries):
        for rank in range(10):
            p = passages[qi * 10 + rank]
            rows.append(am.RunRow(run=run, query=q, passage=p, rank=rank + 1, score=20.0 - rank))
            judgments.append(am.Judgment(query=q, passage=p, assessor=official, grade=(qi + rank) % 4))
        labels.append(am.HardnessLabel(analysis=analysis, query=q, value=0.1, hard=True))
        # a pipeline label of the collection and the analysis's subject: what a campaign over the analysis shows
        proposals += [am.ReasonProposal(query=q, task="h2r", assessor=m, label="bench_bm25_bertscore_umbrela_0.3",
                                        label_collection="bench", subject="bm25", settings="bertscore_umbrela",
                                        quantile=0.3) for m in models]
    am.RunRow.objects.bulk_create(rows)
    am.Judgment.objects.bulk_create(judgments)
    am.HardnessLabel.objects.bulk_create(labels)
    proposals = am.ReasonProposal.objects.bulk_create(proposals)
    am.Reason.objects.bulk_create(
        [am.Reason(proposal=pr, position=i, text=f"Reason {i}: the query needs <specific> data.")
         for pr in proposals for i in range(3)]
    )
    users = User.objects.bulk_create([User(username=f"bench{i:02d}") for i in range(args.annotators)])
    campaign = services.campaign_create(
        name="bench", kind="reasons", task="h2r", collection=coll, annotators=users, overlap=args.overlap,
        analysis=analysis, blind=True, guidelines="# Guidelines\nAgree when the reason **explains** the failure.",
    )
    keys = []
    for user in users:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    connections.close_all()
    return campaign.pk, keys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(args: argparse.Namespace, env: dict[str, str], port: int) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "gunicorn", "hardq_site.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", str(args.workers), "--threads", str(args.threads),
        "--log-level", "warning", "--keep-alive", "75",  # annotators think for seconds between requests
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/accounts/login/")
            if conn.getresponse().status == 200:
                return proc
        except (OSError, http.client.HTTPException):
            pass
        if proc.poll() is not None:
            sys.exit("gunicorn exited during start-up")
        time.sleep(0.3)
    proc.terminate()
    sys.exit("gunicorn did not answer within 60 s")


class Browser:
    """One annotator's keep-alive HTTP connection with their session and CSRF cookies.

    Plain ``http.client``: the load generator shares the two cores with the server, so
    it should cost as little CPU per request as possible (``requests`` costs several
    times more per call).
    """

    def __init__(self, port: int, session_key: str) -> None:
        self.port = port
        token = secrets.token_hex(16)  # 32 characters: a valid unmasked CSRF secret
        self.headers = {
            "Cookie": f"sessionid={session_key}; csrftoken={token}",
            "X-CSRFToken": token, "HX-Request": "true", "Referer": f"http://127.0.0.1:{port}/",
            "Host": f"127.0.0.1:{port}",
        }
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):  # the server may have closed an idle keep-alive connection
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read().decode()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def annotator(port: int, campaign: int, session_key: str, args: argparse.Namespace, stop_at: float,
              seed_value: int) -> dict[str, list[float]]:
    """One simulated annotator; returns its latencies in milliseconds per endpoint."""
    rng = random.Random(seed_value)
    browser = Browser(port, session_key)
    out: dict[str, list[float]] = {"screen": [], "submit": [], "errors": []}
    screen_url = f"/annotation/campaigns/{campaign}/"
    # People do not all click in the same millisecond: start at a random moment of the
    # first think interval, then warm up (connection, session; not measured) and think.
    time.sleep(rng.uniform(0, args.think[1]))
    browser.request("GET", screen_url)
    # The page's first load asks for a lease with a POST (HTMX on load); the screen
    # loads measured below show that lease, as when an annotator reloads the page.
    browser.request("POST", f"/annotation/campaigns/{campaign}/next/", {})
    time.sleep(rng.uniform(*args.think))
    for _ in range(args.per_annotator):
        if time.monotonic() > stop_at:
            break
        t0 = time.perf_counter()
        status, text = browser.request("GET", screen_url)
        out["screen"].append((time.perf_counter() - t0) * 1000)
        m = ASSIGNMENT_RE.search(text)
        if status != 200 or not m:
            if "Nothing left for you" not in text:
                out["errors"].append(status)
            break
        time.sleep(rng.uniform(*args.think))
        data = {f"verdict_{rid}": rng.choice(["agree", "disagree", "unsure"]) for rid in set(VERDICT_RE.findall(text))}
        data.update(comment="", confidence=str(rng.randint(1, 5)), elapsed_ms="4000")
        t0 = time.perf_counter()
        status, text = browser.request("POST", f"/annotation/assignments/{m.group(1)}/submit/", data)
        out["submit"].append((time.perf_counter() - t0) * 1000)
        if status != 200 or 'class="error"' in text:
            out["errors"].append(status)
        time.sleep(rng.uniform(*args.think))
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def in_process(args: argparse.Namespace, campaign: int, keys: list[str]) -> None:
    """Service time without HTTP or contention: one request at a time, in this process."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    screen_url = f"/annotation/campaigns/{campaign}/"
    times: dict[str, list[float]] = {"screen": [], "submit": []}
    # This process's CPU time per request: unlike wall time it hardly depends on what
    # else the shared machine runs (PostgreSQL's own CPU is not in it).
    cpu: dict[str, list[float]] = {"screen": [], "submit": []}
    sql: dict[str, list[tuple[int, float]]] = {"screen": [], "submit": []}
    # The profile counts this thread's CPU time, not wall time: on a shared machine the
    # waits on PostgreSQL and on other processes would otherwise hide where Python spends.
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    rng = random.Random(1)
    clients = []
    for key in keys:
        c = Client(HTTP_HX_REQUEST="true")
        c.cookies["sessionid"] = key
        c.get(screen_url)  # warm-up: fills the caches
        c.post(f"/annotation/campaigns/{campaign}/next/")  # takes the first lease
        clients.append(c)

    def timed(name: str, fn: Any) -> Any:
        with CaptureQueriesContext(connection) as ctx:
            profiling = profiler is not None and os.environ.get("PROFILE_ONLY", name) == name
            if profiling:
                profiler.enable()
            t0, c0 = time.perf_counter(), time.thread_time()
            r = fn()
            times[name].append((time.perf_counter() - t0) * 1000)
            cpu[name].append((time.thread_time() - c0) * 1000)
            if profiling:
                profiler.disable()
        sql[name].append((len(ctx.captured_queries), sum(float(q["time"]) for q in ctx.captured_queries) * 1000))
        if args.show_sql and len(times[name]) == args.in_process:  # the last request of each kind
            print(f"--- SQL of the last {name} ---")
            for q in ctx.captured_queries:
                print(f"{float(q['time']) * 1000:6.2f} ms  {q['sql'][:300]}")
        return r

    for n in range(args.in_process):
        c = clients[n % len(clients)]
        r = timed("screen", lambda: c.get(screen_url))
        m = ASSIGNMENT_RE.search(r.content.decode())
        if not m:
            break
        data = {f"verdict_{rid}": rng.choice(["agree", "disagree", "unsure"])
                for rid in set(VERDICT_RE.findall(r.content.decode()))}
        data.update(comment="", confidence="3", elapsed_ms="4000")
        timed("submit", lambda: c.post(f"/annotation/assignments/{m.group(1)}/submit/", data))
    for name in ("screen", "submit"):
        v = times[name]
        queries = statistics.median(q for q, _ in sql[name])
        print(f"{name:7s} n={len(v):4d}  median={statistics.median(v):6.1f} ms  p95={pct(v, 95):6.1f} ms  "
              f"CPU median={statistics.median(cpu[name]):5.1f} ms  queries={queries:.0f}  "
              f"SQL time (client side) median={statistics.median(t for _, t in sql[name]):5.1f} ms")
    if profiler:
        pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(os.environ.get("PROFILE_FILTER", ""), 45)


def main() -> None:
    args = parse_args()
    url = scratch_url(args)
    # One secret for the seeding process and the server: the sessions made here are signed with it.
    secret = secrets.token_urlsafe(40)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "hardq_site.settings", "SECRET_KEY": secret}
    os.environ.update({"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "hardq_site.settings", "SECRET_KEY": secret})
    if args.in_process:  # the server's settings in this process (cached template loader, no debug cursor)
        os.environ.update({"DEBUG": "0", "ALLOWED_HOSTS": "testserver", "CONN_MAX_AGE": "60", "LOG_LEVEL": "ERROR"})
    sys.path.insert(0, str(REPO))
    print(f"scratch database {urlsplit(url).path.lstrip('/')}", flush=True)
    recreate_database(url)
    proc = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
        campaign, keys = seed(args)
        if args.in_process:
            in_process(args, campaign, keys)
            return
        port = args.port or free_port()
        server_env = {
            **env, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1",
            "CONN_MAX_AGE": "60", "LOG_LEVEL": "ERROR",
        }
        proc = start_gunicorn(args, server_env, port)
        base = f"http://127.0.0.1:{port}"
        print(f"gunicorn {args.workers} workers x {args.threads} threads on {base}; {len(keys)} annotators, "
              f"{args.items} items, k={args.overlap}, think {args.think[0]}-{args.think[1]} s", flush=True)
        print("load average (1, 5, 15 min) at the start: " + " ".join(f"{v:.2f}" for v in os.getloadavg()), flush=True)
        stop_at = time.monotonic() + args.time_limit
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(keys)) as pool:
            results = list(pool.map(lambda ik: annotator(port, campaign, ik[1], args, stop_at, ik[0]), enumerate(keys)))
        elapsed = time.monotonic() - started
        screen = [v for r in results for v in r["screen"]]
        submit = [v for r in results for v in r["submit"]]
        errors = [v for r in results for v in r["errors"]]
        for name, values in (("screen", screen), ("submit", submit)):
            print(f"{name:7s} n={len(values):5d}  p50={pct(values, 50):7.1f} ms  p95={pct(values, 95):7.1f} ms  "
                  f"p99={pct(values, 99):7.1f} ms  max={max(values, default=float('nan')):7.1f} ms", flush=True)
        print(f"throughput {(len(screen) + len(submit)) / elapsed:.1f} req/s over {elapsed:.1f} s; errors {len(errors)}")
        print("load average (1, 5, 15 min) at the end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
        from annotation.models import Item

        over = Item.objects.filter(campaign_id=campaign, completed_count__gt=args.overlap).count()
        print(f"items over k: {over}")
        if errors or over:
            sys.exit(f"benchmark run was not clean: {len(errors)} errors, {over} items over k")
        print(f"p95_ms: {max(pct(screen, 95), pct(submit, 95)):.1f}")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()

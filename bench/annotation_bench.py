"""p95 latency of the annotation screen and of submit under 50 concurrent annotators.

What it does, all on loopback:
1. creates a scratch PostgreSQL database (``<db>_bench`` beside DATABASE_URL's, or
   ``--database-url``), migrates it, and seeds a reasons campaign of the H2R kind (the
   heaviest screen: the run's top 10 with official grades, nDCG against the threshold,
   six proposed reasons of two models, the taxonomy) with k = 3 and 50 annotators;
2. starts gunicorn (gthread workers) on a free port with DEBUG off;
3. runs 50 simulated annotators in a thread pool, each with its own session: load the
   screen, think, submit verdicts for every reason, think, until its item budget or the
   time limit is used up. Think time is drawn uniformly from ``--think`` seconds (people
   read between keystrokes; ``--think 0`` gives the closed-loop stress figure);
4. prints p50/p95/p99 per endpoint, checks that no item got more than k annotations,
   stops gunicorn and drops the scratch database.

The last line is ``p95_ms: X``, the larger of the two endpoints' p95.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hardq python bench/annotation_bench.py
"""
from __future__ import annotations

import argparse
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
from urllib.parse import urlsplit, urlunsplit

import requests

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
    p.add_argument("--think", type=float, nargs=2, default=[0.2, 0.8], metavar=("MIN", "MAX"))
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the scratch database")
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
        proposals += [am.ReasonProposal(query=q, task="h2r", assessor=m) for m in models]
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
            if requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            sys.exit("gunicorn exited during start-up")
        time.sleep(0.3)
    proc.terminate()
    sys.exit("gunicorn did not answer within 60 s")


def annotator(base: str, campaign: int, session_key: str, args: argparse.Namespace, stop_at: float,
              seed_value: int) -> dict[str, list[float]]:
    """One simulated annotator; returns its latencies in milliseconds per endpoint."""
    rng = random.Random(seed_value)
    token = secrets.token_hex(16)  # 32 characters: a valid unmasked CSRF secret
    s = requests.Session()
    s.cookies.set("sessionid", session_key, domain="127.0.0.1")
    s.cookies.set("csrftoken", token, domain="127.0.0.1")
    headers = {"X-CSRFToken": token, "HX-Request": "true", "Referer": base}
    out: dict[str, list[float]] = {"screen": [], "submit": [], "errors": []}
    screen_url = f"{base}/annotation/campaigns/{campaign}/"
    # People do not all click in the same millisecond: start at a random moment of the
    # first think interval, then warm up (connection, session; not measured) and think.
    time.sleep(rng.uniform(0, args.think[1]))
    s.get(screen_url, timeout=30)
    time.sleep(rng.uniform(*args.think))
    for _ in range(args.per_annotator):
        if time.monotonic() > stop_at:
            break
        t0 = time.perf_counter()
        r = s.get(screen_url, timeout=30)
        out["screen"].append((time.perf_counter() - t0) * 1000)
        m = ASSIGNMENT_RE.search(r.text)
        if r.status_code != 200 or not m:
            if "Nothing left for you" not in r.text:
                out["errors"].append(r.status_code)
            break
        time.sleep(rng.uniform(*args.think))
        data = {f"verdict_{rid}": rng.choice(["agree", "disagree", "unsure"]) for rid in set(VERDICT_RE.findall(r.text))}
        data.update(comment="", confidence=str(rng.randint(1, 5)), elapsed_ms="4000")
        t0 = time.perf_counter()
        r = s.post(f"{base}/annotation/assignments/{m.group(1)}/submit/", data=data, headers=headers, timeout=30)
        out["submit"].append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200 or 'class="error"' in r.text:
            out["errors"].append(r.status_code)
        time.sleep(rng.uniform(*args.think))
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    args = parse_args()
    url = scratch_url(args)
    # One secret for the seeding process and the server: the sessions made here are signed with it.
    secret = secrets.token_urlsafe(40)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "hardq_site.settings", "SECRET_KEY": secret}
    os.environ.update({"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "hardq_site.settings", "SECRET_KEY": secret})
    sys.path.insert(0, str(REPO))
    print(f"scratch database {urlsplit(url).path.lstrip('/')}", flush=True)
    recreate_database(url)
    proc = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
        campaign, keys = seed(args)
        port = free_port()
        server_env = {
            **env, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1",
            "CONN_MAX_AGE": "60", "LOG_LEVEL": "ERROR",
        }
        proc = start_gunicorn(args, server_env, port)
        base = f"http://127.0.0.1:{port}"
        print(f"gunicorn {args.workers} workers x {args.threads} threads on {base}; {len(keys)} annotators, "
              f"{args.items} items, k={args.overlap}, think {args.think[0]}-{args.think[1]} s", flush=True)
        stop_at = time.monotonic() + args.time_limit
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(keys)) as pool:
            results = list(pool.map(lambda ik: annotator(base, campaign, ik[1], args, stop_at, ik[0]), enumerate(keys)))
        elapsed = time.monotonic() - started
        screen = [v for r in results for v in r["screen"]]
        submit = [v for r in results for v in r["submit"]]
        errors = [v for r in results for v in r["errors"]]
        for name, values in (("screen", screen), ("submit", submit)):
            print(f"{name:7s} n={len(values):5d}  p50={pct(values, 50):7.1f} ms  p95={pct(values, 95):7.1f} ms  "
                  f"p99={pct(values, 99):7.1f} ms  max={max(values, default=float('nan')):7.1f} ms", flush=True)
        print(f"throughput {(len(screen) + len(submit)) / elapsed:.1f} req/s over {elapsed:.1f} s; errors {len(errors)}")
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

"""Export 1,000,000 judgments as TREC qrels through the API and measure the server's memory.

What it does:
1. creates a scratch PostgreSQL database beside DATABASE_URL's (``<name>_exportbench``),
   migrates it and loads 1,000 queries x 1,000 passages = 1,000,000 judgments with COPY;
2. serves HardQ with gunicorn (one sync worker) on loopback;
3. warms the worker up with a small API call, then downloads
   ``GET /api/collections/bench/qrels/?assessor=official`` with a token, consuming the
   stream chunk by chunk, and checks that every line arrived;
4. samples the worker's resident memory while it streams (and reads its high-water mark).

The goal (issue 8) is a peak growth of the serving process under 100 MB. The last line is
``peak_mb: X`` (peak resident memory during the export minus the memory before it).

Usage: DATABASE_URL=postgres://USER@HOST:PORT/DB python bench/api_export_bench.py [--queries 1000 --passages 1000]
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found for {pid}")


def worker_pid(master: int) -> int:
    """The gunicorn worker: the master's only child."""
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def child_peak_mb(args: list[str], env: dict) -> float:
    """Peak RSS (MB) of a manage.py child process (its own high-water mark, from wait4)."""
    proc = subprocess.Popen([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed")
    return usage.ru_maxrss / 1024


def scratch_url(base_url: str) -> tuple[str, str, str]:
    """(admin URL on the postgres DB, scratch DB URL, scratch DB name)."""
    head, _, name = base_url.rpartition("/")
    name = (name.split("?")[0] or "hardq") + "_exportbench"
    return f"{head}/postgres", f"{head}/{name}", name


def setup_database(url: str, n_queries: int, n_passages: int) -> str:
    """Migrate the scratch DB, load the judgments with COPY; return an admin token."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True)
    script = (
        "from django.contrib.auth import get_user_model;"
        "from rest_framework.authtoken.models import Token;"
        "u=get_user_model().objects.create_superuser('bench','b@example.org','bench-pass-123');"
        "print(Token.objects.create(user=u).key)"
    )
    token = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=REPO, env=env, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    with psycopg.connect(url, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO analysis_collection (name, corpus, description, created_at) VALUES ('bench','','',now()) RETURNING id")
        collection = cur.fetchone()[0]
        cur.execute("INSERT INTO analysis_assessor (name, kind, scale, model, prompt_template, prompt_version, parameters, created_at)"
                    " VALUES ('official','official','graded','','','','{}',now()) RETURNING id")
        assessor = cur.fetchone()[0]
        with cur.copy("COPY analysis_query (collection_id, qid, text) FROM STDIN") as copy:
            for q in range(n_queries):
                copy.write_row((collection, f"{100000 + q}", f"query number {q}"))
        with cur.copy("COPY analysis_passage (collection_id, docid, text) FROM STDIN") as copy:
            for p in range(n_passages):
                copy.write_row((collection, f"msmarco_passage_{p:08d}", None))
        cur.execute("SELECT id FROM analysis_query WHERE collection_id=%s ORDER BY id", [collection])
        qids = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT id FROM analysis_passage WHERE collection_id=%s ORDER BY id", [collection])
        pids = [r[0] for r in cur.fetchall()]
        with cur.copy(
            "COPY analysis_judgment (query_id, passage_id, assessor_id, grade, valid, raw_response, updated_at) FROM STDIN"
        ) as copy:
            buf = io.StringIO()
            for i, q in enumerate(qids):
                for j, p in enumerate(pids):
                    buf.write(f"{q}\t{p}\t{assessor}\t{(i + j) % 4}\tt\t\t2026-01-01 00:00:00+00\n")
                copy.write(buf.getvalue())
                buf.seek(0)
                buf.truncate()
        conn.commit()
        cur.execute("ANALYZE")
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--passages", type=int, default=1000)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database (the scratch DB is created beside it)")
    admin_url, url, name = scratch_url(base)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    server = None
    try:
        t0 = time.perf_counter()
        token = setup_database(url, args.queries, args.passages)
        expected = args.queries * args.passages
        print(f"loaded {expected:,} judgments in {time.perf_counter() - t0:.1f}s", flush=True)

        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "0",
            "SECRET_KEY": "export-bench-only",
            "ALLOWED_HOSTS": "127.0.0.1",
            "HARDQ_API_RATE_USER": "100000/hour",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "hardq_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "600"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        headers = {"Authorization": f"Token {token}"}
        base_http = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base_http}/api/collections/", headers=headers, timeout=5).raise_for_status()
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        worker = worker_pid(server.pid)
        # warm-up: the export path's imports and the first DB connection, on a tiny export
        requests.get(f"{base_http}/api/collections/bench/qrels/?assessor=nobody", headers=headers, timeout=30)
        before = rss_kb(worker)
        peak = before
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_kb(worker))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        lines = 0
        size = 0
        tail = b""
        with requests.get(f"{base_http}/api/collections/bench/qrels/?assessor=official", headers=headers, stream=True, timeout=600) as r:
            r.raise_for_status()
            for chunk in r.iter_content(chunk_size=1 << 20):
                lines += chunk.count(b"\n")
                size += len(chunk)
                tail = (tail + chunk)[-200:]
        elapsed = time.perf_counter() - t0
        stop.set()
        sampler.join()
        # The kernel's high-water mark also covers spikes between two samples; it includes
        # the start-up too, so the figure can only overstate the export's growth.
        peak = max(peak, rss_kb(worker, "VmHWM"))
        if lines != expected:
            sys.exit(f"expected {expected} lines, got {lines}")
        print(f"exported {lines:,} qrels lines ({size / 1e6:.1f} MB) in {elapsed:.1f}s ({lines / elapsed:,.0f} lines/s)")
        print(f"last line: {tail.decode().splitlines()[-1]}")
        print(f"worker RSS before: {before / 1024:.1f} MB, peak during export: {peak / 1024:.1f} MB")
        # Reference: the same lines built in memory, as the export_qrels command does
        # (a list of every line, then one string), measured as a process's peak RSS
        # against the peak of a process that only starts Django.
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}.qrels"
        child_env = {**env, "DEBUG": "1"}
        start_mb = child_peak_mb(["check"], child_env)
        command_mb = child_peak_mb(["export_qrels", "--collection", "bench", "--output", str(out)], child_env)
        out.unlink(missing_ok=True)
        print(f"reference, export_qrels in memory: peak {command_mb:.1f} MB, growth over start-up "
              f"{command_mb - start_mb:.1f} MB")
        print(f"peak_mb: {(peak - before) / 1024:.1f}")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

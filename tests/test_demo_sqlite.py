"""The embedded default: the demo on SQLite, every step succeeding.

Tests otherwise run against PostgreSQL; this one checks the first README command's
database, where raw SQL written for PostgreSQL would fail (it once did, in the
agreement report).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_demo_on_embedded_sqlite_runs_every_step_without_failure(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        CELERY_TASK_ALWAYS_EAGER="1",
        MEDIA_ROOT=str(tmp_path / "media"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    migrate = manage(["migrate", "--noinput", "-v0"], env)
    assert migrate.returncode == 0, migrate.stderr
    demo = manage(["demo"], env)
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output
    assert "failed" not in output, output

    inventory = json.loads(manage(["inventory", "--json"], env).stdout)
    dl19 = inventory["collections"]["dl19"]
    assert dl19["queries"] == 10
    assert dl19["hardness_analyses"] > 0
    reports = list((tmp_path / "media").rglob("agreement-*.html"))
    assert reports and reports[0].stat().st_size > 10_000

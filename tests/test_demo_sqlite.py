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

    # The demo's annotators work on SQLite too: the lease, submit and undo SQL is
    # portable (it once used PostgreSQL-only array parameters and locking clauses).
    annotate = subprocess.run(
        [sys.executable, "-c", ANNOTATE], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert annotate.returncode == 0, annotate.stdout + annotate.stderr
    result = json.loads(annotate.stdout.strip().splitlines()[-1])
    assert result["screens"] == [200, 200, 200] and result["submits"] == [200, 200]
    # two different items done, each with a verdict for every reason shown; then undo
    # took the second back and the screen offered it again, filled in
    assert result["done_after_submits"] == 2 and len(set(result["items"])) == 2
    assert result["verdicts"] == result["reasons_shown"]
    assert result["done_after_undo"] == 1 and result["undone_item_shown_again"]


# Run in a subprocess against the demo's SQLite file: alice annotates two items of the
# demo campaign through the views, then undoes the second.
ANNOTATE = r'''
import json, os, re
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from annotation.models import Assignment, Campaign, ReasonVerdict

client = Client(HTTP_HX_REQUEST="true")
alice = get_user_model().objects.get(username="alice")
client.force_login(alice)
campaign = Campaign.objects.get(annotators=alice)
out = {"screens": [], "submits": [], "items": [], "reasons_shown": 0}
for _ in range(2):
    # the screen leases with a POST (a GET never takes a lease)
    r = client.post(f"/annotation/campaigns/{campaign.pk}/next/")
    out["screens"].append(r.status_code)
    html = r.content.decode()
    pk = int(re.search(r'data-assignment="(\d+)"', html).group(1))
    out["items"].append(Assignment.objects.get(pk=pk).item_id)
    ids = sorted(set(re.findall(r'name="verdict_(\d+)" value="agree"', html)))
    out["reasons_shown"] += len(ids)
    r = client.post(f"/annotation/assignments/{pk}/submit/", {f"verdict_{i}": "disagree" for i in ids})
    out["submits"].append(r.status_code)
done = Assignment.objects.filter(user=alice, status=Assignment.DONE)
out["done_after_submits"] = done.count()
out["verdicts"] = ReasonVerdict.objects.filter(assignment__user=alice).count()
client.post(f"/annotation/campaigns/{campaign.pk}/undo/")
out["done_after_undo"] = Assignment.objects.filter(user=alice, status=Assignment.DONE).count()
r = client.get(f"/annotation/campaigns/{campaign.pk}/")
out["screens"].append(r.status_code)
pk = int(re.search(r'data-assignment="(\d+)"', r.content.decode()).group(1))
out["undone_item_shown_again"] = Assignment.objects.get(pk=pk).item_id == out["items"][1]
print(json.dumps(out))
'''

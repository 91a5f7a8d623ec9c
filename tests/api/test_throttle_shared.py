"""Throttling per token holds across processes when CACHE_URL names a Redis database.

gunicorn runs several worker processes; each is played here by a separate Python
process that sends requests with the same token (Django's test client, the real
middleware, authentication and throttles, on the pytest database). With the in-memory
default every process counts on its own (the second process would get 200), which is
what CACHE_URL exists to fix.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from rest_framework.authtoken.models import Token

from tests.conftest import REPO
from tests.judges.test_worker import test_database_url

RATE = 3  # requests per hour and user in the child processes

CHILD = """
import django
django.setup()
from rest_framework.test import APIClient
client = APIClient()
client.credentials(HTTP_AUTHORIZATION="Token " + {key!r})
print(" ".join(str(client.get("/api/collections/").status_code) for _ in range({n})))
"""


def worker_process(*, key: str, n: int, cache_url: str) -> list[int]:
    """One 'gunicorn worker': n requests with the token; their status codes."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hardq_site.settings",
        "DATABASE_URL": test_database_url(),
        "CACHE_URL": cache_url,
        "HARDQ_API_RATE_USER": f"{RATE}/hour",
    }
    done = subprocess.run([sys.executable, "-c", CHILD.format(key=key, n=n)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return [int(code) for code in done.stdout.split()]


@pytest.fixture
def redis_url():
    """The run's Redis (the broker's database): the throttle keys of the test user are removed around the test."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis"):
        pytest.skip("needs a Redis URL in CELERY_BROKER_URL (`./hardq test` sets it)")
    return url


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_tokens_rate_is_shared_by_every_worker_process(admin_user, redis_url):
    import redis

    key = Token.objects.create(user=admin_user).key
    server = redis.Redis.from_url(redis_url)
    pattern = f"hardq:*:throttle_user_{admin_user.pk}"

    def forget() -> None:  # a user id of an earlier test database may have left counts
        for stale in server.scan_iter(match=pattern):
            server.delete(stale)

    forget()
    try:
        assert worker_process(key=key, n=RATE, cache_url=redis_url) == [200] * RATE
        # another process, the same token: the rate is used up
        assert worker_process(key=key, n=1, cache_url=redis_url) == [429]
        assert list(server.scan_iter(match=pattern)), "the counts are in Redis"
    finally:
        forget()

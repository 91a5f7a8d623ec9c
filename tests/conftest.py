"""Shared personas and paths.

Tests run against PostgreSQL (DATABASE_URL); the personas are an admin and the
annotators alice and bob (DESIGN.md, house rule 7).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


def _paper_data() -> Path | None:
    """The shared paper data: HARDQ_PAPER_DATA, else ../shared/paper-data beside the repo."""
    candidates = [os.environ.get("HARDQ_PAPER_DATA", ""), str(REPO.parent / "shared" / "paper-data")]
    for c in candidates:
        if c and Path(c, "dl19").is_dir():
            return Path(c)
    return None


PAPER_DATA = _paper_data()


@pytest.fixture
def paper_data() -> Path:
    if PAPER_DATA is None:
        pytest.skip("the shared paper data is not beside this checkout (set HARDQ_PAPER_DATA)")
    return PAPER_DATA


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", "admin-pass-123")


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.org", "alice-pass-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.org", "bob-pass-123")


# --- Browser: Debian's Chromium driven by Playwright (never a downloaded browser) ---
CHROMIUM = os.environ.get("HARDQ_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("HARDQ_ARTIFACTS", REPO / "artifacts"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium for the session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # live_server + sync Playwright
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A fresh browser page at 1280x800; a screenshot is kept in artifacts/ when the test ends."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()


def browser_login(page, live_server, username: str, password: str) -> None:
    """Log in through the real login form."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


# --- the cache: nothing a test cached (the screens' taxonomy, throttle counters) leaks
# into the next test, whose database was rolled back ------------------------------------
@pytest.fixture(autouse=True)
def empty_cache():
    from django.core.cache import cache

    cache.clear()
    yield


# --- Celery: tests run tasks in-process unless they ask for the real broker ------------
@pytest.fixture(scope="session", autouse=True)
def celery_tasks_in_process():
    """Every test runs Celery tasks in-process, broker or no broker in the environment.

    `./hardq test` exports CELERY_BROKER_URL (Redis) for the worker tests; set only in this
    process's Celery app (not in the environment), eager execution does not leak into the
    `celery worker` subprocesses those tests start.
    """
    from hardq_site.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@pytest.fixture
def celery_worker_broker():
    """For a test marked `worker`: the Redis broker of the test run, with tasks sent to it.

    The test starts a real `celery -A hardq_site worker` on the URL returned; eager
    execution comes back when it ends.
    """
    url = os.environ.get("HARDQ_TEST_BROKER_URL") or os.environ.get("CELERY_BROKER_URL", "")
    if not url:
        pytest.fail("worker tests need CELERY_BROKER_URL (a Redis URL); `./hardq test` sets it")
    from hardq_site.celery import app

    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = url
    try:
        yield url
    finally:
        app.conf.task_always_eager, app.conf.broker_url = saved

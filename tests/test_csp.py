"""The Content-Security-Policy: every page carries it, and the pages work under it.

The policy is django-csp's (settings.CONTENT_SECURITY_POLICY), on in every mode, so the
browser tests of the other files run under it too; the walk below opens the main pages
in Chromium and fails on any violation the browser reports in its console.
"""
from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

from tests.analysis.researcher_data import DEMO_ADMIN, demo_admin, demo_dl19, dl19_demo  # noqa: F401
from tests.conftest import ARTIFACTS, browser_login


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parts = [p.strip().split() for p in header.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/api/docs/", "/api/redoc/", "/admin/login/", "/no-such-page/"])
def test_every_page_carries_the_policy_even_for_anonymous_users(client, url):
    policy = directives(client.get(url))
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/analysis/", "/annotation/", "/judges/jobs/", "/agreement/", "/api/collections/"])
def test_signed_in_pages_and_the_api_carry_the_policy(client, admin_user, url):
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"] and "'unsafe-inline'" not in policy["style-src"]


@pytest.mark.django_db
def test_only_the_redoc_page_gets_inline_styles_and_a_blob_worker(client):
    redoc = directives(client.get("/api/redoc/"))
    assert redoc["style-src"] == ["'self'", "'unsafe-inline'"] and redoc["worker-src"] == ["blob:"]
    assert redoc["script-src"] == ["'self'"]
    docs = directives(client.get("/api/docs/"))
    assert docs["style-src"] == ["'self'"] and "worker-src" not in docs


@pytest.mark.django_db
def test_the_browsable_api_gets_inline_styles_and_json_stays_as_strict(client, admin_user):
    client.force_login(admin_user)
    html = directives(client.get("/api/collections/", HTTP_ACCEPT="text/html"))
    assert html["style-src"] == ["'self'", "'unsafe-inline'"] and html["script-src"] == ["'self'"]
    json = directives(client.get("/api/collections/", HTTP_ACCEPT="application/json"))
    assert json["style-src"] == ["'self'"]


@pytest.mark.django_db
def test_the_swagger_page_loads_its_start_script_from_the_site(client):
    html = client.get("/api/docs/").content.decode()
    assert "<script>" not in html and "<style" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_templates_hold_no_inline_script_style_or_event_handler():
    import re

    from tests.conftest import REPO

    # the downloadable report (agreement/report.html) is a file opened on its own, with its styles inside
    templates = [p for p in REPO.glob("**/templates/**/*.html") if ".venv" not in p.parts and p.name != "report.html"]
    assert len(templates) > 20
    offending = re.compile(r"<script(?![^>]*\bsrc=)|<style|\son[a-z]+\s*=|style=\"|javascript:", re.I)
    found = {str(p.relative_to(REPO)): offending.findall(p.read_text()) for p in templates}
    assert {k: v for k, v in found.items() if v} == {}


@override_settings(DEBUG=False)
def test_the_system_check_fails_without_the_middleware_outside_debug(settings):
    from hardq_site.checks import content_security_policy_check

    assert content_security_policy_check() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "csp.middleware.CSPMiddleware"]
    assert [e.id for e in content_security_policy_check()] == ["hardq.E001"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'self'", "'unsafe-inline'"]}}
    assert [e.id for e in content_security_policy_check()] == ["hardq.E001", "hardq.E002"]
    assert all(e.level == checks.ERROR for e in content_security_policy_check())


# --- Chromium: the main pages, under the policy, report no violation --------------------
def watch_console(page) -> list[str]:
    """Every console error and page error of the page, as text."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    return seen


# Redoc's sidebar shows its maker's logo from their CDN: the one load the policy is meant
# to refuse (no third-party requests), and the page works without it.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def csp_violations(messages: list[str]) -> list[str]:
    return [
        m for m in messages
        if ("Content Security Policy" in m or "Content-Security-Policy" in m) and f"image '{REDOC_CDN_LOGO}'" not in m
    ]


@pytest.mark.browser
@pytest.mark.django_db
def test_the_main_pages_run_under_the_policy_without_a_violation(page, live_server, dl19_demo, chromium):
    from analysis.models import HardnessAnalysis
    from annotation.models import Campaign

    seen = watch_console(page)
    base = live_server.url
    analysis = HardnessAnalysis.objects.filter(collection__name="dl19", task="h2r").order_by("pk").first()
    campaign = Campaign.objects.filter(annotators__username="alice").order_by("pk").first()

    page.goto(f"{base}/accounts/login/")
    assert csp_violations(seen) == []
    browser_login(page, live_server, *DEMO_ADMIN)
    visits = {
        "home": ("/", "h1"),
        "analysis-list": ("/analysis/", "h1"),
        "analysis": (f"/analysis/hardness/{analysis.pk}/", "#rule"),
        "query-list": ("/analysis/collections/dl19/queries/", "#queries"),
        "query": ("/analysis/collections/dl19/queries/1063750/", "#query-title"),
        "overlap": ("/analysis/dl19/overlap/", "#overlap-picture"),
        "agreement": ("/agreement/?collection=dl19", "h1"),
        "annotation-home": ("/annotation/", "h1"),
        "campaign-new": ("/annotation/campaigns/new/", "form"),
        "campaign-review": (f"/annotation/campaigns/{campaign.pk}/review/", "h1"),
        "jobs": ("/judges/jobs/", "h1"),
        "job-new": ("/judges/jobs/new/", "form"),
        "pairwise": ("/analysis/collections/dl19/pairwise/", "h1"),
        "api-browsable": ("/api/collections/", ".response-info"),
        "admin": ("/admin/", "#content"),
        "api-docs": ("/api/docs/", ".swagger-ui .info"),
        "api-redoc": ("/api/redoc/", "h1"),
    }
    for name, (url, ready) in visits.items():
        response = page.goto(f"{base}{url}")
        assert response.status == 200, url
        assert "Content-Security-Policy" in {k.title(): v for k, v in response.headers.items()}, url
        page.wait_for_selector(ready, timeout=30000)
        page.wait_for_load_state("networkidle")
        assert csp_violations(seen) == [], (name, seen)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"csp-{name}.png"), full_page=False)
    assert page.locator(".swagger-ui").count() == 0  # the last page was Redoc's own
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30000)  # the operations drawn from the schema
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert page.locator("#overlap-picture").count() == 0

    # the annotator's screen: leased by htmx's POST on load
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    annotator = context.new_page()
    seen_annotator = watch_console(annotator)
    try:
        browser_login(annotator, live_server, "alice", "hardq-demo-alice")
        annotator.goto(f"{base}/annotation/campaigns/{campaign.pk}/")
        annotator.wait_for_selector("#item-panel .progress-text", timeout=30000)
        annotator.wait_for_load_state("networkidle")
        annotator.screenshot(path=str(ARTIFACTS / "csp-annotation-screen.png"))
        assert csp_violations(seen_annotator) == [], seen_annotator
        assert annotator.locator("#item-panel progress.bar").count() == 1
    finally:
        context.close()
    assert csp_violations(seen) == []

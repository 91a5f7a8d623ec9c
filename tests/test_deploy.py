"""Production settings from the environment: `check --deploy` is clean, HTTPS is a switch.

Each case runs in a subprocess because settings are read from the environment once,
when Django starts.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
plain = client.get("/accounts/login/")
secure = client.get("/accounts/login/", secure=True)
cookie = secure.cookies.get("csrftoken")
print(json.dumps({
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location", ""),
    "plain_hsts": plain.get("Strict-Transport-Security", ""),
    "secure_status": secure.status_code,
    "secure_hsts": secure.get("Strict-Transport-Security", ""),
    "csrf_cookie_secure": bool(cookie and cookie["secure"]),
    "csp": secure.get("Content-Security-Policy", ""),
}))
"""


def production_env(**extra: str) -> dict[str, str]:
    """The test run's environment less its development switches, plus production settings."""
    dev_only = ("HARDQ_HTTPS", "SECURE_", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dev_only)}
    env.update(
        DJANGO_SETTINGS_MODULE="hardq_site.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="example.org,127.0.0.1",
    )
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_with_https_switched_on():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(HARDQ_HTTPS="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_check_deploy_names_the_missing_https_settings_when_switched_off():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr  # HSTS, SSL redirect, session and CSRF cookies


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env(HARDQ_HTTPS="1")
    del env["SECRET_KEY"]
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_plain_http_on_loopback_works_when_https_is_off():
    result = run(["-c", PROBE], production_env())
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["plain_status"] == 200 and probe["plain_location"] == ""
    assert probe["secure_hsts"] == "" and not probe["csrf_cookie_secure"]


def test_https_switch_redirects_and_sends_hsts_and_secure_cookies():
    result = run(["-c", PROBE], production_env(HARDQ_HTTPS="1"))
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["plain_status"] == 301
    assert probe["plain_location"] == "https://127.0.0.1/accounts/login/"
    assert probe["secure_status"] == 200
    assert probe["secure_hsts"].startswith("max-age=31536000")
    assert "includeSubDomains" in probe["secure_hsts"]
    assert probe["csrf_cookie_secure"]


def test_production_pages_carry_the_content_security_policy():
    result = run(["-c", PROBE], production_env(HARDQ_HTTPS="1"))
    assert result.returncode == 0, result.stderr
    policy = json.loads(result.stdout.strip().splitlines()[-1])["csp"]
    directives = {p.split()[0]: p.split()[1:] for p in policy.split(";") if p.strip()}
    assert directives["script-src"] == ["'self'"] and directives["frame-ancestors"] == ["'none'"]


def test_check_deploy_fails_in_production_without_the_csp_middleware():
    script = (
        "import sys; from django.core.management import execute_from_command_line; "
        "from django.conf import settings; import django; "
        "settings.MIDDLEWARE; settings.MIDDLEWARE.remove('csp.middleware.CSPMiddleware'); "
        "execute_from_command_line(['manage.py', 'check', '--deploy'])"
    )
    result = run(["-c", script], production_env(HARDQ_HTTPS="1"))
    assert result.returncode != 0
    assert "hardq.E001" in result.stderr

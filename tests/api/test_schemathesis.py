"""schemathesis against the generated schema: no server error, no response outside the schema.

The schema is loaded from the app itself (``/api/schema/``); every operation is called
with the demo admin's token on a database holding the demo data (``manage.py demo``:
the DL19 fixtures, hardness analyses, a campaign). The demo is loaded once and every
operation runs in this one test, with a few examples each to keep CI short.
"""
from __future__ import annotations

import io

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hardq_site.wsgi import application

MAX_EXAMPLES = 12

# Operations left out, and why:
EXCLUDED = {
    # would start LLM jobs against whatever base URL the generator invents: calls to
    # random hosts with retries (covered against the fake LLM server in test_hardness_and_jobs_api)
    ("/api/llm-jobs/", "post"),
    ("/api/llm-jobs/{id}/resume/", "post"),
}

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_test_connection():
    """Requests go straight into the WSGI app, which closes the DB connection around each
    request; the test transaction must survive, as Django's test client ensures."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_api_conforms_to_its_schema(keep_test_connection, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # the demo writes its agreement report there
    call_command("demo", stdout=io.StringIO())
    admin = get_user_model().objects.get(username="admin")
    headers = {"Authorization": f"Token {Token.objects.get_or_create(user=admin)[0].key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.path, operation.method.lower()) in EXCLUDED:
            continue

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        tested += 1
        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}:\n{exc}")
    assert tested >= 30
    assert not failures, "\n\n".join(failures)


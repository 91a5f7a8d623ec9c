"""schemathesis against the generated schema: no server error, no response outside the schema.

The schema is loaded from the running WSGI app (``/api/schema/``); every operation is
called with an admin token on a database holding a small demo-like corpus. Examples per
operation are capped to keep CI short.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hardq_site.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

# Operations left out, and why:
EXCLUDED: set[tuple[str, str]] = set()

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_test_connection():
    """Requests go straight into the WSGI app, which closes the DB connection when a
    request finishes; the test transaction must survive, as Django's test client ensures."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_headers(admin_user, keep_test_connection) -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=admin_user)
    return {"Authorization": f"Token {token.key}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case, corpus, admin_headers):
    if (case.path, case.method.lower()) in EXCLUDED:
        pytest.skip("excluded: see EXCLUDED")
    case.call_and_validate(headers=admin_headers, checks=CHECKS)

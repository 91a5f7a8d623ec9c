"""Tokens (command and admin), the public schema and its offline docs."""
from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def printed_key(out: StringIO) -> str:
    """DRF's command prints 'Generated token KEY for user USERNAME'."""
    words = out.getvalue().split()
    assert words[:2] == ["Generated", "token"]
    return words[2]


def test_drf_create_token_prints_a_key_that_authenticates(alice, corpus):
    out = StringIO()
    call_command("drf_create_token", "alice", stdout=out)
    key = printed_key(out)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    # alice is an annotator: authenticated (403, not 401) but not allowed to read the corpus
    assert client.get("/api/judgments/").status_code == 403


def test_drf_create_token_reset_revokes_the_old_key(admin_user, corpus):
    out = StringIO()
    call_command("drf_create_token", "admin", stdout=out)
    old = printed_key(out)
    out = StringIO()
    call_command("drf_create_token", "-r", "admin", stdout=out)
    new = printed_key(out)
    assert new != old
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.get("/api/collections/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert client.get("/api/collections/").status_code == 200


def test_admins_manage_tokens_in_the_admin(client, admin_user, alice):
    client.force_login(admin_user)
    response = client.post("/admin/authtoken/tokenproxy/add/", {"user": alice.pk})
    assert response.status_code == 302
    from rest_framework.authtoken.models import Token

    assert Token.objects.filter(user=alice).exists()


def test_schema_is_public_and_openapi_3():
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/judgments/" in schema["paths"]
    assert "Error" in schema["components"]["schemas"]


def test_schema_generates_without_warnings():
    # every endpoint and parameter described: drf-spectacular warns on anything it must guess
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_are_served_from_local_static_files(url):
    response = APIClient().get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    name = "swagger-ui-dist/swagger-ui-bundle.js" if "docs" in url else "redoc/bundles/redoc.standalone.js"
    assert finders.find(f"drf_spectacular_sidecar/{name}")

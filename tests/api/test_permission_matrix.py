"""Every API endpoint x method x role has its expected status, in one table.

The list of operations comes from the generated OpenAPI schema: an endpoint added to the
API without a row in MATRIX fails ``test_every_operation_has_a_row``. Each cell runs on a
fresh database (a write by one role never changes what another role's cell sees).

Roles: anonymous (no credentials), annotator_a (alice, annotator of campaign A),
annotator_b (bob, annotator of campaign B), admin. Annotators never read the corpus,
judgments or runs: blind campaigns keep official and LLM grades from them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from tests.api.conftest import token_client

ROLES = ("anonymous", "annotator_a", "annotator_b", "admin")


@dataclass(frozen=True)
class Row:
    """Expected status per role, and how to call the operation."""

    anonymous: int
    annotator_a: int
    annotator_b: int
    admin: int
    body: Callable[[dict], dict] | None = None
    fmt: str = "json"
    query: Callable[[dict], dict] = field(default=lambda w: {})


def admin_only(admin: int = 200, **kw) -> Row:
    return Row(401, 403, 403, admin, **kw)


# Path parameters are filled from the world built by the `world` fixture below.
MATRIX: dict[tuple[str, str], Row] = {
    # --- corpus (admins only) ---
    ("/api/collections/", "get"): admin_only(),
    ("/api/collections/{name}/", "get"): admin_only(),
    ("/api/collections/{name}/qrels/", "get"): admin_only(),
    ("/api/queries/", "get"): admin_only(),
    ("/api/queries/{id}/", "get"): admin_only(),
    ("/api/passages/", "get"): admin_only(),
    ("/api/passages/{id}/", "get"): admin_only(),
    ("/api/assessors/", "get"): admin_only(),
    ("/api/assessors/{id}/", "get"): admin_only(),
    ("/api/judgments/", "get"): admin_only(),
    ("/api/judgments/{id}/", "get"): admin_only(),
    ("/api/runs/", "get"): admin_only(),
    ("/api/runs/{id}/", "get"): admin_only(),
    ("/api/runs/{id}/rows/", "get"): admin_only(),
    ("/api/imports/", "post"): admin_only(201, body=lambda w: {
        "kind": "queries", "collection": "dl21", "file": SimpleUploadedFile("q.tsv", b"2082\twhat is a test\n"),
    }, fmt="multipart"),
}

# Outside the schema on purpose: the schema itself and its two documentation pages.
PUBLIC = {
    ("/api/schema/", "get"): Row(200, 200, 200, 200),
    ("/api/docs/", "get"): Row(200, 200, 200, 200),
    ("/api/redoc/", "get"): Row(200, 200, 200, 200),
}


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (path, method)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_operation_has_a_row():
    operations = schema_operations()
    missing = sorted(operations - set(MATRIX))
    stale = sorted(set(MATRIX) - operations)
    assert not missing, f"endpoints without a permission row: {missing}"
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


@pytest.fixture
def world(corpus, alice, bob, admin_user) -> dict:
    """Values for every path parameter, and the users of each role."""
    judgment = corpus.official.judgments.first()
    return {
        "users": {"anonymous": None, "annotator_a": alice, "annotator_b": bob, "admin": admin_user},
        "params": {
            "/api/collections/": {"name": corpus.collection.name},
            "/api/queries/": {"id": corpus.queries[0].pk},
            "/api/passages/": {"id": corpus.passages[0].pk},
            "/api/assessors/": {"id": corpus.official.pk},
            "/api/judgments/": {"id": judgment.pk},
            "/api/runs/": {"id": corpus.run.pk},
        },
        "corpus": corpus,
    }


def concrete(path: str, world: dict) -> str:
    for prefix, values in world["params"].items():
        if path.startswith(prefix):
            for key, value in values.items():
                path = path.replace("{" + key + "}", str(value))
    assert "{" not in path, f"no value for a parameter of {path}"
    return path


CELLS = [(path, method, role) for (path, method) in {**MATRIX, **PUBLIC} for role in ROLES]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method", "role"), CELLS, ids=[f"{m.upper()} {p} {r}" for p, m, r in CELLS])
def test_permission_cell(path, method, role, world):
    row = {**MATRIX, **PUBLIC}[(path, method)]
    client = token_client(world["users"][role])
    url = concrete(path, world)
    kwargs: dict = {}
    if row.body is not None:
        kwargs["data"] = row.body(world)
        kwargs["format"] = row.fmt
    response = getattr(client, method)(url, **kwargs) if not row.query(world) else getattr(client, method)(
        url + "?" + "&".join(f"{k}={v}" for k, v in row.query(world).items()), **kwargs
    )
    expected = getattr(row, role)
    assert response.status_code == expected, (
        f"{method.upper()} {url} as {role}: {response.status_code}, expected {expected}: "
        f"{getattr(response, 'content', b'')[:300]!r}"
    )
    if response.status_code >= 400 and path.startswith("/api/") and (path, method) not in PUBLIC:
        assert set(response.json()["error"]) == {"code", "message", "details"}

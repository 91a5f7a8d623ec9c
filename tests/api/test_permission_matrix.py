"""Every API endpoint x method x role has its expected status, in one table.

The list of operations comes from the generated OpenAPI schema: an endpoint added to the
API without a row in MATRIX fails ``test_every_operation_has_a_row``. Each cell runs on a
fresh database (a write by one role never changes what another role's cell sees).

Roles: anonymous (no credentials), annotator_a (alice, annotator of campaign A),
annotator_b (bob, annotator of campaign B), admin. Annotators never read the corpus,
judgments or runs: blind campaigns keep official and LLM grades from them.
"""
from __future__ import annotations

import io
import re
import zipfile
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


def zip_of(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "bundle.zip"
    return buffer


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
    # --- hardness (admins only) ---
    ("/api/analyses/", "get"): admin_only(),
    # 202: the analysis is a job, sent when the request commits (never, inside the test's transaction)
    ("/api/analyses/", "post"): admin_only(202, body=lambda w: {"task": "h2r", "collection": "dl19", "subject": "bm25"}),
    ("/api/analyses/{id}/", "get"): admin_only(),
    ("/api/analyses/{id}/labels/", "get"): admin_only(),
    ("/api/collections/{name}/overlap/", "get"): admin_only(),
    ("/api/collections/{name}/export/", "get"): admin_only(400),  # no kind: a field error
    ("/api/collections/{name}/pairwise/", "get"): admin_only(),
    ("/api/pairwise/", "get"): admin_only(query=lambda w: {"collection": "dl19"}),
    ("/api/assessors/{name}/probes/", "get"): admin_only(),
    ("/api/assessors/{name}/card/", "get"): admin_only(query=lambda w: {"collection": "dl19"}),
    ("/api/judges/leaderboard/", "get"): admin_only(query=lambda w: {"collection": "dl19"}),
    # --- LLM jobs (admins only; the job runs against the fake LLM server) ---
    ("/api/llm-jobs/", "get"): admin_only(),
    ("/api/llm-jobs/", "post"): admin_only(201, body=lambda w: {
        "kind": "judge", "collection": "dl19", "base_url": w["world"].llm_url, "model": "fake-judge", "limit": 2,
    }),
    ("/api/llm-jobs/{id}/", "get"): admin_only(),
    ("/api/llm-jobs/{id}/calls/", "get"): admin_only(),
    ("/api/llm-jobs/{id}/cancel/", "post"): admin_only(),
    ("/api/llm-jobs/{id}/resume/", "post"): admin_only(),
    # --- campaigns: {id} is campaign A (alice's); bob's campaign is B ---
    ("/api/campaigns/", "get"): Row(401, 200, 200, 200),
    ("/api/campaigns/", "post"): admin_only(201, body=lambda w: {
        "name": "C", "kind": "relevance", "collection": "dl19", "annotators": ["alice", "bob"], "overlap": 2,
        "pairs": [["104861", "7003"]],
    }),
    ("/api/campaigns/{id}/", "get"): Row(401, 200, 404, 200),
    ("/api/campaigns/{id}/", "patch"): Row(401, 403, 403, 200, body=lambda w: {"status": "closed"}),
    ("/api/campaigns/{id}/next/", "post"): Row(401, 200, 404, 403),  # admins are not annotators of A
    ("/api/campaigns/{id}/undo/", "post"): Row(401, 204, 404, 403),
    ("/api/campaigns/{id}/progress/", "get"): Row(401, 200, 404, 200),
    ("/api/campaigns/{id}/labels/", "get"): Row(401, 200, 404, 200),
    ("/api/campaigns/{id}/review/", "get"): admin_only(),
    ("/api/campaigns/{id}/export/", "get"): admin_only(),
    ("/api/campaigns/{id}/items/{item_id}/adjudicate/", "post"): admin_only(body=lambda w: {"grade": 1}),
    # --- {id} is alice's lease in campaign A: nobody else may act on it ---
    ("/api/assignments/{id}/", "get"): Row(401, 200, 404, 200),
    ("/api/assignments/{id}/submit/", "post"): Row(401, 200, 404, 404, body=lambda w: {"grade": 2}),
    ("/api/assignments/{id}/skip/", "post"): Row(401, 200, 404, 404, body=lambda w: {"reason": "passage unreadable"}),
    # --- agreement (admins only) ---
    ("/api/agreement/", "get"): admin_only(query=lambda w: {
        "collection": "dl19", "reference": "official", "assessor": "llama3.2", "n_boot": 10}),
    ("/api/agreement/report/", "get"): admin_only(query=lambda w: {"collection": "dl19", "format": "csv", "n_boot": 10}),
    # 400: the world's LLM judged no query beyond the "human" one's (nothing unlabeled to power an estimate)
    ("/api/estimate/", "get"): admin_only(400, query=lambda w: {"collection": "dl19", "llm": "llama3.2", "human": "official"}),
    # --- uploads ---
    ("/api/imports/bundle/", "post"): admin_only(201, body=lambda w: {
        "collection": "dl21", "file": zip_of({"2021_queries.tsv": b"2082\twhat is a test\n"}),
    }, fmt="multipart"),
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


def resolver_routes() -> set[str]:
    """Every URL under /api/ from Django's resolver, as schema-style paths (``{id}``)."""
    from django.urls import URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    routes = set()
    for route in walk(get_resolver().url_patterns):
        if not route.startswith("api/"):
            continue
        route = route.replace("^", "").replace("$", "")
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # router regex groups
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)  # path converters
        routes.add("/" + route.replace("{pk}", "{id}"))
    return routes


def test_every_url_under_api_is_in_the_schema_or_public():
    """A view routed under /api/ but left out of the schema would escape the table."""
    known = {path for path, _ in schema_operations()} | {path for path, _ in PUBLIC}
    routes = resolver_routes()
    assert {"/api/judgments/", "/api/campaigns/{id}/items/{item_id}/adjudicate/"} <= routes
    assert routes - known == set()


def test_every_operation_has_a_row():
    operations = schema_operations()
    missing = sorted(operations - set(MATRIX))
    stale = sorted(set(MATRIX) - operations)
    assert not missing, f"endpoints without a permission row: {missing}"
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


NEEDS_WORLD = ("/api/analyses/", "/api/llm-jobs/", "/api/campaigns/", "/api/assignments/")


@pytest.fixture
def cell_world(request, corpus, alice, bob, admin_user) -> dict:
    """Values for every path parameter, and the users of each role.

    Campaigns, the analysis and the LLM job are built only for the cells that use them
    (the table has a cell per role, each on a fresh database).
    """
    judgment = corpus.official.judgments.first()
    params: dict = {
        "/api/collections/": {"name": corpus.collection.name},
        "/api/queries/": {"id": corpus.queries[0].pk},
        "/api/passages/": {"id": corpus.passages[0].pk},
        "/api/assessors/": {"id": corpus.official.pk, "name": corpus.llm.name},
        "/api/judgments/": {"id": judgment.pk},
        "/api/runs/": {"id": corpus.run.pk},
    }
    world = None
    if request.node.callspec.params.get("path", "").startswith(NEEDS_WORLD):
        world = request.getfixturevalue("world")
        params.update({
            "/api/analyses/": {"id": world.analysis.pk},
            "/api/llm-jobs/": {"id": world.job.pk},
            # campaign A is alice's; bob annotates only campaign B
            "/api/campaigns/": {"id": world.campaign_a.pk, "item_id": world.assignment_a.item_id},
            "/api/assignments/": {"id": world.assignment_a.pk},
        })
    return {
        "users": {"anonymous": None, "annotator_a": alice, "annotator_b": bob, "admin": admin_user},
        "params": params,
        "world": world,
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
def test_permission_cell(path, method, role, cell_world):
    world = cell_world
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

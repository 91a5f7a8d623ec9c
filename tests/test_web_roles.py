"""Every page of the site x role has its expected answer, in one table (the web twin of
tests/api/test_permission_matrix.py).

Roles: anonymous (the login page), alice (an annotator of campaign "rel", not staff) and
admin (staff). Annotators see their campaigns only: the corpus, the analyses, the LLM
jobs (with their endpoints) and the agreement reports are staff pages, answering a 403
page in the site's style to a signed-in annotator (never the Django admin's login form).

The list of pages comes from the URL configuration: a page added without a row in
MATRIX fails ``test_every_page_has_a_row``. Each cell runs on a fresh database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from analysis.models import Assessor, Judgment, RunRow
from annotation import services as annotation_services
from annotation.models import Campaign
from judges import selectors as judges_selectors
from judges import services as judges_services
from tests.annotation.factories import h2r_setup

ROLES = ("anonymous", "alice", "admin")
LOGIN = "login"  # 302 to the site's login page, back here afterwards
FORBIDDEN = 403  # the site's 403 page
NOT_ASSERTED = None  # covered by the owner's tests (see the row's comment)


@dataclass(frozen=True)
class Row:
    anonymous: Any
    alice: Any
    admin: Any
    args: Callable[[dict], list] = field(default=lambda w: [])
    query: Callable[[dict], dict] = field(default=lambda w: {})
    method: str = "get"


def staff_only(admin: Any = 200, **kw) -> Row:
    return Row(LOGIN, FORBIDDEN, admin, **kw)


def redirect_to(path: str) -> tuple[str, str]:
    return ("redirect", path)


def coll(w: dict) -> list:
    return [w["collection"].name]


MATRIX: dict[str, Row] = {
    # Annotators have no corpus data on their home: it sends them to their campaigns.
    "home": Row(LOGIN, redirect_to("/annotation/"), 200),
    # --- analysis (staff) ---
    "analysis:hardness_list": staff_only(),
    "analysis:collection_queries_csv": staff_only(args=coll),
    "analysis:pairwise": staff_only(args=coll),
    "analysis:query-detail": staff_only(admin=NOT_ASSERTED, args=lambda w: [w["collection"].name, "q-1"]),
    "analysis:budget:estimate": staff_only(admin=NOT_ASSERTED),
    "analysis:budget:simulate": staff_only(admin=NOT_ASSERTED),
    "analysis:collection_queries": staff_only(args=coll),
    "analysis:hardness_detail": staff_only(args=lambda w: [w["analysis"].pk]),
    "analysis:hardness_distribution": staff_only(args=lambda w: [w["analysis"].pk]),
    "analysis:hardness_overlap": staff_only(args=coll),
    "analysis:hardness_overlap_svg": staff_only(args=coll),
    "analysis:hardness_overlap_csv": staff_only(args=coll),
    "analysis:hardness_overlap_json": staff_only(args=coll),
    # --- LLM jobs (staff: each job names its endpoint's base URL) ---
    "judges:job_list": staff_only(),
    "judges:job_create": staff_only(),
    "judges:job_detail": staff_only(args=lambda w: [w["job"].pk]),
    "judges:assessor_probes": staff_only(args=lambda w: ["official"]),
    "judges:assessor_card": staff_only(args=lambda w: ["llm-judge"], query=lambda w: {"collection": w["collection"].name}),
    "judges:leaderboard": staff_only(query=lambda w: {"collection": w["collection"].name, "reference": "llm-judge"}),
    "judges:job_control": staff_only(redirect_to("/judges/jobs/{job}/"), args=lambda w: [w["job"].pk, "cancel"],
                                     method="post"),
    # --- agreement (staff) ---
    "agreement:dashboard": staff_only(query=lambda w: {"collection": w["collection"].name}),
    "agreement:export": staff_only(args=lambda w: ["csv"], query=lambda w: {"collection": w["collection"].name,
                                                                           "n_boot": 10}),
    # --- annotation: alice's own campaign ---
    "annotation:home": Row(LOGIN, 200, 200),
    "annotation:annotate": Row(LOGIN, 200, redirect_to("/annotation/campaigns/{campaign}/review/"),
                               args=lambda w: [w["campaign"].pk]),
    "annotation:labels": Row(LOGIN, 200, 200, args=lambda w: [w["campaign"].pk]),
    "annotation:campaign_new": staff_only(),
    "annotation:review": staff_only(args=lambda w: [w["campaign"].pk]),
    "annotation:export": staff_only(args=lambda w: [w["campaign"].pk], query=lambda w: {"format": "csv"}),
    "annotation:adjudicate": staff_only(NOT_ASSERTED, args=lambda w: [w["item"].pk], method="post"),
    "annotation:status": staff_only(NOT_ASSERTED, args=lambda w: [w["campaign"].pk], method="post"),
    # what the button does: tests/annotation/test_budget_campaigns.py
    "annotation:budget_round": staff_only(NOT_ASSERTED, args=lambda w: [w["campaign"].pk], method="post"),
    # Who may act on a lease (alice's own, nobody else's): tests/annotation/test_views.py
    # and the API matrix; here only that nobody anonymous may.
    "annotation:next": Row(LOGIN, NOT_ASSERTED, NOT_ASSERTED, args=lambda w: [w["campaign"].pk], method="post"),
    "annotation:undo": Row(LOGIN, NOT_ASSERTED, NOT_ASSERTED, args=lambda w: [w["campaign"].pk], method="post"),
    "annotation:submit": Row(LOGIN, NOT_ASSERTED, NOT_ASSERTED, args=lambda w: [1], method="post"),
    "annotation:skip": Row(LOGIN, NOT_ASSERTED, NOT_ASSERTED, args=lambda w: [1], method="post"),
    "annotation:draft": Row(LOGIN, NOT_ASSERTED, NOT_ASSERTED, args=lambda w: [1], method="post"),
}

# Pages every visitor may open, and the parts of the site with their own rules.
PUBLIC = {"login", "logout", "favicon"}
ELSEWHERE = ("admin/", "api/")  # the Django admin (its own staff login); the API (its own matrix)


def page_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace: str, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace, route)
            elif isinstance(p, URLPattern) and not route.startswith(ELSEWHERE):
                names.add(f"{namespace}{p.name}")

    walk(get_resolver().url_patterns, "", "")
    return names - PUBLIC


def test_every_page_has_a_row():
    missing = page_names() - set(MATRIX)
    assert not missing, f"pages without a row in MATRIX: {sorted(missing)}"
    assert not set(MATRIX) - page_names(), "rows for pages that no longer exist"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' passwords hashed cheaply: every cell creates them again."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db, alice, admin_user) -> dict:
    collection, analysis, queries = h2r_setup(n_queries=2)
    llm = Assessor.objects.create(name="llm-judge", kind=Assessor.LLM)
    rows = list(RunRow.objects.filter(query__in=queries).select_related("query", "passage"))
    Judgment.objects.bulk_create([Judgment(query=r.query, passage=r.passage, assessor=llm, grade=r.rank % 2)
                                  for r in rows])
    campaign = annotation_services.campaign_create(
        name="rel", kind=Campaign.RELEVANCE, collection=collection, annotators=[alice],
        pairs=[(r.query.qid, r.passage.docid) for r in rows[:2]],
    )
    endpoint = judges_services.endpoint_get_or_create(base_url="http://127.0.0.1:9/v1", model="m")
    template = judges_selectors.template_resolve(prompt="graded", kinds=["graded"])
    job = judges_services.job_create_judge(collection=collection, endpoint=endpoint, template=template)
    return {"collection": collection, "analysis": analysis, "campaign": campaign, "item": campaign.items.first(),
            "job": job, "users": {"alice": alice, "admin": admin_user}}


def cells():
    for name, row in MATRIX.items():
        for role in ROLES:
            expected = getattr(row, role)
            if expected is NOT_ASSERTED:
                continue
            yield pytest.param(name, role, id=f"{name}-{role}")


@pytest.mark.parametrize("name,role", list(cells()))
def test_page_answers_each_role_as_the_table_says(client, world, name, role):
    row = MATRIX[name]
    expected = getattr(row, role)
    url = reverse(name, args=row.args(world))
    if role != "anonymous":
        client.force_login(world["users"][role])
    response = getattr(client, row.method)(url, row.query(world))
    if expected == LOGIN:
        assert response.status_code == 302, response.status_code
        location = urlsplit(response["Location"])
        assert location.path == "/accounts/login/" and parse_qs(location.query)["next"][0].split("?")[0] == url
    elif expected == FORBIDDEN:
        assert response.status_code == 403, (response.status_code, response.get("Location"))
        html = response.content.decode()
        assert "This page is not for your account" in html
        assert 'href="/annotation/"' in html  # the way back to their campaigns, in the site's layout
    elif isinstance(expected, tuple):
        target = expected[1].format(job=world["job"].pk, campaign=world["campaign"].pk)
        assert response.status_code == 302 and response["Location"] == target, response.get("Location")
    else:
        assert response.status_code == expected, response.content[:500]


@pytest.mark.django_db
def test_annotators_get_no_corpus_data_on_any_page_they_may_open(client, world):
    """What alice may open names her campaign, never another collection's analyses or jobs."""
    client.force_login(world["users"]["alice"])
    home = client.get("/", follow=True)
    html = home.content.decode()
    assert home.redirect_chain == [("/annotation/", 302)]
    assert "rel" in html
    for link in ("/analysis/", "/judges/jobs/", "/agreement/", "/admin/"):
        assert f'href="{link}"' not in html  # the menu offers annotators their campaigns only

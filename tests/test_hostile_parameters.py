"""Query-string parameters a fuzzer or a curious user types on the staff pages and the
API: every one is a 4xx or an ordinary page, never a 500 (issue 12, item 4)."""
from __future__ import annotations

import pytest

from analysis.models import HardnessAnalysis
from tests.annotation.factories import h2r_setup

pytestmark = pytest.mark.django_db

HOSTILE = ["abc", "-1", "0", "1" + "0" * 30, str(2**63), "1.5", "", "\x00", "%00", "'; DROP TABLE x; --", "é" * 300]


@pytest.fixture
def pages(admin_user):
    collection, analysis, _ = h2r_setup(n_queries=2)
    name = collection.name
    return {
        f"/analysis/collections/{name}/queries/": ["page", "sort", "desc", "q", "hard", "mode"],
        f"/analysis/collections/{name}/queries.csv": ["sort", "q", "hard"],
        f"/analysis/hardness/{analysis.pk}/": ["sort", "desc", "page"],
        f"/analysis/{name}/overlap/": ["analyses"],
        f"/analysis/{name}/overlap.json": ["analyses"],
        f"/analysis/{name}/overlap.csv": ["analyses"],
        f"/analysis/{name}/overlap.svg": ["analyses"],
        "/agreement/": ["collection", "seed", "n_boot", "assessor", "reference", "binary", "task"],
        "/agreement/export.csv": ["collection", "seed", "n_boot"],
        "/api/queries/": ["page", "page_size", "collection", "qid"],
        "/api/analyses/": ["page", "collection", "task"],
        f"/api/collections/{name}/overlap/": ["analyses"],
        "/api/agreement/": ["collection", "seed", "n_boot"],
        "/judges/jobs/": ["page", "status"],
        "/annotation/": ["page"],
    }


def test_no_parameter_value_makes_a_page_answer_500(client, admin_user, pages):
    client.raise_request_exception = False  # a 500 is an answer here, counted below
    client.force_login(admin_user)
    answered: dict[int, int] = {}
    failures = []
    for url, params in pages.items():
        for param in params:
            for value in HOSTILE:
                query = {param: value}
                if url.startswith(("/agreement/", "/api/agreement/")) and param != "collection":
                    query["collection"] = HardnessAnalysis.objects.first().collection.name
                response = client.get(url, query)
                answered[response.status_code] = answered.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append((url, param, value[:20], response.status_code))
    assert failures == []
    assert sum(answered.values()) > 400 and set(answered) <= {200, 304, 400, 404}, answered

"""Corpus endpoints: filters, cursor pages, the streamed qrels export, errors, query counts."""
from __future__ import annotations

import pytest

from analysis.models import Assessor, Judgment

pytestmark = pytest.mark.django_db


def test_anonymous_call_is_asked_for_a_token(corpus):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/judgments/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_bad_token_is_refused_with_the_error_body(corpus):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get("/api/collections/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_session_login_works_too(client, corpus, admin_user):
    client.force_login(admin_user)
    assert client.get("/api/collections/").json()["results"][0]["name"] == "dl19"


def test_judgments_filter_by_collection_qid_assessor_and_grade(admin_api, corpus):
    response = admin_api.get("/api/judgments/", {"collection": "dl19", "qid": "1063750", "assessor": "official", "grade": 2})
    assert response.status_code == 200
    rows = response.json()["results"]
    # the corpus fixture grades (query 1, passage p) as (1 + p) % 4: grade 2 for p = 1 and 5
    assert sorted(r["docid"] for r in rows) == ["7001", "7005"]
    assert {(r["qid"], r["assessor"], r["grade"]) for r in rows} == {("1063750", "official", 2)}


def test_judgments_cursor_pages_cover_every_row_once(admin_api, corpus):
    seen: list[int] = []
    url = "/api/judgments/?page_size=7"
    while url:
        body = admin_api.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(Judgment.objects.values_list("id", flat=True))
    assert len(seen) == len(set(seen)) == 36


def test_run_rows_of_one_query(admin_api, corpus):
    rows = admin_api.get(f"/api/runs/{corpus.run.pk}/rows/", {"qid": "104861"}).json()["results"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["docid"] for r in rows] == [p.docid for p in corpus.passages]


def test_qrels_export_streams_the_assessors_trec_qrels(admin_api, corpus):
    response = admin_api.get("/api/collections/dl19/qrels/", {"assessor": "llama3.2"})
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    expected = sorted(
        f"{q.qid} 0 {p.docid} {(qi * pi) % 4}"
        for qi, q in enumerate(corpus.queries)
        for pi, p in enumerate(corpus.passages)
    )
    assert sorted(text.splitlines()) == expected


def test_qrels_export_leaves_out_unparsed_llm_answers(admin_api, corpus):
    Judgment.objects.filter(assessor=corpus.llm, query=corpus.queries[0]).update(grade=None, valid=False)
    text = b"".join(admin_api.get("/api/collections/dl19/qrels/?assessor=llama3.2").streaming_content).decode()
    assert len(text.splitlines()) == 12
    assert "1037798" not in text


def test_qrels_export_of_unknown_assessor_is_404_with_error_body(admin_api, corpus):
    response = admin_api.get("/api/collections/dl19/qrels/?assessor=nobody")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_collection_is_404(admin_api, corpus):
    response = admin_api.get("/api/collections/dl99/")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_throttling_answers_429_with_the_error_body(admin_api, corpus, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/minute", "anon": "2/minute"})
    codes = [admin_api.get("/api/collections/").status_code for _ in range(3)]
    cache.clear()
    assert codes == [200, 200, 429]


LIST_ENDPOINTS = [
    # (url, queries): 1 token lookup (joined with its user) + 1 count (page-numbered
    # lists only) + 1 page of rows with their joins.
    ("/api/collections/", 3),
    ("/api/queries/", 3),
    ("/api/assessors/", 3),
    ("/api/runs/", 3),
    # cursor-paginated: no count query
    ("/api/judgments/", 2),
    ("/api/passages/", 2),
    ("/api/runs/{run}/rows/", 3),  # + the run itself
]


@pytest.mark.parametrize(("url", "n_queries"), LIST_ENDPOINTS)
def test_list_endpoints_run_constant_queries_whatever_the_page_size(
    admin_api, corpus, django_assert_num_queries, url, n_queries
):
    # more assessors and collections so that every list has more rows than the small page
    for i in range(5):
        Assessor.objects.create(name=f"judge{i}", kind=Assessor.LLM)
    url = url.replace("{run}", str(corpus.run.pk))
    for page_size in (1, 3, 50):
        with django_assert_num_queries(n_queries):
            response = admin_api.get(url, {"page_size": page_size})
        assert response.status_code == 200
        assert len(response.json()["results"]) >= min(page_size, 1)


def test_runs_and_assessors_filter(admin_api, corpus):
    assert [r["system"] for r in admin_api.get("/api/runs/", {"system": "bm25"}).json()["results"]] == ["bm25"]
    assert admin_api.get("/api/runs/", {"collection": "dl21"}).json()["results"] == []
    assert [a["name"] for a in admin_api.get("/api/assessors/", {"kind": "llm"}).json()["results"]] == ["llama3.2"]

"""The per-collection queries page: login, escaping, search, pagination."""
from __future__ import annotations

import pytest


@pytest.fixture
def dl19():
    from analysis.models import Collection

    return Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")


@pytest.mark.django_db
def test_queries_page_requires_login(client, dl19):
    response = client.get("/analysis/collections/dl19/queries/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_queries_page_escapes_query_text_and_keeps_leading_zeros(client, admin_user, dl19):
    from analysis.models import Query

    Query.objects.create(collection=dl19, qid="0042", text="<script>alert('x')</script> & co")
    client.force_login(admin_user)
    body = client.get("/analysis/collections/dl19/queries/").content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in body
    assert ">0042<" in body


@pytest.mark.django_db
def test_queries_page_searches_qid_and_text(client, admin_user, dl19):
    from analysis.models import Query

    Query.objects.create(collection=dl19, qid="1063750", text="why did the us volunterilay enter ww1")
    Query.objects.create(collection=dl19, qid="156493", text="do goldfish grow")
    client.force_login(admin_user)
    by_text = client.get("/analysis/collections/dl19/queries/", {"q": "GOLDFISH"})
    by_qid = client.get("/analysis/collections/dl19/queries/", {"q": "10637"})
    assert [q.qid for q in by_text.context["page"].object_list] == ["156493"]
    assert [q.qid for q in by_qid.context["page"].object_list] == ["1063750"]


@pytest.mark.django_db
def test_queries_page_paginates_with_constant_queries(client, admin_user, dl19, django_assert_max_num_queries):
    from analysis.models import Query

    Query.objects.bulk_create(Query(collection=dl19, qid=f"{i:03d}", text=f"query {i}") for i in range(120))
    client.force_login(admin_user)
    # session + user, the collection, the count, the page of queries
    with django_assert_max_num_queries(5):
        last = client.get("/analysis/collections/dl19/queries/", {"page": 3})
    assert [q.qid for q in last.context["page"].object_list] == [f"{i:03d}" for i in range(100, 120)]
    assert "Page 3 of 3" in last.content.decode()


@pytest.mark.django_db
def test_queries_page_of_unknown_collection_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/analysis/collections/nope/queries/").status_code == 404

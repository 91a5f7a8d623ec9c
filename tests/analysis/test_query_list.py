"""The query list as a research table: staff only, escaping, search, hard filters,
sorting, pagination with constant queries, and the CSV of the same table."""
from __future__ import annotations

import pytest


@pytest.fixture
def dl19():
    from analysis.models import Collection

    return Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")


@pytest.mark.django_db
def test_queries_page_requires_login_and_staff(client, alice, dl19):
    response = client.get("/analysis/collections/dl19/queries/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    client.force_login(alice)
    assert client.get("/analysis/collections/dl19/queries/").status_code == 403
    assert client.get("/analysis/collections/dl19/queries.csv").status_code == 403


@pytest.mark.django_db
def test_queries_page_escapes_query_text_and_keeps_leading_zeros(client, admin_user, dl19):
    from analysis.models import Query

    Query.objects.create(collection=dl19, qid="0042", text="<script>alert('x')</script> & co")
    client.force_login(admin_user)
    body = client.get("/analysis/collections/dl19/queries/").content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in body
    assert ">0042<" in body and 'href="/analysis/collections/dl19/queries/0042/"' in body


@pytest.mark.django_db
def test_queries_page_searches_qid_and_text(client, admin_user, dl19):
    from analysis.models import Query

    Query.objects.create(collection=dl19, qid="1063750", text="why did the us volunterilay enter ww1")
    Query.objects.create(collection=dl19, qid="156493", text="do goldfish grow")
    client.force_login(admin_user)
    by_text = client.get("/analysis/collections/dl19/queries/", {"q": "GOLDFISH"})
    by_qid = client.get("/analysis/collections/dl19/queries/", {"q": "10637"})
    assert [r.query.qid for r in by_text.context["page"].object_list] == ["156493"]
    assert [r.query.qid for r in by_qid.context["page"].object_list] == ["1063750"]


@pytest.mark.django_db
def test_queries_page_paginates_with_constant_queries(client, admin_user, dl19, django_assert_max_num_queries):
    from analysis.models import Query

    Query.objects.bulk_create(Query(collection=dl19, qid=f"{i:03d}", text=f"query {i}") for i in range(120))
    client.force_login(admin_user)
    # session + user, the collection, the column analyses, the queries, their labels
    with django_assert_max_num_queries(6):
        last = client.get("/analysis/collections/dl19/queries/", {"page": 3})
    assert [r.query.qid for r in last.context["page"].object_list] == [f"{i:03d}" for i in range(100, 120)]
    assert "Page 3 of 3" in last.content.decode()


@pytest.mark.django_db
def test_queries_page_of_unknown_collection_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/analysis/collections/nope/queries/").status_code == 404


def _analysis(collection, task, subject, values: dict[str, float], hard: set[str], measure: str = "ndcg_cut_10"):
    from analysis.models import HardnessAnalysis, HardnessLabel, Query

    a = HardnessAnalysis.objects.create(task=task, collection=collection, subject=subject, measure=measure,
                                        threshold=0.3, status="done")
    queries = {q.qid: q for q in Query.objects.filter(collection=collection)}
    HardnessLabel.objects.bulk_create([HardnessLabel(analysis=a, query=queries[q], value=v, hard=q in hard)
                                       for q, v in values.items()])
    return a


@pytest.fixture
def labelled(dl19):
    from analysis.models import Query

    Query.objects.bulk_create([Query(collection=dl19, qid=q, text=f"text {q}") for q in ["a1", "b2", "c3", "d4"]])
    h2r = _analysis(dl19, "h2r", "bm25", {"a1": 0.1, "b2": 0.2, "c3": 0.9, "d4": 0.5}, {"a1", "b2"})
    h2g = _analysis(dl19, "h2g", "qwen3", {"a1": 0.7, "b2": 0.1, "c3": 0.05}, {"b2", "c3"})
    h2j = _analysis(dl19, "h2j", "llama", {"b2": 9.0, "d4": 8.0}, {"b2", "d4"}, "disagreement_count")
    return h2r, h2g, h2j


def _qids(response) -> list[str]:
    return [r.query.qid for r in response.context["page"].object_list]


@pytest.mark.django_db
def test_query_table_filters_hard_in_any_or_all_and_sorts_by_a_column(client, admin_user, labelled):
    h2r, h2g, h2j = labelled
    client.force_login(admin_user)
    url = "/analysis/collections/dl19/queries/"
    assert _qids(client.get(url, {"hard": [h2r.id, h2g.id]})) == ["a1", "b2", "c3"]
    assert _qids(client.get(url, {"hard": [h2r.id, h2g.id], "mode": "all"})) == ["b2"]
    assert _qids(client.get(url, {"hard": [h2r.id, h2g.id, h2j.id], "mode": "all"})) == ["b2"]
    assert _qids(client.get(url, {"hard": [h2j.id], "q": "d4"})) == ["d4"]
    # by the H2G value, missing values last, in either direction
    assert _qids(client.get(url, {"sort": f"a{h2g.id}"})) == ["c3", "b2", "a1", "d4"]
    assert _qids(client.get(url, {"sort": f"a{h2g.id}", "desc": "1"})) == ["a1", "b2", "c3", "d4"]
    html = client.get(url).content.decode()
    assert ">H2R<" in html and ">H2G<" in html and ">H2J<" in html
    assert "0.1000" in html and '>9 <span class="flag"' in html and "9.0000" not in html  # counts stay integers
    # an unknown analysis id or sort key is ignored, not an error
    assert _qids(client.get(url, {"hard": ["999999", "x"], "sort": "nope"})) == ["a1", "b2", "c3", "d4"]


@pytest.mark.django_db
def test_query_table_csv_is_the_same_table_at_full_precision(client, admin_user, labelled):
    import csv
    import io

    h2r, h2g, _ = labelled
    client.force_login(admin_user)
    response = client.get("/analysis/collections/dl19/queries.csv", {"hard": [h2g.id], "sort": f"a{h2r.id}"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["qid", "query", "H2R bm25 value", "H2R bm25 hard"]
    assert [r[0] for r in rows[1:]] == ["b2", "c3"]  # hard in H2G, by the H2R value
    assert rows[1][2:6] == ["0.2", "1", "0.1", "1"]


@pytest.mark.django_db
def test_qids_with_slashes_and_url_characters_link_to_their_query_page(client, admin_user, dl19):
    from bs4 import BeautifulSoup

    from analysis.models import Query

    Query.objects.create(collection=dl19, qid="a/b?c#d%", text="odd id")
    client.force_login(admin_user)
    page = BeautifulSoup(client.get("/analysis/collections/dl19/queries/").content, "lxml")
    (link,) = page.select("a.qid")
    response = client.get(link["href"])
    assert response.status_code == 200 and "odd id" in response.content.decode()

"""The admin refuses what an import refuses: no way to turn a refusal into a silent accept.

Each case posts the admin's own form as a staff user would and checks the field's
message and that the database did not change.
"""
from __future__ import annotations

import pytest

from analysis.models import Assessor, Collection, Judgment, Passage, Query, Run, RunRow, System

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus():
    coll = Collection.objects.create(name="dl19")
    other = Collection.objects.create(name="dl20")
    q = Query.objects.create(collection=coll, qid="1", text="q")
    p = Passage.objects.create(collection=coll, docid="d1", text="p")
    foreign = Passage.objects.create(collection=other, docid="d9", text="elsewhere")
    official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    binary = Assessor.objects.create(name="llm-binary", kind=Assessor.LLM, scale=Assessor.BINARY)
    judgment = Judgment.objects.create(query=q, passage=p, assessor=official, grade=2)
    run = Run.objects.create(system=System.objects.create(name="bm25"), collection=coll)
    row = RunRow.objects.create(run=run, query=q, passage=p, rank=1, score=1.5)
    return {"coll": coll, "q": q, "p": p, "foreign": foreign, "official": official, "binary": binary,
            "judgment": judgment, "run": run, "row": row}


def digest() -> list:
    return [
        sorted(Collection.objects.values_list("name", flat=True)),
        sorted(Judgment.objects.values_list("assessor__name", "query__qid", "passage__docid", "grade", "valid")),
        sorted(RunRow.objects.values_list("run_id", "query_id", "passage_id", "rank", "score")),
    ]


def judgment_form(corpus, **changes) -> dict:
    data = {"query": corpus["q"].pk, "passage": corpus["p"].pk, "assessor": corpus["official"].pk, "grade": 2,
            "valid": "on", "raw_response": "", "probabilities": "null", "source": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("name", ["bad name", "../../x", "<b>x</b>", "DL19", "x" * 65, ""])
def test_a_collection_name_that_is_not_a_slug_is_refused_on_add_and_on_edit(admin_client, corpus, name):
    before = digest()
    added = admin_client.post("/admin/analysis/collection/add/", {"name": name, "corpus": "", "description": ""})
    assert added.status_code == 200  # the form again, with the field's message
    assert added.context["adminform"].form.errors["name"]
    edited = admin_client.post(f"/admin/analysis/collection/{corpus['coll'].pk}/change/",
                               {"name": name, "corpus": "", "description": ""})
    assert edited.status_code == 200 and edited.context["adminform"].form.errors["name"]
    assert digest() == before
    assert admin_client.get("/").status_code == 200  # the home page still reverses every name


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"grade": 7}, "grade", "grade 7 is outside the graded scale 0..3"),
        ({"grade": -1}, "grade", "grade -1 is outside the graded scale 0..3"),
        ({"grade": 40000}, "grade", "less than or equal to 32767"),
        ({"grade": 2, "assessor": "binary"}, "grade", "grade 2 is outside the binary scale 0..1"),
        ({"grade": None}, "grade", "a valid judgment has a grade"),
        ({"passage": "foreign"}, "passage", "the passage is not in the query's collection"),
    ],
)
def test_a_judgment_an_import_would_refuse_is_refused_on_edit(admin_client, corpus, changes, field, message):
    resolved = {k: corpus[v].pk if isinstance(v, str) and v in corpus else v for k, v in changes.items()}
    before = digest()
    response = admin_client.post(f"/admin/analysis/judgment/{corpus['judgment'].pk}/change/",
                                 judgment_form(corpus, **resolved))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in e for e in errors[field]), errors
    assert digest() == before


def test_a_judgment_on_the_scale_is_saved_through_the_write_path(admin_client, corpus):
    response = admin_client.post(f"/admin/analysis/judgment/{corpus['judgment'].pk}/change/",
                                 judgment_form(corpus, grade=3))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert Judgment.objects.get(pk=corpus["judgment"].pk).grade == 3


def test_a_run_row_edit_is_saved_as_a_run_row_and_writes_no_judgment(admin_client, corpus):
    row = corpus["row"]
    form = {"run": corpus["run"].pk, "query": corpus["q"].pk, "passage": corpus["p"].pk, "rank": 4, "score": 0.5}
    response = admin_client.post(f"/admin/analysis/runrow/{row.pk}/change/", form)
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.rank, row.score) == (4, 0.5)
    assert Judgment.objects.count() == 1


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"rank": 2**31}, "rank", "less than or equal to 2147483647"),
        ({"passage": "foreign"}, "passage", "the passage is not in the run's collection"),
    ],
)
def test_a_run_row_an_import_would_refuse_is_refused_on_edit(admin_client, corpus, changes, field, message):
    resolved = {k: corpus[v].pk if isinstance(v, str) and v in corpus else v for k, v in changes.items()}
    form = {"run": corpus["run"].pk, "query": corpus["q"].pk, "passage": corpus["p"].pk, "rank": 1, "score": 1.5}
    form.update(resolved)
    before = digest()
    response = admin_client.post(f"/admin/analysis/runrow/{corpus['row'].pk}/change/", form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in e for e in errors[field]), errors
    assert digest() == before

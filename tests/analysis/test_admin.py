"""The admin a researcher browses imported data in: search by qid/docid/text, filters,
and changelists whose number of queries does not grow with the rows shown."""
from __future__ import annotations

import pytest
from django.urls import reverse

from analysis.importers import services
from analysis.models import Assessor, ImportSource, Judgment

pytestmark = pytest.mark.django_db


@pytest.fixture
def dl19(paper_data):
    d = paper_data / "dl19"
    services.queries_import(collection="dl19", path=d / "test2019-queries-filterd.tsv")
    services.qrels_import(collection="dl19", path=d / "qrels.dl19-passage.txt")
    services.qrels_import(collection="dl19", path=d / "binary_qwen3_8b_dl19.txt", assessor="qwen3_8b-binary",
                          scale="binary")
    services.passages_import(collection="dl19", path=d / "qrels_text.dl19")


def test_judgments_are_searchable_by_qid_and_filterable_by_assessor_and_grade(admin_client, dl19,
                                                                              django_assert_max_num_queries):
    url = reverse("admin:analysis_judgment_changelist")
    official = Assessor.objects.get(name="official")
    expected = Judgment.objects.filter(query__qid="1037798", assessor=official, grade=3).count()
    assert expected > 0
    # session, user, the page of rows with their query/passage/assessor joined, the filters' choices:
    # a fixed number whatever the page size
    with django_assert_max_num_queries(12):
        response = admin_client.get(url, {"q": "1037798", "assessor__id__exact": official.id, "grade": 3})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="field-qid"') == expected
    assert "1037798" in page


def test_passages_are_searchable_by_docid_and_by_text(admin_client, dl19):
    url = reverse("admin:analysis_passage_changelist")
    by_docid = admin_client.get(url, {"q": "1017759"}).content.decode()
    assert "1017759" in by_docid
    by_text = admin_client.get(url, {"q": "Ethnographic research"}).content.decode()
    assert "1082489" in by_text


def test_import_sources_are_read_only(admin_client, dl19):
    source = ImportSource.objects.get(kind="judgments", label="official")
    assert admin_client.get(reverse("admin:analysis_importsource_add")).status_code == 403
    response = admin_client.post(reverse("admin:analysis_importsource_change", args=[source.id]),
                                 {"label": "tampered"})
    assert response.status_code == 403
    source.refresh_from_db()
    assert source.label == "official"


@pytest.mark.parametrize("model", ["collection", "query", "passage", "assessor", "importsource", "judgment",
                                   "system", "run", "runrow", "generation", "bertscore", "pairwisepreference",
                                   "failurecategory", "reasonproposal", "reason", "hardnessanalysis",
                                   "hardnesslabel"])
def test_every_analysis_model_has_a_working_changelist(admin_client, model):
    assert admin_client.get(reverse(f"admin:analysis_{model}_changelist")).status_code == 200

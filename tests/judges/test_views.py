"""Job pages: login required, staff-only start, live progress partial for HTMX."""
from __future__ import annotations

import pytest
from django.urls import reverse

from analysis.models import Assessor, Collection, Judgment, Passage, Query
from judges import selectors, services
from judges.models import LLMJob
from tests.judges.fake_llm import FakeConfig, FakeLLMServer


def make_job(base_url: str = "http://127.0.0.1:9/v1") -> LLMJob:
    collection = Collection.objects.create(name="mini")
    official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    q = Query.objects.create(collection=collection, qid="1", text="<script>alert(1)</script> query")
    for j in range(3):
        p = Passage.objects.create(collection=collection, docid=f"d{j}", text="text")
        Judgment.objects.create(query=q, passage=p, assessor=official, grade=1)
    endpoint = services.endpoint_get_or_create(base_url=base_url, model="<b>m</b>")
    template = selectors.template_resolve(prompt="graded", kinds=["graded"])
    return services.job_create_judge(collection=collection, endpoint=endpoint, template=template)


@pytest.mark.django_db
def test_job_pages_require_login(client):
    job = make_job()
    for url in (reverse("judges:job_list"), reverse("judges:job_detail", args=[job.pk]), reverse("judges:job_create")):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.django_db
def test_only_staff_may_see_start_or_control_jobs(client, alice):
    job = make_job()
    client.force_login(alice)
    # the pages name each endpoint's base URL: annotators get the 403 page, like the API's 403
    for url in (reverse("judges:job_list"), reverse("judges:job_detail", args=[job.pk]), reverse("judges:job_create")):
        response = client.get(url)
        assert response.status_code == 403 and b"127.0.0.1:9" not in response.content
    assert client.post(reverse("judges:job_control", args=[job.pk, "cancel"])).status_code == 403
    job.refresh_from_db()
    assert job.status == LLMJob.PENDING


@pytest.mark.django_db
def test_job_page_shows_progress_and_escapes_model_names(client, admin_user, django_assert_max_num_queries):
    job = make_job()
    LLMJob.objects.filter(pk=job.pk).update(status=LLMJob.RUNNING, done=1, invalid=1, calls=5, cached=2, tokens=77)
    client.force_login(admin_user)
    # session + user, the job with its endpoint/template/collection/assessor
    with django_assert_max_num_queries(4):
        response = client.get(reverse("judges:job_detail", args=[job.pk]))
    html = response.content.decode()
    assert "2 / 3" in html and "77" in html and 'hx-trigger="every 2s"' in html
    assert "<b>m</b>" not in html and "&lt;b&gt;m&lt;/b&gt;" in html
    partial = client.get(reverse("judges:job_detail", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<section id="job-progress"') and "<html" not in partial
    listing = client.get(reverse("judges:job_list")).content.decode()
    assert f"#{job.pk}" in listing


@pytest.mark.django_db
def test_staff_starts_a_judge_job_from_the_web(client, admin_user, django_capture_on_commit_callbacks):
    collection = Collection.objects.create(name="web")
    official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    q = Query.objects.create(collection=collection, qid="1", text="what is web")
    for j in range(4):
        p = Passage.objects.create(collection=collection, docid=f"d{j}", text=f"web passage {j}")
        Judgment.objects.create(query=q, passage=p, assessor=official, grade=j % 4)
    client.force_login(admin_user)
    template = selectors.template_resolve(prompt="binary", kinds=["binary"])
    with FakeLLMServer(FakeConfig()) as server, django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("judges:job_create"), {
            "collection": collection.pk, "base_url": server.base_url, "model": "web-judge", "template": template.pk,
            "samples": 1, "concurrency": 4, "api_key_env": "", "kind": "judge", "rounds": 1, "policy": "move",
        })
    job = LLMJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("judges:job_detail", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.created_by) == (LLMJob.DONE, 4, 4, admin_user)
    assert Judgment.objects.filter(assessor=job.assessor).count() == 4


@pytest.mark.django_db
def test_the_web_form_checks_the_template_fits_the_kind(client, admin_user):
    collection = Collection.objects.create(name="web")
    client.force_login(admin_user)
    template = selectors.template_resolve(prompt="graded", kinds=["graded"])
    response = client.post(reverse("judges:job_create"), {
        "kind": "generate", "collection": collection.pk, "base_url": "http://127.0.0.1:9/v1", "model": "m",
        "template": template.pk, "samples": 1, "concurrency": 4, "rounds": 1, "policy": "move",
    })
    assert response.status_code == 200
    assert "needs a template of kind generation" in response.content.decode()
    assert not LLMJob.objects.exists()


@pytest.mark.django_db
def test_staff_starts_reason_proposals_from_the_web(client, admin_user, django_capture_on_commit_callbacks):
    collection = Collection.objects.create(name="web")
    Query.objects.create(collection=collection, qid="1", text="what is web")
    Query.objects.create(collection=collection, qid="2", text="who is robert gray")
    client.force_login(admin_user)
    template = selectors.template_resolve(prompt="reasons_h2j", kinds=["reasons_h2j"])
    with FakeLLMServer(FakeConfig()) as server, django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("judges:job_create"), {
            "kind": "reasons", "collection": collection.pk, "base_url": server.base_url, "model": "m",
            "template": template.pk, "samples": 1, "concurrency": 4, "rounds": 1, "policy": "move",
        })
    job = LLMJob.objects.get()
    assert (job.kind, job.status, job.done) == ("reasons", LLMJob.DONE, 2)
    assert job.item_spec["task"] == "h2j"

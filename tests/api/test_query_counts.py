"""List endpoints of analyses, jobs and campaigns run the same number of queries at any page size.

(The corpus lists are checked in test_corpus.py, the labels list in test_campaigns.py.)
"""
from __future__ import annotations

import pytest

from analysis import hardness_services
from annotation import services as annotation_services
from judges import services as judges_services
from judges.tasks import run_llm_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(world, alice, bob):
    """Several analyses, jobs and campaigns, so that every list is longer than a small page."""
    for quantile in (0.2, 0.3, 0.5):
        hardness_services.h2r_analysis_run(collection=world.corpus.collection, system="bm25", quantile=quantile)
    for _ in range(3):
        judges_services.job_create_judge(collection=world.corpus.collection, endpoint=world.job.endpoint,
                                         template=world.job.template, limit=2)
    # the fixture's judge job answered by the fake LLM server: three calls to page through
    run_llm_job(world.job.pk)
    for n in range(3):
        annotation_services.campaign_create(
            name=f"extra {n}", kind="relevance", collection=world.corpus.collection, annotators=[alice, bob],
            pairs=[(world.corpus.queries[n].qid, world.corpus.passages[3].docid)],
        )
    return world


LISTS = [
    # 1 token (with its user) + 1 count + 1 page with the annotated hard counts
    ("/api/analyses/", 3),
    # token + the analysis + count + page of labels with their queries
    ("/api/analyses/{analysis}/labels/", 4),
    # token + count + page of jobs with endpoint, template, collection, assessor joined
    # + the page's calls grouped by job (its cost)
    ("/api/llm-jobs/", 4),
    # cursor-paginated (no count): token + the job + page of calls
    ("/api/llm-jobs/{job}/calls/", 3),
    # token + campaigns with counts + the caller's done counts + annotators per campaign
    # (an admin's membership needs no query of its own)
    ("/api/campaigns/", 4),
]


@pytest.mark.parametrize(("url", "n_queries"), LISTS)
def test_list_runs_constant_queries(many, admin_api, django_assert_num_queries, url, n_queries):
    url = url.replace("{analysis}", str(many.analysis.pk)).replace("{job}", str(many.job.pk))
    total = len(admin_api.get(url, {"page_size": 1000}).json()["results"])
    assert total >= 3
    for page_size in (1, 2, 100):
        with django_assert_num_queries(n_queries):
            response = admin_api.get(url, {"page_size": page_size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == min(page_size, total)

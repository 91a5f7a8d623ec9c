"""Relevance campaigns sample disagreements across queries, and the web form speaks its own
words (issue 14, item 6)."""
from __future__ import annotations

import io
import json
import math
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from analysis.models import Assessor
from annotation.models import Campaign
from tests.annotation import factories as f

pytestmark = pytest.mark.django_db

QUIET = {"stdout": io.StringIO(), "no_progress": True}
LLM = "llama3.2_latest-graded"


def qrels(path) -> dict[tuple[str, str], int]:
    out = {}
    for line in path.read_text().splitlines():
        qid, _, docid, grade = line.split()[:4]
        out[(qid, docid)] = int(grade)
    return out


@pytest.fixture
def dl19(paper_data):
    d = paper_data / "dl19"
    call_command("import_queries", str(d / "test2019-queries-filterd.tsv"), collection="dl19", **QUIET)
    call_command("import_qrels", str(d / "qrels.dl19-passage.txt"), collection="dl19", **QUIET)
    call_command("import_qrels", str(d / "qrels.dl19-passage_llama3.2_latest_0123_0_1.txt"), collection="dl19",
                 assessor=LLM, kind="llm", scale="graded", **QUIET)
    official = qrels(d / "qrels.dl19-passage.txt")
    llm = qrels(d / "qrels.dl19-passage_llama3.2_latest_0123_0_1.txt")
    # the oracle, from the files: |LLM - official| of every pair both graded
    return {pair: abs(llm[pair] - grade) for pair, grade in official.items() if pair in llm}


def create(alice, *extra: str) -> Campaign:
    out = io.StringIO()
    call_command("create_campaign", "--collection", "dl19", "--kind", "relevance", "--from-assessor", LLM,
                 "--annotators", alice.username, "--json", *extra, stdout=out)
    return Campaign.objects.get(pk=json.loads(out.getvalue())["campaign"])


def test_limit_40_spreads_the_pairs_across_the_queries_with_disagreements(dl19, alice):
    gaps = dl19
    disagreeing = Counter(qid for (qid, _), gap in gaps.items() if gap > 0)
    cap = math.ceil(40 / len(disagreeing))
    campaign = create(alice, "--limit", "40")
    items = list(campaign.items.values_list("query__qid", "passage__docid"))
    assert len(items) == 40
    per_query = Counter(qid for qid, _ in items)
    assert max(per_query.values()) <= cap
    # every item is a disagreement, and round by round: each query's largest one is in
    assert all(gaps[pair] > 0 for pair in items)
    assert len(per_query) == min(len(disagreeing), 40)
    for qid in per_query:
        largest = max(gap for (q, _), gap in gaps.items() if q == qid)
        assert max(gaps[(q, d)] for q, d in items if q == qid) == largest, qid


def test_per_query_caps_each_query(dl19, alice):
    campaign = create(alice, "--limit", "40", "--per-query", "1")
    per_query = Counter(campaign.items.values_list("query__qid", flat=True))
    assert max(per_query.values()) == 1
    assert len(per_query) == min(40, len({q for (q, _), g in dl19.items() if g > 0}))


def test_the_command_names_its_options_when_the_sample_is_not_said():
    f.CollectionFactory(name="tiny")
    f.UserFactory(username="ann")
    with pytest.raises(CommandError) as refused:
        call_command("create_campaign", "--collection", "tiny", "--kind", "relevance", "--annotators", "ann",
                     stdout=io.StringIO())
    assert "--from-assessor" in str(refused.value) and "--limit" in str(refused.value)


def test_the_web_form_offers_gold_and_llm_or_official_sources_and_names_its_fields(client, admin_user, alice):
    coll, _, llm = f.disagreeing_pairs(n=4, llm="llm-x")
    human = Assessor.objects.create(name="carol-human", kind=Assessor.HUMAN)
    q, p = f.QueryFactory(collection=coll), f.PassageFactory(collection=coll)  # a pair both grade 1: gold
    f.JudgmentFactory(query=q, passage=p, assessor=Assessor.objects.get(name="official"), grade=1)
    f.JudgmentFactory(query=q, passage=p, assessor=llm, grade=1)
    client.force_login(admin_user)
    page = client.get("/annotation/campaigns/new/").content.decode()
    assert 'name="gold"' in page and 'name="per_query"' in page
    assert "llm-x" in page and "official" in page and human.name not in page
    assert 'data-kinds="relevance"' in page and 'data-kinds="reasons"' in page
    r = client.post("/annotation/campaigns/new/", {
        "name": "no source", "collection": coll.pk, "kind": "relevance", "overlap": 1, "annotators": [alice.pk],
    })
    body = r.content.decode()
    assert r.status_code == 200 and not Campaign.objects.filter(name="no source").exists()
    assert "Sample from: choose the assessor" in body and "Number of items: give the number of pairs" in body
    assert "--from-assessor" not in body
    r = client.post("/annotation/campaigns/new/", {
        "name": "with gold", "collection": coll.pk, "kind": "relevance", "from_assessor": llm.pk, "limit": 2,
        "gold": 1, "overlap": 1, "annotators": [alice.pk], "task": "h2j",
    })
    assert r.status_code == 302, r.content.decode()
    campaign = Campaign.objects.get(name="with gold")
    assert list(campaign.items.filter(is_gold=True).values_list("query__qid", "gold_grade")) == [(q.qid, 1)]
    assert campaign.items.filter(is_gold=False).count() == 2
    assert campaign.task == ""  # the reasons field was ignored for a relevance campaign

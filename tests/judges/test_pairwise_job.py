"""``manage.py pairwise`` against the fake server: both orders asked, a tie exactly where
they disagree, only the passages graded ``--min-grade`` or more (issue #17, item 3).

The oracle of every preference is the fake server's own rule
(``fake_llm.expected_position``), applied here to each order independently.
"""
from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from analysis.models import Assessor, Collection, Generation, Judgment, PairwisePreference, Passage, Query
from judges.models import LLMCall, LLMJob
from tests.judges.fake_llm import FakeConfig, FakeLLMServer, expected_position, pair_is_fickle


def graded_collection(n_queries: int = 6, per_query: int = 8) -> Collection:
    """Passage j of a query is graded j % 4 by the official assessor: half of them 2 or 3."""
    collection = Collection.objects.create(name="mini")
    official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    for i in range(n_queries):
        q = Query.objects.create(collection=collection, qid=f"q{i}", text=f"what does person {i} do")
        for j in range(per_query):
            p = Passage.objects.create(collection=collection, docid=f"d{i}-{j}", text=f"Passage {j}: person {i} works.")
            Judgment.objects.create(query=q, passage=p, assessor=official, grade=j % 4)
    return collection


def run(command: str, base_url: str, capsys, *args: str) -> dict:
    call_command(command, "--base-url", base_url, "--model", "fake", "--json", *args)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def prompt_fields(prompt: str) -> tuple[str, str, str]:
    def field(name: str) -> str:
        match = re.search(rf"^{name}: (.*)$", prompt, re.MULTILINE)
        assert match, f"no {name} in the prompt"
        return match.group(1)
    return field("Query"), field("Passage 1"), field("Passage 2")


@pytest.mark.django_db
def test_pairwise_asks_both_orders_and_records_a_tie_where_they_disagree(capsys):
    graded_collection()
    with FakeLLMServer(FakeConfig()) as server:
        generator = run("generate", server.base_url, capsys, "--collection", "mini")["assessor"]
        server.state.reset()
        out = run("pairwise", server.base_url, capsys, "--collection", "mini", "--generator", generator)
        requests = dict(server.state.requests)
    official = {(q, d) for q, d in Judgment.objects.filter(grade__gte=2).values_list("query__qid", "passage__docid")}
    assert len(official) == 24
    assert (out["total"], out["judged"], out["orders"], out["min_grade"]) == (24, 24, 2, 2)
    # Each pair asked twice, each prompt once: the server saw 48 distinct prompts.
    assert sum(requests.values()) == 48 and set(requests.values()) == {1}
    generated = dict(Generation.objects.values_list("query__text", "text"))
    first = second = 0
    for request in LLMCall.objects.filter(job__kind="pairwise").values_list("request", flat=True):
        query, one, two = prompt_fields(request["messages"][-1]["content"])
        first += one == generated[query]
        second += two == generated[query]
    assert (first, second) == (24, 24)  # the generated passage in position 1 in half the calls

    prefs = list(PairwisePreference.objects.select_related("query", "passage", "generation"))
    assert {(p.query.qid, p.passage.docid) for p in prefs} == official  # grades 0 and 1 never asked
    ties = 0
    for p in prefs:
        query, judged, gen = p.query.text, p.passage.text, p.generation.text
        forward = expected_position(query, judged, gen)  # position 1 is the judged passage: 1 = judged
        swapped = 3 - expected_position(query, gen, judged)  # position 1 is the generated one
        assert (p.forward_label, p.swapped_label) == (forward, swapped)
        assert p.label == (forward if forward == swapped else PairwisePreference.TIE)
        assert (p.label == PairwisePreference.TIE) == pair_is_fickle(query, judged, gen)
        assert p.raw_response == f"##preferred: {expected_position(query, judged, gen)}"
        assert p.raw_response_swapped == f"##preferred: {expected_position(query, gen, judged)}"
        ties += p.label == PairwisePreference.TIE
    assert 0 < ties < len(prefs)  # the data has both kinds, so the rule was exercised both ways


@pytest.mark.django_db
def test_one_order_asks_the_judged_passage_first_only(capsys):
    graded_collection(n_queries=2)
    with FakeLLMServer(FakeConfig()) as server:
        generator = run("generate", server.base_url, capsys, "--collection", "mini")["assessor"]
        server.state.reset()
        out = run("pairwise", server.base_url, capsys, "--collection", "mini", "--generator", generator,
                  "--one-order", "--min-grade", "3")
        assert sum(server.state.requests.values()) == 4
    assert (out["total"], out["orders"]) == (4, 1)
    for p in PairwisePreference.objects.select_related("query", "passage", "generation"):
        assert Judgment.objects.get(query=p.query, passage=p.passage).grade == 3
        assert p.label == p.forward_label == expected_position(p.query.text, p.passage.text, p.generation.text)
        assert p.swapped_label is None and p.raw_response_swapped == ""


@pytest.mark.django_db
def test_an_unreadable_answer_in_either_order_leaves_the_pair_without_a_preference(capsys):
    graded_collection()
    with FakeLLMServer(FakeConfig(rate_garbage=0.3)) as server:
        generator = run("generate", server.base_url, capsys, "--collection", "mini")["assessor"]
        out = run("pairwise", server.base_url, capsys, "--collection", "mini", "--generator", generator)
    job = LLMJob.objects.get(pk=out["job"])
    invalid = job.items.filter(status="invalid")
    assert out["judged"] + out["invalid"] == 24 and 0 < out["invalid"] < 24
    keys = {tuple(k.split("\t")) for k in invalid.values_list("key", flat=True)}
    stored = set(PairwisePreference.objects.values_list("query__qid", "passage__docid"))
    assert not keys & stored and len(stored) == out["judged"]


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["--min-grade", "4"], "invalid choice: 4"),
    (["--generator", "nobody"], "--generator: no assessor 'nobody'"),
    (["--generator", "official"], "--generator: official generated no passage for mini"),
])
def test_bad_pairwise_arguments_are_refused_and_create_no_job(args, message):
    graded_collection(n_queries=1)
    argv = ["pairwise", "--collection", "mini", "--base-url", "http://127.0.0.1:9/v1", "--model", "fake"]
    if "--generator" not in args:
        argv += ["--generator", "official"]
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command(*argv, *args)
    assert not LLMJob.objects.exists()


@pytest.mark.django_db
def test_a_second_generator_under_the_same_assessor_is_refused_rather_than_overwriting(capsys):
    graded_collection(n_queries=2)
    with FakeLLMServer(FakeConfig()) as server:
        first = run("generate", server.base_url, capsys, "--collection", "mini", "--assessor", "gen-a")["assessor"]
        second = run("generate", server.base_url, capsys, "--collection", "mini", "--assessor", "gen-b")["assessor"]
        run("pairwise", server.base_url, capsys, "--collection", "mini", "--generator", first)
        before = (LLMJob.objects.count(), list(PairwisePreference.objects.values_list("id", "label", "generation_id")))
        with pytest.raises(CommandError, match="already compared the passages of gen-a in mini: give this job its own"):
            run("pairwise", server.base_url, capsys, "--collection", "mini", "--generator", second)
        assert (LLMJob.objects.count(), list(PairwisePreference.objects.values_list("id", "label", "generation_id"))) == before
        out = run("pairwise", server.base_url, capsys, "--collection", "mini", "--generator", second,
                  "--assessor", "judge-of-b")
    assert out["judged"] == 8
    by_generator = dict(PairwisePreference.objects.values_list("generation__generator__name").annotate(
        n=Count("id")).values_list("generation__generator__name", "n"))
    assert by_generator == {"gen-a": 8, "gen-b": 8}


@pytest.mark.django_db
def test_the_jobs_api_takes_min_grade_and_one_order(admin_user, capsys, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    graded_collection(n_queries=2)
    api = APIClient()
    api.force_authenticate(admin_user)
    with FakeLLMServer(FakeConfig()) as server:
        generator = run("generate", server.base_url, capsys, "--collection", "mini")["assessor"]
        server.state.reset()
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/llm-jobs/", {
                "kind": "pairwise", "collection": "mini", "base_url": server.base_url, "model": "fake",
                "generator": generator, "min_grade": 3, "one_order": True,
            }, format="json")
        assert response.status_code == 201, response.content
        assert sum(server.state.requests.values()) == 4  # the 4 grade-3 pairs, once each
        with django_capture_on_commit_callbacks(execute=True):
            both = api.post("/api/llm-jobs/", {
                "kind": "pairwise", "collection": "mini", "base_url": server.base_url, "model": "fake",
                "generator": generator, "assessor": "both-orders",
            }, format="json")
        assert both.status_code == 201, both.content
        assert sum(server.state.requests.values()) == 4 + 12  # 4 cached; 8 pairs graded 2 or 3 in two orders
    job = LLMJob.objects.get(pk=response.json()["id"])
    assert (job.total, job.item_spec["orders"], job.item_spec["min_grade"]) == (4, 1, 3)
    job = LLMJob.objects.get(pk=both.json()["id"])
    assert (job.total, job.item_spec["orders"], job.item_spec["min_grade"]) == (8, 2, 2)
    bad = api.post("/api/llm-jobs/", {"kind": "pairwise", "collection": "mini", "base_url": "http://127.0.0.1:9/v1",
                                      "model": "fake", "generator": generator, "min_grade": 7}, format="json")
    assert bad.status_code == 400 and "min_grade" in bad.json()["error"]["details"]

"""Fixtures of the API tests: a small corpus like the demo's and one client per role.

Roles (conventions/api.py): anonymous, annotator (alice: campaign A, bob:
campaign B), admin. Every client except the anonymous one authenticates with
``Authorization: Token KEY``, the way scripts do.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analysis.models import Assessor, Collection, Judgment, Passage, Query, Run, RunRow, System


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' passwords hashed cheaply: the permission table creates them per cell."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """Throttle counters live in the cache, shared by the whole test session: start each test at zero."""
    from django.core.cache import cache

    cache.clear()


@dataclass
class Corpus:
    collection: Collection
    queries: list[Query]
    passages: list[Passage]
    official: Assessor
    llm: Assessor
    run: Run
    extra: dict = field(default_factory=dict)


@pytest.fixture
def corpus(db) -> Corpus:
    """Three DL19-like queries, six passages, official and LLM grades and a BM25 run."""
    collection = Collection.objects.create(name="dl19", corpus="msmarco-v1-passage")
    queries = [
        Query.objects.create(collection=collection, qid=qid, text=text)
        for qid, text in [
            ("1037798", "who is robert gray"),
            ("1063750", "why did the us volunterilay enter ww1"),
            ("104861", "cost of interior concrete flooring"),
        ]
    ]
    passages = [
        Passage.objects.create(collection=collection, docid=str(7000 + i), text=f"passage <b>{i}</b> text")
        for i in range(6)
    ]
    official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    llm = Assessor.objects.create(name="llama3.2", kind=Assessor.LLM, model="llama3.2:latest")
    for qi, query in enumerate(queries):
        for pi, passage in enumerate(passages):
            Judgment.objects.create(query=query, passage=passage, assessor=official, grade=(qi + pi) % 4)
            Judgment.objects.create(query=query, passage=passage, assessor=llm, grade=(qi * pi) % 4)
    system = System.objects.create(name="bm25")
    run = Run.objects.create(system=system, collection=collection, tag="bm25")
    for query in queries:
        for rank, passage in enumerate(passages, start=1):
            RunRow.objects.create(run=run, query=query, passage=passage, rank=rank, score=10.0 - rank)
    return Corpus(collection, queries, passages, official, llm, run)


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    return token_client(admin_user)


@pytest.fixture
def alice_api(alice) -> APIClient:
    return token_client(alice)


@pytest.fixture
def bob_api(bob) -> APIClient:
    return token_client(bob)


@dataclass
class World:
    """Two campaigns (A: alice, B: bob), alice's lease in A, an H2R analysis, an LLM job."""

    corpus: Corpus
    campaign_a: object
    campaign_b: object
    assignment_a: object
    analysis: object
    job: object
    llm_url: str


@pytest.fixture(scope="session")
def fake_llm_server():
    """The judges' fake OpenAI-compatible server (no network beyond loopback)."""
    from tests.judges.fake_llm import FakeConfig, FakeLLMServer

    with FakeLLMServer(FakeConfig()) as server:
        yield server


@pytest.fixture
def world(corpus, alice, bob, admin_user, fake_llm_server, settings) -> World:
    from analysis import hardness_services
    from annotation import services as annotation_services
    from judges import selectors as judges_selectors
    from judges import services as judges_services

    settings.HARDQ_LLM_BACKOFF_BASE = 0.01
    settings.HARDQ_LLM_BACKOFF_MAX = 0.05
    pairs = [(q.qid, p.docid) for q in corpus.queries for p in corpus.passages[:2]]
    campaign_a = annotation_services.campaign_create(
        name="A", kind="relevance", collection=corpus.collection, annotators=[alice], pairs=pairs[:3]
    )
    campaign_b = annotation_services.campaign_create(
        name="B", kind="relevance", collection=corpus.collection, annotators=[bob], pairs=pairs[3:]
    )
    assignment_a = annotation_services.assignment_next(campaign=campaign_a, user=alice)
    analysis, _ = hardness_services.h2r_analysis_run(collection=corpus.collection, system="bm25")
    endpoint = judges_services.endpoint_get_or_create(base_url=fake_llm_server.base_url, model="fake-judge", max_attempts=2)
    template = judges_selectors.template_resolve(prompt="graded", kinds=["graded"])
    job = judges_services.job_create_judge(collection=corpus.collection, endpoint=endpoint, template=template, limit=3)
    return World(corpus, campaign_a, campaign_b, assignment_a, analysis, job, fake_llm_server.base_url)

"""Acceptance (issue 16, item 1): every LLM judgment carries its grade probabilities when known.

A judge job against the local OpenAI-compatible server that returns ``logprobs`` stores,
per judgment, the softmax of the top_logprobs the server sent at the grade token (over the
grades among them); a server that returns none leaves them empty and the job runs as
before; ``--samples N`` stores the vote shares. The oracle is what the server sent
(``FakeState.grade_alternatives``), renormalised with scipy.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command
from scipy.special import logsumexp

from analysis.models import Assessor, Judgment
from judges.models import LLMCall, LLMJob
from tests.api.conftest import token_client
from tests.judges.fake_llm import FakeConfig, FakeLLMServer, expected_grade, prompt_hash
from tests.judges.test_job_kinds import small_collection
from tests.judges.test_worker import broker  # noqa: F401  (the fixture: the run's Redis broker)

pytestmark = pytest.mark.django_db

GRADE_OF = {"0": 0, "1": 1, "2": 2, "3": 3}
ANSWER_OF = {"no": 0, "yes": 1}


def judge(server: FakeLLMServer, capsys, *args: str) -> dict:
    call_command("judge", "--collection", "mini", "--base-url", server.base_url, "--model", "fake", "--json", *args)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def softmax_over_grades(alternatives: list[dict], *, binary: bool) -> list[float]:
    """The oracle: the alternatives that spell a grade, their probabilities added per grade, normalised."""
    spelled = ANSWER_OF if binary else GRADE_OF
    by_grade: dict[int, list[float]] = {}
    for a in alternatives:
        grade = spelled.get(a["token"].strip().strip("\"'*:#{}").lower())
        if grade is not None:
            by_grade.setdefault(grade, []).append(a["logprob"])
    total = logsumexp([lp for lps in by_grade.values() for lp in lps])
    return [float(np.exp(logsumexp(by_grade[g]) - total)) if g in by_grade else 0.0 for g in range(len(spelled))]


def sent_at_grade_token(server: FakeLLMServer, judgment: Judgment) -> list[dict]:
    """What the server sent at the grade token of the answer to this judgment's prompt."""
    prompts = [
        c.request["messages"][-1]["content"]
        for c in LLMCall.objects.filter(error="", job__assessor=judgment.assessor)
        if f"Passage: {judgment.passage.text}" in c.request["messages"][-1]["content"]
        and f"Query: {judgment.query.text}" in c.request["messages"][-1]["content"]
    ]
    assert len(prompts) == 1
    return server.state.grade_alternatives[prompt_hash(prompts[0])]


@pytest.mark.parametrize("prompt,binary", [("graded", False), ("binary", True)])
def test_a_judge_job_against_a_server_with_logprobs_stores_the_grade_probabilities(capsys, prompt, binary):
    small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        out = judge(server, capsys, "--prompt", prompt)
        assert (out["judged"], out["invalid"], out["failed"]) == (12, 0, 0)
        judgments = list(Judgment.objects.filter(assessor__name=out["assessor"]).select_related("query", "passage", "assessor"))
        assert len(judgments) == 12
        for j in judgments:
            sent = sent_at_grade_token(server, j)
            assert j.probabilities == pytest.approx(softmax_over_grades(sent, binary=binary), abs=1e-12)
            assert len(j.probabilities) == (2 if binary else 4)
            assert sum(j.probabilities) == pytest.approx(1.0)
            grade = expected_grade(j.query.text, j.passage.text)
            assert j.grade == (int(grade >= 2) if binary else grade)
            assert int(np.argmax(j.probabilities)) == j.grade  # the server's most likely token is its answer
        # The request asked for them; the call record keeps what was sent at the grade token.
        call = LLMCall.objects.filter(error="", job__assessor__name=out["assessor"]).first()
        assert call.request["logprobs"] is True and call.request["top_logprobs"] == 5
        assert call.logprobs and {"token", "logprob"} <= set(call.logprobs[0])

        # Answered from the cache (a new assessor name, the same calls): the same probabilities.
        again = judge(server, capsys, "--prompt", prompt, "--assessor", "from-cache")
    assert (again["calls"], again["cached"]) == (0, 12)
    cached = dict(Judgment.objects.filter(assessor__name="from-cache").values_list("passage_id", "probabilities"))
    assert cached == {j.passage_id: j.probabilities for j in judgments}


def test_some_grade_missing_from_the_top_alternatives_gets_zero(capsys):
    small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        out = judge(server, capsys, "--prompt", "graded")
        zeros = 0
        for j in Judgment.objects.filter(assessor__name=out["assessor"]).select_related("query", "passage", "assessor"):
            sent = sent_at_grade_token(server, j)
            present = {GRADE_OF[a["token"].strip()] for a in sent if a["token"].strip() in GRADE_OF}
            for grade in set(range(4)) - present:
                assert j.probabilities[grade] == 0.0
                zeros += 1
    assert zeros > 0  # top_logprobs=5 of 6 alternatives: some grade falls off for some pair


def test_a_server_that_returns_no_logprobs_leaves_the_probabilities_empty(capsys):
    small_collection()
    with FakeLLMServer(FakeConfig(logprobs=False)) as server:
        out = judge(server, capsys, "--prompt", "graded")
    assert (out["judged"], out["invalid"], out["failed"]) == (12, 0, 0)
    assert LLMJob.objects.get(pk=out["job"]).status == LLMJob.DONE
    for j in Judgment.objects.filter(assessor__name=out["assessor"]).select_related("query", "passage"):
        assert j.valid and j.grade == expected_grade(j.query.text, j.passage.text)
        assert j.probabilities is None
    assert not LLMCall.objects.filter(logprobs__isnull=False).exists()


def test_no_logprobs_asks_for_none(capsys):
    small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        out = judge(server, capsys, "--prompt", "graded", "--no-logprobs")
    assert out["judged"] == 12
    assert not Judgment.objects.filter(assessor__name=out["assessor"], probabilities__isnull=False).exists()
    for call in LLMCall.objects.filter(job_id=out["job"]):
        assert "logprobs" not in call.request and "top_logprobs" not in call.request


def test_samples_store_the_majority_grade_with_the_vote_shares(capsys):
    small_collection()
    # Of three requests of a prompt, two answer the grade and one the grade + 1 (mod 4).
    with FakeLLMServer(FakeConfig(sample_offsets=(0, 1, 0))) as server:
        out = judge(server, capsys, "--prompt", "graded", "--samples", "3", "--param", "temperature=0.8")
    assert (out["judged"], out["calls"]) == (12, 36)
    for j in Judgment.objects.filter(assessor__name=out["assessor"]).select_related("query", "passage"):
        grade = expected_grade(j.query.text, j.passage.text)
        assert j.grade == grade
        shares = [0.0] * 4
        shares[grade] += 2 / 3
        shares[(grade + 1) % 4] += 1 / 3
        assert j.probabilities == pytest.approx(shares)


def test_a_tie_between_samples_goes_to_the_lower_grade(capsys):
    small_collection()
    with FakeLLMServer(FakeConfig(sample_offsets=(0, 1))) as server:
        out = judge(server, capsys, "--prompt", "graded", "--samples", "2", "--param", "temperature=0.8")
    assert out["judged"] == 12
    for j in Judgment.objects.filter(assessor__name=out["assessor"]).select_related("query", "passage"):
        grade = expected_grade(j.query.text, j.passage.text)
        other = (grade + 1) % 4
        assert j.grade == min(grade, other)
        assert j.probabilities[grade] == j.probabilities[other] == 0.5


def test_the_probabilities_are_in_the_judgments_api(capsys, admin_user):
    small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        out = judge(server, capsys, "--prompt", "graded", "--limit", "3")
    assessor = Assessor.objects.get(name=out["assessor"])
    response = token_client(admin_user).get("/api/judgments/", {"assessor": assessor.name})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 3
    stored = dict(Judgment.objects.filter(assessor=assessor).values_list("passage__docid", "probabilities"))
    for row in rows:
        assert row["probabilities"] == stored[row["docid"]] and len(row["probabilities"]) == 4


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("logprobs", [True, False], ids=["server-with-logprobs", "server-without"])
def test_a_job_on_a_real_celery_worker_stores_what_the_server_sent(broker, logprobs):
    """As in production: the job sent to a Celery worker process, the server in its own process."""
    from judges import selectors, services
    from tests.judges.fake_llm import FakeLLMProcess, asks_binary, logprobs_content
    from tests.judges.test_worker import kill9, start_worker, wait_for

    collection = small_collection()
    with FakeLLMProcess(FakeConfig(logprobs=logprobs)) as server:
        endpoint = services.endpoint_get_or_create(base_url=server.base_url, model="fake-worker", timeout=10)
        template = selectors.template_resolve(prompt="graded", kinds=["graded"])
        job = services.job_create_judge(collection=collection, endpoint=endpoint, template=template, concurrency=4)
        worker = start_worker(broker)
        try:
            services.job_start(job=job)
            wait_for(lambda: LLMJob.objects.get(pk=job.pk).status == LLMJob.DONE, timeout=120, what="the job to finish")
        finally:
            kill9(worker)
    job.refresh_from_db()
    assert (job.done, job.invalid, job.failed) == (12, 0, 0)
    calls = {c.request["messages"][-1]["content"]: c for c in LLMCall.objects.filter(job=job, error="")}
    for j in Judgment.objects.filter(assessor=job.assessor).select_related("query", "passage"):
        assert j.grade == expected_grade(j.query.text, j.passage.text)
        if not logprobs:
            assert j.probabilities is None
            continue
        prompt = next(p for p in calls if f"Passage: {j.passage.text}" in p and f"Query: {j.query.text}" in p)
        # The server's answer is a function of the prompt: rebuild what it sent at the grade token.
        _, sent = logprobs_content(prompt, calls[prompt].raw_response, top=5, binary=asks_binary(prompt), grade=j.grade)
        assert j.probabilities == pytest.approx(softmax_over_grades(sent, binary=False), abs=1e-12)

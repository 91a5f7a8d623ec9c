"""``pairwise`` on DL19: ``--min-grade 2`` (the default) asks only the pairs graded 2 and 3,
counted here from the qrels file itself; run by a real Celery worker against the fake
server in its own process. ``--top-grade-only`` picks exactly the pairs of the paper's
published pairwise file (886)."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from analysis.models import Assessor, Collection, Generation, Judgment, PairwisePreference
from judges import selectors, services
from judges.models import LLMCall, LLMJob
from tests.judges.conftest import load_dl19
from tests.judges.fake_llm import FakeConfig, FakeLLMProcess
from tests.judges.test_worker import broker, kill9, start_worker  # noqa: F401 (broker: a fixture)


def qrels_grades(paper_data) -> dict[tuple[str, str], int]:
    grades = {}
    for line in (paper_data / "dl19" / "qrels.dl19-passage.txt").read_text(encoding="utf-8").splitlines():
        qid, _, docid, grade = line.split()
        grades[(qid, docid)] = int(grade)
    return grades


def with_generations(collection: Collection, *, skip: set[str] = frozenset()) -> Assessor:
    generator = Assessor.objects.create(name="gen-llm", kind=Assessor.LLM)
    Generation.objects.bulk_create([
        Generation(query=q, generator=generator, text=f"A passage that answers: {q.text}.")
        for q in collection.queries.all() if q.qid not in skip
    ])
    return generator


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_min_grade_2_on_dl19_asks_only_the_pairs_graded_2_and_3_in_both_orders(paper_data, broker):
    collection = load_dl19(paper_data)
    skip = {"1037798", "19335"}  # two queries without a generation: their pairs are not asked
    generator = with_generations(collection, skip=skip)
    grades = qrels_grades(paper_data)
    expected = {k for k, g in grades.items() if g >= 2 and k[0] not in skip}
    assert len(expected) == 2501 - 7 - 7  # 2,501 pairs graded 2 or 3 on DL19; 7 of each skipped query

    with FakeLLMProcess(FakeConfig()) as server:
        worker = start_worker(broker)
        try:
            out = io.StringIO()
            call_command("pairwise", "--collection", "dl19", "--generator", generator.name, "--base-url",
                         server.base_url, "--model", "fake-pairwise", "--concurrency", "16", "--json", stdout=out)
        finally:
            kill9(worker)
        stats = server.stats()
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (report["total"], report["judged"], report["min_grade"], report["orders"]) == (len(expected), len(expected), 2, 2)
    job = LLMJob.objects.get(pk=report["job"])
    assert {tuple(k.split("\t")) for k in job.items.values_list("key", flat=True)} == expected
    # Every pair asked in both orders, nothing twice (identical passage texts share one call).
    distinct_prompts = {r["messages"][-1]["content"] for r in LLMCall.objects.filter(job=job).values_list("request", flat=True)}
    assert stats["requests"] == len(distinct_prompts) and set(stats["per_prompt_requests"].values()) == {1}
    assert len(expected) * 2 - 10 <= stats["requests"] <= len(expected) * 2
    stored = PairwisePreference.objects.filter(assessor=job.assessor)
    assert set(stored.values_list("query__qid", "passage__docid")) == expected
    assert not stored.filter(swapped_label__isnull=True).exists()
    official = dict(((q, d), g) for q, d, g in Judgment.objects.filter(assessor__name="official").values_list(
        "query__qid", "passage__docid", "grade"))
    assert {official[k] for k in stored.values_list("query__qid", "passage__docid")} == {2, 3}


@pytest.mark.django_db
def test_top_grade_only_picks_the_pairs_of_the_papers_pairwise_file(paper_data):
    collection = load_dl19(paper_data)
    generator = with_generations(collection)
    published = {(str(r["qid"]), str(r["did"])) for r in map(json.loads, (paper_data / "dl19" / "dl19.json").open())}
    assert len(published) == 886
    top = selectors.pairwise_pairs(collection=collection, generator=generator, top_grade_only=True)
    assert {tuple(k.split("\t")) for k in top} == published
    every = selectors.pairwise_pairs(collection=collection, generator=generator)
    assert len(every) == sum(1 for g in qrels_grades(paper_data).values() if g >= 2) == 2501
    endpoint = services.endpoint_get_or_create(base_url="http://127.0.0.1:9/v1", model="fake")
    template = selectors.template_resolve(prompt="pairwise", kinds=["pairwise"])
    job = services.job_create_pairwise(collection=collection, endpoint=endpoint, template=template, generator=generator)
    assert job.total == 2501 and job.item_spec["orders"] == 2 and job.item_spec["min_grade"] == 2

"""Every job kind end to end against the fake server: generation, pairwise, reasons, self-consistency, cascade."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from analysis.models import Assessor, Collection, Generation, Judgment, PairwisePreference, Passage, Query, ReasonProposal
from judges import selectors, services
from judges.models import LLMCall, LLMJob, RelabelDecision, TrainingExample
from tests.judges.fake_llm import FakeConfig, FakeLLMServer, expected_grade, expected_reasons


def small_collection(n_queries: int = 3, per_query: int = 4) -> Collection:
    collection = Collection.objects.create(name="mini")
    official = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    for i in range(n_queries):
        q = Query.objects.create(collection=collection, qid=f"q{i}", text=f"who is person number {i}")
        for j in range(per_query):
            p = Passage.objects.create(collection=collection, docid=f"d{i}-{j}", text=f"Passage {j} about person {i}. {{braces}} ok")
            Judgment.objects.create(query=q, passage=p, assessor=official, grade=j % 4)
    return collection


def run(command: str, base_url: str, capsys, *args: str) -> dict:
    call_command(command, "--base-url", base_url, "--model", "fake", "--json", *args)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.django_db
def test_self_consistency_asks_each_sample_and_stores_the_vote(capsys):
    small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        out = run("judge", server.base_url, capsys, "--collection", "mini", "--prompt", "graded", "--samples", "3",
                  "--param", "temperature=0.7")
        assert out["calls"] == 12 * 3  # the sample index is part of the cache key
        again = run("judge", server.base_url, capsys, "--collection", "mini", "--prompt", "graded", "--samples", "3",
                    "--param", "temperature=0.7")
    assert (again["calls"], again["cached"]) == (0, 36)
    assessor = Assessor.objects.get(name=out["assessor"])
    assert assessor.kind == Assessor.LLM and assessor.prompt_template == "hardq-graded" and assessor.prompt_version == "1"
    assert assessor.parameters == {"temperature": 0.7}
    for j in Judgment.objects.filter(assessor=assessor).select_related("query", "passage"):
        assert j.grade == expected_grade(j.query.text, j.passage.text)
    assert LLMCall.objects.filter(error="").values("sample").distinct().count() == 3


@pytest.mark.django_db
def test_binary_judging_uses_the_binary_scale(capsys):
    small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        out = run("judge", server.base_url, capsys, "--collection", "mini", "--prompt", "binary", "--limit", "5")
    assert (out["total"], out["judged"]) == (5, 5)
    assessor = Assessor.objects.get(name=out["assessor"])
    assert assessor.scale == Assessor.BINARY
    for j in Judgment.objects.filter(assessor=assessor).select_related("query", "passage"):
        assert j.grade == int(expected_grade(j.query.text, j.passage.text) >= 2)


@pytest.mark.django_db
def test_generation_then_pairwise(capsys):
    small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        gen = run("generate", server.base_url, capsys, "--collection", "mini")
        assert gen["judged"] == 3
        generator = gen["assessor"]
        texts = dict(Generation.objects.values_list("query__qid", "text"))
        assert texts == {f"q{i}": f"A passage that answers: who is person number {i}." for i in range(3)}
        assert all(g.response.startswith("<think>") for g in Generation.objects.all())  # raw kept, think removed from text
        pair = run("pairwise", server.base_url, capsys, "--collection", "mini", "--generator", generator,
                   "--min-grade", "0")
    assert pair["total"] == 12 and pair["judged"] == 12  # every judged pair with --min-grade 0
    assert set(PairwisePreference.objects.values_list("label", flat=True)) <= {0, 1, 2}  # 0: a tie
    pref = PairwisePreference.objects.select_related("generation").first()
    assert pref.generation.generator.name == generator


@pytest.mark.django_db
def test_reasons_never_leak_from_one_query_into_another(capsys):
    small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        out = run("propose_reasons", server.base_url, capsys, "--collection", "mini", "--task", "h2r", "--rounds", "2",
                  "--concurrency", "1", "--label", "mini_bm25_0.25")
    assert out["judged"] == 3
    prompts = {}
    for request in LLMCall.objects.filter(error="").order_by("id").values_list("request", flat=True):
        text = request["messages"][-1]["content"]
        qid = next(f"q{i}" for i in range(3) if f"who is person number {i}\n" in text)
        prompts.setdefault(qid, []).append(text)
    for qid, texts in prompts.items():
        assert len(texts) == 2  # two rounds
        others = [f"who is person number {i}" for i in range(3) if f"q{i}" != qid]
        for text in texts:
            for other in others:
                # Neither the other query nor any of its reasons appears in this query's prompts.
                assert all(reason not in text for reason in expected_reasons(other))
        # Round 2 shows round 1's list of the same query.
        assert repr(expected_reasons(f"who is person number {qid[1:]}")) in texts[1]
    for proposal in ReasonProposal.objects.prefetch_related("reasons").select_related("query"):
        reasons = [r.text for r in proposal.reasons.all()]
        assert reasons == expected_reasons(proposal.query.text) + [f"refined reason about {proposal.query.text}"]
        assert proposal.task == "h2r" and proposal.label == "mini_bm25_0.25"


@pytest.mark.django_db
def test_cascade_relabels_only_what_stage_two_confirms_and_exports_tevatron(tmp_path, capsys):
    rows = []
    for i in range(12):
        rows.append({
            "query_id": str(100 + i), "query": f"what is topic {i}",
            "positive_passages": [{"docid": f"p{i}", "title": "", "text": f"topic {i} is this"}],
            "negative_passages": [{"docid": f"n{i}-{k}", "title": "t", "text": f"maybe topic {i} part {k}"} for k in range(6)],
        })
    source = tmp_path / "train.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    output = tmp_path / "relabeled.jsonl"
    with FakeLLMServer(FakeConfig()) as cheap, FakeLLMServer(FakeConfig()) as strong:
        out = run("relabel", cheap.base_url, capsys, "--stage2-base-url", strong.base_url, "--stage2-model", "strong",
                  "--training-file", str(source), "--output", str(output))
        stage1_requests, stage2_requests = cheap.state.stats()["requests"], strong.state.stats()["requests"]
    job = LLMJob.objects.get(pk=out["job"])
    decisions = list(RelabelDecision.objects.filter(job=job))
    assert len(decisions) == 12 * 6
    flagged_examples = {d.example_id for d in decisions if d.stage1_flag}
    # Stage 1 saw every example; only examples it flagged went to stage 2.
    assert stage1_requests == 12
    assert stage2_requests == len(flagged_examples) > 0
    assert job.stats["stage1"]["calls"] == 12 and job.stats["stage2"]["calls"] == stage2_requests
    assert job.stats["stage2"]["tokens"] > 0
    for d in decisions:
        if not d.stage1_flag:
            assert (d.decided_stage, d.action) == (1, RelabelDecision.KEPT)
        else:
            assert d.decided_stage == 2
            assert d.action == (RelabelDecision.MOVED if d.stage2_flag else RelabelDecision.KEPT)
    moved = {d.docid for d in decisions if d.action == RelabelDecision.MOVED}
    exported = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["query_id"] for r in exported] == [r["query_id"] for r in rows]
    for row in exported:
        assert set(row) == {"query_id", "query", "positive_passages", "negative_passages"}
        pos = {p["docid"] for p in row["positive_passages"]}
        neg = {p["docid"] for p in row["negative_passages"]}
        assert not pos & neg
        assert len(pos) + len(neg) == 7  # policy "move": nothing lost
        assert {p for p in pos if p.startswith("n")} <= moved
        assert all(set(p) == {"docid", "title", "text"} for p in row["positive_passages"] + row["negative_passages"])
    assert sum(len(r["positive_passages"]) for r in exported) == 12 + len(moved)
    assert out["relabeled"] == len(moved)


@pytest.mark.django_db
def test_a_cancelled_job_stops_and_can_be_resumed():
    collection = small_collection()
    with FakeLLMServer(FakeConfig()) as server:
        endpoint = services.endpoint_get_or_create(base_url=server.base_url, model="fake")
        template = selectors.template_resolve(prompt="graded", kinds=["graded"])
        job = services.job_create_judge(collection=collection, endpoint=endpoint, template=template)
        services.job_cancel(job=job)
        from judges.tasks import run_llm_job

        run_llm_job.apply(args=[job.pk])
        job.refresh_from_db()
        assert job.status == LLMJob.CANCELLED and job.calls == 0
        LLMJob.objects.filter(pk=job.pk).update(status=LLMJob.PENDING)
        job.refresh_from_db()
        run_llm_job.apply(args=[job.pk])
    job.refresh_from_db()
    progress = selectors.job_progress(job=job)
    assert job.status == LLMJob.DONE and progress.finished == progress.total == 12


@pytest.mark.django_db
def test_cascade_examples_built_from_qrels_and_a_run(capsys):
    from analysis.models import Run, RunRow, System

    collection = small_collection(n_queries=2, per_query=4)  # grades 0,1,2,3 per query
    run_ = Run.objects.create(system=System.objects.create(name="bm25"), collection=collection)
    for q in collection.queries.all():
        extra = Passage.objects.create(collection=collection, docid=f"x-{q.qid}", text=f"unjudged about {q.text}")
        ranked = [extra] + [Passage.objects.get(docid=f"d{q.qid[1:]}-{j}") for j in range(4)]
        for rank, p in enumerate(ranked, start=1):
            RunRow.objects.create(run=run_, query=q, passage=p, rank=rank, score=10 - rank)
    with FakeLLMServer(FakeConfig()) as server:
        out = run("relabel", server.base_url, capsys, "--stage2-base-url", server.base_url, "--stage2-model", "strong",
                  "--collection", "mini", "--run", "bm25", "--k", "3", "--policy", "remove")
    job = LLMJob.objects.get(pk=out["job"])
    examples = {e.qid: e for e in TrainingExample.objects.filter(training_set__name__startswith="mini-bm25")}
    assert len(examples) == 2
    for qid, example in examples.items():
        i = qid[1:]
        # Positives: judged >= 1; hard negatives: the run's top 3 judged below 1 or unjudged.
        assert {p["docid"] for p in example.positives} == {f"d{i}-1", f"d{i}-2", f"d{i}-3"}
        assert {p["docid"] for p in example.negatives} == {f"x-{qid}", f"d{i}-0"}
        assert all(p["text"] for p in example.negatives)
    removed = set(selectors.relabels_to_verify(job=job).values_list("docid", flat=True))
    assert all(d.action in ("kept", "removed") for d in job.relabel_decisions.all())
    assert removed == set(job.relabel_decisions.filter(action="removed").values_list("docid", flat=True))

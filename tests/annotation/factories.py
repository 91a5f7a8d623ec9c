"""Factories and named fixtures for the annotation tests: users, collections, queries, passages, judgments, reasons, analyses."""
from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from analysis import models as am


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"ann{n}")
    password = factory.PostGenerationMethodCall("set_password", "ann-pass-123")


class CollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.Collection
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"coll{n}")
    corpus = "msmarco-v1-passage"


class QueryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.Query

    collection = factory.SubFactory(CollectionFactory)
    qid = factory.Sequence(lambda n: str(1000 + n))
    text = factory.Sequence(lambda n: f"what is topic number {n}")


class PassageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.Passage

    collection = factory.SubFactory(CollectionFactory)
    docid = factory.Sequence(lambda n: f"D{n}")
    text = factory.Sequence(lambda n: f"A passage about topic {n}.")


class AssessorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.Assessor
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"llm{n}")
    kind = am.Assessor.LLM


class JudgmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.Judgment

    query = factory.SubFactory(QueryFactory)
    passage = factory.SubFactory(PassageFactory)
    assessor = factory.SubFactory(AssessorFactory)
    grade = 1


class ReasonProposalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.ReasonProposal

    query = factory.SubFactory(QueryFactory)
    task = "h2r"
    assessor = factory.SubFactory(AssessorFactory)
    # As the pipeline labels its lists: proposed for BM25 (h2r_setup's analysis subject).
    subject = "bm25"
    label_collection = factory.LazyAttribute(lambda o: o.query.collection.name)
    settings = "bertscore_umbrela"
    quantile = 0.3
    label = factory.LazyAttribute(lambda o: f"{o.label_collection}_{o.subject}_{o.settings}_{o.quantile}")


class ReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.Reason

    proposal = factory.SubFactory(ReasonProposalFactory)
    position = factory.Sequence(lambda n: n)
    text = factory.Sequence(lambda n: f"The query needs fact number {n}.")


class HardnessAnalysisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.HardnessAnalysis

    task = "h2r"
    collection = factory.SubFactory(CollectionFactory)
    subject = "bm25"
    measure = "ndcg_cut_10"
    quantile = 0.25
    threshold = 0.3
    status = am.HardnessAnalysis.DONE


class HardnessLabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = am.HardnessLabel

    analysis = factory.SubFactory(HardnessAnalysisFactory)
    query = factory.SubFactory(QueryFactory)
    value = 0.1
    hard = True


def official(name: str = "official") -> am.Assessor:
    return AssessorFactory(name=name, kind=am.Assessor.OFFICIAL)


def pairs_collection(*, n: int, name: str = "") -> tuple[am.Collection, list[tuple[am.Query, am.Passage]]]:
    """A collection with ``n`` query-passage pairs (bulk, for the big campaigns)."""
    coll = CollectionFactory(**({"name": name} if name else {}))
    queries = am.Query.objects.bulk_create(
        [am.Query(collection=coll, qid=str(100 + i), text=f"query {i}") for i in range(n)]
    )
    passages = am.Passage.objects.bulk_create(
        [am.Passage(collection=coll, docid=f"P{i}", text=f"passage {i}") for i in range(n)]
    )
    return coll, list(zip(queries, passages))


def disagreeing_pairs(
    *, n: int, llm: str, name: str = "", official_grade: int = 0, llm_grade: int = 2
) -> tuple[am.Collection, list[tuple[am.Query, am.Passage]], am.Assessor]:
    """``n`` pairs graded ``official_grade`` by the official qrels and ``llm_grade`` by the
    LLM assessor ``llm``: the input of a relevance campaign ``--from-assessor llm``."""
    coll, pairs = pairs_collection(n=n, name=name)
    off, judge = official(), AssessorFactory(name=llm)
    for q, p in pairs:
        JudgmentFactory(query=q, passage=p, assessor=off, grade=official_grade)
        JudgmentFactory(query=q, passage=p, assessor=judge, grade=llm_grade)
    return coll, pairs, judge


def h2r_setup(*, n_queries: int = 2, n_reasons: int = 3, n_rows: int = 3, models: tuple[str, ...] = ("llama-a",)):
    """A collection with an H2R analysis: hard queries, a bm25 run, official grades, reasons."""
    coll = CollectionFactory()
    off = official()
    analysis = HardnessAnalysisFactory(collection=coll, task="h2r", subject="bm25", threshold=0.3)
    system = am.System.objects.get_or_create(name="bm25")[0]
    run = am.Run.objects.create(system=system, collection=coll)
    queries = []
    for qi in range(n_queries):
        q = QueryFactory(collection=coll)
        queries.append(q)
        HardnessLabelFactory(analysis=analysis, query=q, value=0.05 * qi, hard=True)
        for rank in range(1, n_rows + 1):
            p = PassageFactory(collection=coll)
            am.RunRow.objects.create(run=run, query=q, passage=p, rank=rank, score=10.0 - rank)
            JudgmentFactory(query=q, passage=p, assessor=off, grade=rank % 4)
        for m in models:
            llm = AssessorFactory(name=m)
            proposal = ReasonProposalFactory(query=q, task="h2r", assessor=llm)
            for i in range(n_reasons):
                ReasonFactory(proposal=proposal, position=i, text=f"model {models.index(m)} reason {i} for {q.qid}")
    # a query that is not hard
    HardnessLabelFactory(analysis=analysis, query=QueryFactory(collection=coll), value=0.9, hard=False)
    return coll, analysis, queries

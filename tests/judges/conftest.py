"""Fixtures of the judges tests: the fake OpenAI-compatible server and DL19 data."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from analysis.importers.formats import parse_qrels
from analysis.importers.reading import SourceFile
from analysis.models import Assessor, Collection, Judgment, Passage, Query
from tests.judges.fake_llm import FakeConfig, FakeLLMServer


@pytest.fixture
def fake_llm():
    """A fault-free fake server in a thread; tests reconfigure ``server.state.config``."""
    with FakeLLMServer(FakeConfig()) as server:
        yield server


@pytest.fixture(autouse=True)
def _fast_backoff(settings):
    # Tests inject faults by the hundred: back off in milliseconds, not seconds.
    settings.HARDQ_LLM_BACKOFF_BASE = 0.01
    settings.HARDQ_LLM_BACKOFF_MAX = 0.05


def load_dl19(paper_data: Path, *, name: str = "dl19", max_pairs: int | None = None) -> Collection:
    """The DL19 queries, judged passages and official qrels, bulk-created.

    (A stand-in for the import commands: only what the judges need, the qrels read by
    the importer's parser.)
    """
    base = paper_data / "dl19"
    collection = Collection.objects.create(name=name, corpus="msmarco-v1-passage")
    queries = {}
    for line in (base / "test2019-queries-filterd.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, text = line.split("\t", 1)
            queries[qid] = Query(collection=collection, qid=qid, text=text.strip())
    Query.objects.bulk_create(queries.values())
    records, _ = parse_qrels(SourceFile.from_path(base / "qrels.dl19-passage.txt"), scale="graded")
    qrels = [(r.qid, r.docid, r.grade) for r in records if r.qid in queries]
    if max_pairs:
        qrels = qrels[:max_pairs]
    wanted = {d for _, d, _ in qrels}
    passages = {}
    with (base / "qrels_text.dl19").open(encoding="utf-8") as fh:
        for line in fh:
            docid, _, text = line.rstrip("\n").partition("\t")
            if docid in wanted and docid not in passages:
                passages[docid] = Passage(collection=collection, docid=docid, text=text)
    for docid in wanted - set(passages):
        passages[docid] = Passage(collection=collection, docid=docid, text=None)
    Passage.objects.bulk_create(passages.values(), batch_size=2000)
    official, _ = Assessor.objects.get_or_create(name="official", defaults={"kind": Assessor.OFFICIAL})
    Judgment.objects.bulk_create(
        [Judgment(query=queries[q], passage=passages[d], assessor=official, grade=g) for q, d, g in qrels],
        batch_size=2000,
    )
    return collection


def import_dl19(paper_data: Path, *, name: str = "dl19") -> Collection:
    """DL19 queries, judged passage texts and official qrels through the import commands."""
    from django.core.management import call_command

    base = paper_data / "dl19"
    out = io.StringIO()
    call_command("import_queries", str(base / "test2019-queries-filterd.tsv"), "--collection", name, stdout=out)
    call_command("import_qrels", str(base / "qrels.dl19-passage.txt"), "--collection", name, stdout=out)
    call_command("import_passages", str(base / "qrels_text.dl19"), "--collection", name, stdout=out)
    return Collection.objects.get(name=name)

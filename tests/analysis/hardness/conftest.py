"""DL19 loaded into the test database once per module that asks for it.

Loading the three runs takes tens of seconds on a shared CI core, so the rows are
committed once for the module (and deleted after it); each test still runs in its own
transaction, so what a test writes (analyses, labels) is rolled back.
"""
from __future__ import annotations

import pytest

from tests.analysis.hardness import loaders
from tests.conftest import PAPER_DATA

DL19_RUNS = {
    "bm25": "run.msmarco-v1-passage.bm25-default.dl19.txt",
    "tas-b": "run.msmarco-v1-passage-distilbert-base-tas-b-dl19.txt",
    "unicoil": "run.msmarco-v1-passage.unicoil-otf.dl19.txt",
}
DL19_JUDGES = [
    ("qrels.dl19-passage_llama3.2_latest_0123_0_1.txt", "llama3.2-graded", "graded"),
    ("binary_qwen3_8b_dl19.txt", "qwen3-binary", "binary"),
]


def _import(command: str, *args: str) -> None:
    import io

    from django.core.management import call_command

    call_command(command, *args, "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())


def load_dl19():
    """DL19 through the import commands: queries, official qrels, the three runs, two judges."""
    from analysis.models import Collection

    d = PAPER_DATA / "dl19"
    _import("import_queries", str(d / "test2019-queries-filterd.tsv"), "--collection", "dl19")
    _import("import_qrels", str(d / "qrels.dl19-passage.txt"), "--collection", "dl19")
    for system, name in DL19_RUNS.items():
        _import("import_run", str(d / name), "--collection", "dl19", "--system", system)
    for name, assessor, scale in DL19_JUDGES:
        _import("import_qrels", str(d / name), "--collection", "dl19", "--assessor", assessor, "--scale", scale)
    return Collection.objects.get(name="dl19")


@pytest.fixture(scope="module")
def dl19_module(django_db_setup, django_db_blocker):
    if PAPER_DATA is None:
        pytest.skip("the shared paper data is not beside this checkout (set HARDQ_PAPER_DATA)")
    from analysis.models import Assessor, System

    with django_db_blocker.unblock():
        collection = load_dl19()
        try:
            yield collection
        finally:
            loaders.delete_collection(collection)
            System.objects.filter(name__in=list(DL19_RUNS)).delete()
            Assessor.objects.filter(name__in=["official"] + [a for _, a, _ in DL19_JUDGES]).delete()


@pytest.fixture
def dl19(dl19_module, db):
    return dl19_module

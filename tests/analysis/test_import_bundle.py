"""Acceptance: importing the paper data with import_bundle gives counts equal to the files,
and importing it again changes no count and no row."""
from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command

from analysis.models import BertScore, Generation, Judgment, PairwisePreference, Passage, Query, RunRow
from tests.analysis.importing import database_digest, read_lines

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

RUNS = {
    "bm25": "run.msmarco-v1-passage.bm25-default.dl19.txt",
    "unicoil": "run.msmarco-v1-passage.unicoil-otf.dl19.txt",
    "tas-b": "run.msmarco-v1-passage-distilbert-base-tas-b-dl19.txt",
}


def expected_from_files(directory: Path, name: str) -> dict:
    """Counts read straight from the raw files (the oracle), independent of the importers."""
    queries = {line.split("\t", 1)[0] for line in read_lines(next(directory.glob("test20*-queries*.tsv")))}
    passages = {line.split("\t", 1)[0] for line in read_lines(directory / f"qrels_text.{name}")}
    judges = {}
    for f in directory.glob(f"qrels.{name}-passage*.txt"):
        judges[f.name] = len({tuple(line.split()[0:3:2]) for line in read_lines(f)})
    for f in directory.glob("binary_*.txt"):
        judges[f.name] = len({tuple(line.split()[0:3:2]) for line in read_lines(f)})
    runs = {f.name: len(read_lines(f)) for f in directory.glob("run.*.txt")}
    generations = {f.name: len(read_lines(f)) for f in directory.glob("*.json") if "D2Q" in f.name or "all_reasons" in f.name}
    bertscore = sum(len(json.loads(line)["dids"]) for f in directory.glob("*bert_score*.json") for line in read_lines(f))
    pairwise = len(read_lines(directory / f"{name}.json"))
    return {"queries": queries, "passages": passages, "judges": judges, "runs": runs,
            "generations": generations, "bertscore": bertscore, "pairwise": pairwise}


def bundle(directory: Path, name: str) -> str:
    out = io.StringIO()
    call_command("import_bundle", str(directory), collection=name, no_progress=True, stdout=out)
    return out.getvalue()


def inventory_json() -> str:
    out = io.StringIO()
    call_command("inventory", json=True, stdout=out)
    return out.getvalue()


def test_paper_data_bundles_import_with_the_counts_of_the_files_and_a_second_import_changes_nothing(paper_data):
    dl19, dl21 = paper_data / "dl19", paper_data / "dl21"
    plan = bundle(dl19, "dl19")
    bundle(dl21, "dl21")

    # the plan names each file's kind and assessor/system before importing
    assert "qrels.dl19-passage_llama3.2_latest_0123_0_1.txt" in plan and "llama3.2_latest-graded" in plan
    assert "binary_qwen3_8b_dl19.txt" in plan and "qwen3_8b-binary" in plan

    for name, directory in [("dl19", dl19), ("dl21", dl21)]:
        expected = expected_from_files(directory, name)
        assert set(Query.objects.filter(collection__name=name).values_list("qid", flat=True)) == expected["queries"]
        with_text = Passage.objects.filter(collection__name=name, text__isnull=False)
        assert set(with_text.values_list("docid", flat=True)) == expected["passages"]
        per_assessor = Counter(
            Judgment.objects.filter(query__collection__name=name).values_list("assessor__name", flat=True)
        )
        official = f"qrels.{name}-passage.txt"
        assert per_assessor["official"] == expected["judges"][official]
        llm_files = {f: n for f, n in expected["judges"].items() if f != official}
        assert sorted(n for a, n in per_assessor.items() if a != "official") == sorted(llm_files.values())
        assert len(per_assessor) == len(expected["judges"])
        rows = Counter(RunRow.objects.filter(run__collection__name=name).values_list("run__system__name", flat=True))
        assert sorted(rows.values()) == sorted(expected["runs"].values())
        assert Generation.objects.filter(query__collection__name=name).count() == sum(expected["generations"].values())
        assert BertScore.objects.filter(query__collection__name=name).count() == expected["bertscore"]
        assert PairwisePreference.objects.filter(query__collection__name=name).count() == expected["pairwise"]

    # the published figures (issue 3 and the paper-data README)
    assert Query.objects.filter(collection__name="dl19").count() == 43
    assert Passage.objects.filter(collection__name="dl19", text__isnull=False).count() == 9139
    assert Passage.objects.filter(collection__name="dl21", text__isnull=False).count() == 10824
    dl19_judgments = Counter(
        Judgment.objects.filter(query__collection__name="dl19").values_list("assessor__name", flat=True)
    )
    assert dl19_judgments == {a: 9260 for a in ["official", "llama3.2_latest-graded", "qwen3_8b-graded",
                                                "llama3.2_latest-binary", "qwen3_8b-binary"]}
    dl19_rows = Counter(RunRow.objects.filter(run__collection__name="dl19").values_list("run__system__name", flat=True))
    assert dl19_rows == {"bm25": 43000, "unicoil": 43000, "tas-b": 430}
    assert Judgment.objects.filter(query__collection__name="dl21", assessor__name="official").count() == 10828
    # every zero-shot BERTScore row is linked to the generation it scores
    assert not BertScore.objects.filter(generation__isnull=True).exists()

    inventory_before = inventory_json()
    digest_before = database_digest()
    again = bundle(dl19, "dl19") + bundle(dl21, "dl21")
    assert again.count("unchanged") == len(list(dl19.iterdir())) + len(list(dl21.iterdir()))  # every file
    assert database_digest() == digest_before
    assert inventory_json() == inventory_before
    inventory = json.loads(inventory_before)["collections"]
    assert inventory["dl19"]["passages"] == 9139 and inventory["dl19"]["queries"] == 43
    assert inventory["dl19"]["run_rows"] == {"bm25": 43000, "tas-b": 430, "unicoil": 43000}

"""The ``hardness`` command on DL19 in the database: the paper's figures, stored analyses."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command

from analysis.models import HardnessAnalysis, HardnessLabel, Run
from tests.analysis.hardness.conftest import DL19_RUNS
from tests.analysis.hardness.test_h2j import _raw, reference_binary, reference_graded


def run_json(*args) -> dict:
    out = io.StringIO()
    call_command("hardness", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def run_text(*args) -> str:
    out = io.StringIO()
    call_command("hardness", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_h2r_reproduces_the_dl19_figures_and_stores_each_run(dl19):
    bm25 = run_json("h2r", "--collection", "dl19", "--system", "bm25")
    assert round(bm25["threshold"], 6) == 0.376102 and round(bm25["hard_mean"], 6) == 0.182705
    assert len(bm25["hard"]) == 11 and "1063750" in bm25["hard"]
    assert bm25["n_queries"] == 43 and bm25["per_query"]["1063750"] == 0.0

    compat = run_json("h2r", "--collection", "dl19", "--system", "bm25", "--compat", "trectools")
    assert round(compat["threshold"], 6) == 0.381432 and round(compat["hard_mean"], 6) == 0.217202
    assert "1063750" not in compat["hard"] and compat["per_query"]["1063750"] is None
    assert "1063750" in {d["qid"] for d in compat["parameters"]["compat_disagreements"]}

    text = run_text("h2r", "--collection", "dl19", "--system", "bm25", "--compat", "trectools")
    assert "threshold: 0.381432" in text and "hard mean: 0.217202" in text
    assert "1063750: default 0.000000 (hard=True), compat NaN (hard=False)" in text

    for system, figures in [("tas-b", (0.631890, 0.457691)), ("unicoil", (0.523346, 0.312427))]:
        for extra in ([], ["--compat", "trectools"]):
            r = run_json("h2r", "--collection", "dl19", "--system", system, *extra)
            assert (round(r["threshold"], 6), round(r["hard_mean"], 6)) == figures

    # every run of the command is a new analysis with one label per query
    analyses = HardnessAnalysis.objects.filter(task="h2r", collection=dl19)
    assert analyses.count() == 7
    first = analyses.get(id=bm25["analysis_id"])
    assert first.labels.count() == 43 and first.labels.filter(hard=True).count() == 11
    assert HardnessLabel.objects.get(analysis=first, query__qid="1063750").hard


@pytest.mark.django_db
def test_h2r_other_quantile_and_measure_make_a_new_analysis(dl19):
    a = run_json("h2r", "--collection", "dl19", "--system", "bm25")
    b = run_json("h2r", "--collection", "dl19", "--system", "bm25", "--quantile", "0.5", "--measure", "map")
    assert a["analysis_id"] != b["analysis_id"]
    stored = HardnessAnalysis.objects.get(id=b["analysis_id"])
    assert stored.quantile == 0.5 and stored.measure == "map" and stored.parameters["judged_only"] is False
    assert len(b["hard"]) > len(a["hard"])


@pytest.mark.django_db
def test_h2r_run_file_is_analysed_without_importing_it(dl19, paper_data):
    d = paper_data / "dl19"
    runs_before = Run.objects.count()
    r = run_json("h2r", "--collection", "dl19", "--system", "bm25-file", "--run-file", str(d / DL19_RUNS["bm25"]))
    assert round(r["threshold"], 6) == 0.376102 and "1063750" in r["hard"]
    assert Run.objects.count() == runs_before and not Run.objects.filter(system__name="bm25-file").exists()
    q = run_json("h2r", "--collection", "dl19", "--system", "bm25-file", "--run-file", str(d / DL19_RUNS["bm25"]),
                 "--qrels-file", str(d / "qrels.dl19-passage.txt"))
    assert q["per_query"] == r["per_query"]


@pytest.mark.django_db
def test_h2j_command_matches_the_raw_files_and_records_the_counting(dl19, paper_data):
    d = paper_data / "dl19"
    human = _raw(d / "qrels.dl19-passage.txt")
    graded = run_json("h2j", "--collection", "dl19", "--judge", "llama3.2-graded")
    assert set(graded["hard"]) == reference_graded(human, _raw(d / "qrels.dl19-passage_llama3.2_latest_0123_0_1.txt"))
    assert graded["parameters"]["include_zero"] is False and graded["variant"] == "graded"
    zero = run_json("h2j", "--collection", "dl19", "--assessor", "llama3.2-graded", "--include-zero")
    assert zero["parameters"]["include_zero"] is True
    binary = run_json("h2j", "--collection", "dl19", "--judge", "qwen3-binary")  # variant from the judge's scale
    assert binary["variant"] == "binary"
    assert set(binary["hard"]) == reference_binary(human, _raw(d / "binary_qwen3_8b_dl19.txt"))
    text = run_text("h2j", "--collection", "dl19", "--judge", "llama3.2-graded", "--mode", "graded")
    assert "left out of the distribution" in text


@pytest.mark.django_db
def test_overlap_of_the_chosen_hard_sets(dl19):
    bm25 = run_json("h2r", "--collection", "dl19", "--system", "bm25")
    tasb = run_json("h2r", "--collection", "dl19", "--system", "tas-b")
    judge = run_json("h2j", "--collection", "dl19", "--judge", "qwen3-binary")
    # an older analysis of the same subject is superseded by the latest one
    run_json("h2r", "--collection", "dl19", "--system", "bm25", "--quantile", "0.1")
    latest_bm25 = run_json("h2r", "--collection", "dl19", "--system", "bm25")

    # default: one analysis per task (the paper's figure): here H2R bm25 (the first
    # system by name, its newest analysis) and the judge
    default = run_json("overlap", "--collection", "dl19")
    assert default["sets"] == {"H2R bm25": sorted(latest_bm25["hard"]), "H2J qwen3-binary (binary)": sorted(judge["hard"])}

    chosen = ",".join(str(a["analysis_id"]) for a in (latest_bm25, tasb, judge))
    data = run_json("overlap", "--collection", "dl19", "--analyses", chosen)
    assert data["analyses"] == [latest_bm25["analysis_id"], tasb["analysis_id"], judge["analysis_id"]]
    sets = {k: set(v) for k, v in data["sets"].items()}
    assert sets == {"H2R bm25": set(latest_bm25["hard"]), "H2R tas-b": set(tasb["hard"]),
                    "H2J qwen3-binary (binary)": set(judge["hard"])}
    regions = {tuple(r["sets"]): r for r in data["regions"]}
    all3 = regions[("H2R bm25", "H2R tas-b", "H2J qwen3-binary (binary)")]
    assert set(all3["intersection"]) == set(bm25["hard"]) & set(tasb["hard"]) & set(judge["hard"])
    only_bm25 = regions[("H2R bm25",)]
    assert set(only_bm25["exclusive"]) == set(bm25["hard"]) - set(tasb["hard"]) - set(judge["hard"])

    out = io.StringIO()
    call_command("hardness", "overlap", "--collection", "dl19", "--csv", "--analyses", chosen, stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 7
    pair = next(r for r in rows if r["sets"] == "H2R bm25 & H2R tas-b")
    assert int(pair["intersection_size"]) == len(set(bm25["hard"]) & set(tasb["hard"]))


@pytest.mark.django_db
def test_paper_tables_print_the_seed_figures(dl19):
    run_json("h2r", "--collection", "dl19", "--system", "bm25", "--compat", "trectools")
    run_json("h2r", "--collection", "dl19", "--system", "tas-b")
    out = io.StringIO()
    call_command("paper_tables", "--collection", "dl19", stdout=out)
    text = out.getvalue()
    # the seed table: BM25 0.217 / 0.381 (compat), TAS-B 0.457 / 0.631 (the paper truncates: 0.6319 -> 0.631)
    bm25 = next(line for line in text.splitlines() if "bm25" in line)
    tasb = next(line for line in text.splitlines() if "tas-b" in line)
    assert "0.217" in bm25 and "0.381" in bm25
    assert "0.458" in tasb and "0.632" in tasb

"""H2R per-query values against the oracles: pytrec_eval (default) and trectools (compat)."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import pytrec_eval

from analysis.hardness.h2r import h2r_analysis, h2r_from_files, read_qrels_file, read_run_file

RUNS = {
    "bm25": "run.msmarco-v1-passage.bm25-default.dl19.txt",
    "tas-b": "run.msmarco-v1-passage-distilbert-base-tas-b-dl19.txt",
    "unicoil": "run.msmarco-v1-passage.unicoil-otf.dl19.txt",
}


def _plain_parse(path, cols):
    out: dict[str, dict] = {}
    for line in open(path):
        f = line.split()
        out.setdefault(f[0], {})[f[2]] = cols(f)
    return out


def pytrec_judged_ndcg10(run_path, qrels_path) -> dict[str, float]:
    """The oracle: pytrec_eval's ndcg_cut_10 on the run restricted to judged documents."""
    qrels = _plain_parse(qrels_path, lambda f: int(f[3]))
    run = _plain_parse(run_path, lambda f: float(f[4]))
    judged = {q: {d: s for d, s in docs.items() if d in qrels[q]} for q, docs in run.items() if q in qrels}
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    return {q: m["ndcg_cut_10"] for q, m in ev.evaluate(judged).items()}


def trectools_ndcg10(run_path, qrels_path) -> dict[str, float]:
    """The oracle of the reference script: trectools' get_ndcg, removeUnjudged=True."""
    from trectools import TrecEval, TrecQrel, TrecRun

    qrels = TrecQrel(str(qrels_path))
    run = TrecRun(str(run_path))
    run.run_data = run.run_data[run.run_data["query"].isin(qrels.qrels_data["query"].unique())]
    res = TrecEval(run, qrels).get_ndcg(depth=10, per_query=True, removeUnjudged=True)
    return {str(q): float(v) for q, v in res["NDCG@10"].items()}


@pytest.mark.parametrize("system", list(RUNS))
def test_default_values_equal_pytrec_eval_on_the_judged_only_run(paper_data, system):
    d = paper_data / "dl19"
    oracle = pytrec_judged_ndcg10(d / RUNS[system], d / "qrels.dl19-passage.txt")
    outcome = h2r_from_files(d / RUNS[system], d / "qrels.dl19-passage.txt")
    assert len(outcome.values) == 43
    for qid, value in outcome.values.items():
        # pytrec_eval omits a query none of whose judged documents was retrieved: that is 0
        assert abs(value - oracle.get(qid, 0.0)) < 1e-9, qid
    assert set(oracle) <= set(outcome.values)


@pytest.mark.parametrize("system", list(RUNS))
def test_compat_values_equal_trectools_nan_included(paper_data, system):
    d = paper_data / "dl19"
    oracle = trectools_ndcg10(d / RUNS[system], d / "qrels.dl19-passage.txt")
    outcome = h2r_from_files(d / RUNS[system], d / "qrels.dl19-passage.txt", compat="trectools")
    assert set(oracle) == set(outcome.values)
    for qid, expected in oracle.items():
        got = outcome.values[qid]
        if math.isnan(expected):
            assert got is not None and math.isnan(got), qid
        else:
            assert abs(got - expected) < 1e-9, qid


def test_bm25_figures_default_and_compat(paper_data):
    """The data README's figures, to six digits, and 1063750 hard only by default."""
    d = paper_data / "dl19"
    run, qrels = read_run_file(d / RUNS["bm25"]), read_qrels_file(d / "qrels.dl19-passage.txt")
    default = h2r_analysis(run, qrels)
    assert round(default.threshold, 6) == 0.376102
    assert round(default.hard_mean, 6) == 0.182705
    assert len(default.hard) == 11 and "1063750" in default.hard
    assert default.values["1063750"] == 0.0

    compat = h2r_analysis(run, qrels, compat="trectools")
    assert round(compat.threshold, 6) == 0.381432
    assert round(compat.hard_mean, 6) == 0.217202
    assert len(compat.hard) == 11 and "1063750" not in compat.hard
    disagreeing = {d["qid"] for d in compat.details["_compat"]["disagreements"]}
    assert "1063750" in disagreeing


@pytest.mark.parametrize("system,threshold,mean", [("tas-b", 0.631890, 0.457691), ("unicoil", 0.523346, 0.312427)])
def test_tasb_and_unicoil_figures_are_the_same_either_way(paper_data, system, threshold, mean):
    d = paper_data / "dl19"
    for compat in (None, "trectools"):
        o = h2r_from_files(d / RUNS[system], d / "qrels.dl19-passage.txt", compat=compat)
        assert (round(o.threshold, 6), round(o.hard_mean, 6)) == (threshold, mean)
        assert len(o.hard) == 11


def test_ties_follow_trec_eval_by_default_and_trectools_in_compat(tmp_path):
    """Tied scores: trec_eval breaks by docid descending, trectools ascending (both as strings)."""
    qrels = tmp_path / "qrels"
    qrels.write_text("1 0 10 3\n1 0 9 0\n1 0 100 0\n2 0 5 1\n")
    run = tmp_path / "run"
    # docs 9, 10 and 100 tie; at depth 1 the doc that comes first decides everything
    run.write_text("1 Q0 9 1 5.0 t\n1 Q0 10 2 5.0 t\n1 Q0 100 3 5.0 t\n2 Q0 5 1 1.0 t\n")
    ev = pytrec_eval.RelevanceEvaluator({"1": {"10": 3, "9": 0, "100": 0}, "2": {"5": 1}}, {"ndcg_cut.1"})
    oracle = ev.evaluate({"1": {"9": 5.0, "10": 5.0, "100": 5.0}, "2": {"5": 1.0}})
    got = h2r_from_files(run, qrels, measure="ndcg_cut_1_judged")
    assert got.values["1"] == pytest.approx(oracle["1"]["ndcg_cut_1"], abs=1e-12)
    assert got.values["1"] == 0.0  # "9" > "100" > "10" as strings, descending: 9 first
    tt = trectools_depth1(run, qrels)
    compat = h2r_analysis(read_run_file(run), read_qrels_file(qrels), measure="ndcg_cut_1_judged", compat="trectools")
    # ascending as strings: "10" first, the relevant one
    assert tt["1"] == 1.0 and compat.values["1"] == 1.0


def trectools_depth1(run, qrels):
    from trectools import TrecEval, TrecQrel, TrecRun

    res = TrecEval(TrecRun(str(run)), TrecQrel(str(qrels))).get_ndcg(depth=1, per_query=True, removeUnjudged=True)
    return {str(q): float(v) for q, v in res["NDCG@1"].items()}


def test_judged_query_without_relevant_passage_is_reported_not_hard(tmp_path):
    qrels = tmp_path / "qrels"
    qrels.write_text("1 0 a 0\n1 0 b 0\n2 0 c 2\n3 0 d 1\n4 0 e 1\n")
    run = tmp_path / "run"
    run.write_text("1 Q0 a 1 3 t\n2 Q0 c 1 3 t\n3 Q0 x 1 3 t\n3 Q0 d 2 2 t\n4 Q0 y 1 1 t\n")
    o = h2r_from_files(run, qrels)
    assert o.status["1"] == "no_relevant" and o.values["1"] is None and "1" not in o.hard
    assert o.values["4"] == 0.0 and o.status["4"] == "ok"  # relevant, none retrieved: 0
    expected = pd.Series([1.0, 1.0, 0.0]).quantile(0.25)
    assert o.threshold == expected and o.hard == ["4"]


def test_other_measures_equal_pytrec_eval(paper_data):
    d = paper_data / "dl19"
    qrels = _plain_parse(d / "qrels.dl19-passage.txt", lambda f: int(f[3]))
    run = _plain_parse(d / RUNS["bm25"], lambda f: float(f[4]))
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map", "recall.100", "recip_rank"})
    oracle = ev.evaluate({q: r for q, r in run.items() if q in qrels})
    for measure, key in [("ndcg_cut_10", "ndcg_cut_10"), ("map", "map"), ("recall_100", "recall_100"),
                         ("recip_rank", "recip_rank")]:
        o = h2r_from_files(d / RUNS["bm25"], d / "qrels.dl19-passage.txt", measure=measure)
        for qid, v in o.values.items():
            assert abs(v - oracle[qid][key]) < 1e-9, (measure, qid)


@pytest.mark.parametrize("shape", ["plain", "leading_zeros", "alphanumeric", "messy_spacing", "tabs", "crlf", "no_final_newline"])
def test_run_file_reader_keeps_ids_as_strings_whatever_the_file_looks_like(tmp_path, shape):
    """The integer fast path must never change a result: "007" is not "7"."""
    import random

    rng = random.Random(5)
    qrels_lines, run_lines = [], []
    for q in range(30):
        qid = {"leading_zeros": f"0{q}", "alphanumeric": f"q{q}"}.get(shape, str(q + 1))
        docs = [f"{d:03d}" if shape == "leading_zeros" and d % 3 == 0 else
                (f"msmarco_passage_{d:02d}_{d * 7}" if shape == "alphanumeric" else str(d)) for d in rng.sample(range(1, 300), 60)]
        for d in docs[:25]:
            qrels_lines.append(f"{qid} 0 {d} {rng.choice([0, 0, 1, 2, 3])}")
        if shape == "leading_zeros":  # the run also names "7" where the qrels say "007"
            docs += [d.lstrip("0") for d in docs[:5] if d.startswith("0")]
        for r, d in enumerate(docs):
            sep = {"messy_spacing": "  " if r % 7 == 0 else " ", "tabs": "\t"}.get(shape, " ")
            run_lines.append(sep.join([qid, "Q0", d, str(r + 1), f"{rng.uniform(0, 9):.3f}", "x"]))
    eol = "\r\n" if shape == "crlf" else "\n"
    (tmp_path / "qrels").write_bytes((eol.join(qrels_lines) + eol).encode())
    (tmp_path / "run").write_bytes((eol.join(run_lines) + ("" if shape == "no_final_newline" else eol)).encode())
    oracle = pytrec_judged_ndcg10(tmp_path / "run", tmp_path / "qrels")
    got = h2r_from_files(tmp_path / "run", tmp_path / "qrels")
    assert set(oracle) <= set(got.values)
    for qid, v in got.values.items():
        if got.status[qid] == "ok":
            assert abs(v - oracle.get(qid, 0.0)) < 1e-12, qid

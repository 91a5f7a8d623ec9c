"""H2G: offline BERTScore through the Celery task, equal to a direct bert_score.score call."""
from __future__ import annotations

import io
import json
import re
import statistics

import pytest
from django.core.management import call_command

from analysis.hardness_services import analysis_outcome
from analysis.hardness.h2g import offline_model_path, strip_think
from analysis.models import BertScore, HardnessAnalysis

QIDS = 3  # a few queries only: every pair is a BERT forward pass on a shared CPU


def _import(command: str, *args: str) -> None:
    call_command(command, *args, "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())


def _subset(paper_data, tmp_path):
    """The DL19 queries with the fewest passages judged >= 2 (at least one), as small files."""
    d = paper_data / "dl19"
    qrels = [line.split() for line in (d / "qrels.dl19-passage.txt").read_text().splitlines() if line.strip()]
    gens = {str(json.loads(line)["query_id"]): json.loads(line)
            for line in (d / "DL19_D2Q_ZS_qwen3_8b.json").read_text().splitlines() if line.strip()}
    rel: dict[str, list[str]] = {}
    for q, _, docid, grade in qrels:
        if int(grade) >= 2 and q in gens:
            rel.setdefault(q, []).append(docid)
    keep = sorted(rel, key=lambda q: (len(rel[q]), q))[:QIDS]
    need = {doc for q, _, doc, _ in qrels if q in keep}
    texts = {}
    with (d / "qrels_text.dl19").open(encoding="utf-8") as fh:
        for line in fh:
            docid, _, text = line.rstrip("\n").partition("\t")
            if docid in need:
                texts[docid] = text
    files = {
        "queries": "\n".join(l for l in (d / "test2019-queries-filterd.tsv").read_text().splitlines()
                             if l.split("\t")[0] in keep) + "\n",
        "qrels": "\n".join(" ".join(r) for r in qrels if r[0] in keep) + "\n",
        "passages": "".join(f"{k}\t{v}\n" for k, v in texts.items()),
        "gen": "".join(json.dumps(gens[q]) + "\n" for q in keep),
        "bertscore": "".join(l + "\n" for l in (d / "dl19_bert_score_qwen3.json").read_text().splitlines()
                             if l.strip() and str(json.loads(l)["qid"]) in keep),
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_text(content, encoding="utf-8")
    paths["gen"] = paths["gen"].rename(tmp_path / "DL19_D2Q_ZS_qwen3_8b.json")
    paths["bertscore"] = paths["bertscore"].rename(tmp_path / "dl19_bert_score_qwen3.json")
    return keep, {q: rel[q] for q in keep}, texts, gens, paths


@pytest.fixture
def h2g_data(db, paper_data, tmp_path):
    keep, rel, texts, gens, p = _subset(paper_data, tmp_path)
    _import("import_queries", str(p["queries"]), "--collection", "dl19")
    _import("import_qrels", str(p["qrels"]), "--collection", "dl19")
    _import("import_passages", str(p["passages"]), "--collection", "dl19")
    _import("import_generations", str(p["gen"]), "--collection", "dl19", "--generator", "qwen3_8b")
    _import("import_bertscore", str(p["bertscore"]), "--collection", "dl19", "--generator", "qwen3_8b")
    return keep, rel, texts, gens, p


def test_strip_think_removes_the_reasoning_block():
    assert strip_think("<think>\nplan...\n</think>\n\nGoldfish grow.") == "Goldfish grow."
    assert strip_think("no block") == "no block"
    assert strip_think("answer <think>unfinished") == "answer"


@pytest.mark.django_db
def test_computed_bertscore_equals_a_direct_bert_score_call(h2g_data, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    keep, rel, texts, gens, _ = h2g_data
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("hardness", "h2g", "--collection", "dl19", "--generator", "qwen3_8b", "--json", stdout=out)
    # inside the test's transaction the task runs when the block commits, after the print
    analysis = HardnessAnalysis.objects.get(id=json.loads(out.getvalue())["analysis_id"])
    result = analysis_outcome(analysis=analysis)
    assert analysis.status == "done" and analysis.progress_done == analysis.progress_total == sum(map(len, rel.values()))

    # the oracle: bert_score.score on the same pairs and model, candidates without <think>
    from bert_score import score

    cands, refs, owners = [], [], []
    for q in keep:
        cand = re.sub(r"<think>.*?</think>", "", gens[q]["response"], flags=re.S).strip()
        for docid in rel[q]:
            cands.append(cand)
            refs.append(texts[docid])
            owners.append(q)
    (_, _, f1), hashcode = score(cands, refs, model_type=str(offline_model_path()), num_layers=6, return_hash=True)
    per_q: dict[str, list[float]] = {}
    for q, f in zip(owners, f1.tolist()):
        per_q.setdefault(q, []).append(f)
    for q in keep:
        assert abs(result["per_query"][q] - statistics.fmean(per_q[q])) < 1e-6, q
    stored = BertScore.objects.filter(origin="computed")
    assert stored.count() == len(cands) and set(stored.values_list("model_id", flat=True)) == {hashcode}

    # max aggregation over the stored scores: no second model pass, a new analysis
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("hardness", "h2g", "--collection", "dl19", "--generator", "qwen3_8b", "--agg", "max", "--json",
                     stdout=out)
    mx = analysis_outcome(analysis=HardnessAnalysis.objects.get(id=json.loads(out.getvalue())["analysis_id"]))
    assert mx["analysis_id"] != result["analysis_id"]
    for q in keep:
        assert abs(mx["per_query"][q] - max(per_q[q])) < 1e-6
    assert BertScore.objects.filter(origin="computed").count() == len(cands)


@pytest.mark.django_db
def test_imported_source_is_the_plain_mean_of_each_rows_f1_list(h2g_data):
    keep, _, _, _, p = h2g_data
    expected = {str(json.loads(l)["qid"]): statistics.fmean(json.loads(l)["scores"]["f1"])
                for l in p["bertscore"].read_text().splitlines() if l.strip()}
    out = io.StringIO()
    call_command("hardness", "h2g", "--collection", "dl19", "--generator", "qwen3_8b", "--source", "imported",
                 "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert set(expected) == set(keep)
    for q, v in expected.items():
        assert abs(result["per_query"][q] - v) < 1e-9
    assert result["hard"] == [min(expected, key=expected.get)]  # 3 values: only the lowest is below q=0.25

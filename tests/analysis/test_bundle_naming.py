"""The naming scheme import_bundle uses: other parts of HardQ (and people) rely on these names."""
from __future__ import annotations

from analysis.importers import bundle


def test_every_paper_data_file_is_recognised_with_the_documented_names(paper_data):
    plan19 = bundle.bundle_plan(directory=paper_data / "dl19", collection="dl19")
    plan21 = bundle.bundle_plan(directory=paper_data / "dl21", collection="dl21")
    assert not plan19.skipped and not plan21.skipped
    seen = {(f.path.name, f.kind, f.recognised.who) for f in plan19.files + plan21.files}
    expected = {
        ("test2019-queries-filterd.tsv", "queries", "-"),
        ("qrels_text.dl19", "passages", "-"),
        ("qrels.dl19-passage.txt", "qrels", "official (scale=graded)"),
        ("qrels.dl19-passage_llama3.2_latest_0123_0_1.txt", "qrels", "llama3.2_latest-graded (scale=graded)"),
        ("binary_qwen3_8b_dl19.txt", "qrels", "qwen3_8b-binary (scale=binary)"),
        ("run.msmarco-v1-passage.bm25-default.dl19.txt", "run", "bm25"),
        ("run.msmarco-v1-passage.unicoil-otf.dl19.txt", "run", "unicoil"),
        ("run.msmarco-v1-passage-distilbert-base-tas-b-dl19.txt", "run", "tas-b"),
        ("DL19_D2Q_ZS_generated_llama3.2_latest.json", "generations", "llama3.2_latest (setting=zero_shot)"),
        ("DL19_D2Q_ZS_qwen3_8b.json", "generations", "qwen3_8b (setting=zero_shot)"),
        ("DL19_all_reasons_expansion_llama3.2_latest.json", "generations",
         "llama3.2_latest (setting=reason_expansion)"),
        ("dl19_bert_score_llama3.json", "bertscore", "llama3.2_latest (setting=zero_shot)"),
        ("dl19_bert_score_qwen3.json", "bertscore", "qwen3_8b (setting=zero_shot)"),
        ("bert_score_dl19_reason_expansion_llama3.2.json", "bertscore", "llama3.2_latest (setting=reason_expansion)"),
        ("dl19.json", "pairwise", "pairwise_llm"),
        ("qrels.dl21-passage_phi3_14b_0123_0_1.txt", "qrels", "phi3_14b-graded (scale=graded)"),
        ("h2r_hard_to_retrieve_dl21.csv", "hard_queries", "bm25 (task=h2r, quantile=0.3)"),
    }
    assert expected <= seen
    order = [f.kind for f in plan19.to_import]
    assert order == sorted(order, key=["queries", "passages", "qrels", "run", "generations", "bertscore",
                                       "pairwise"].index)
    judge = next(f for f in plan21.files if f.path.name == "qrels.dl21-passage_phi4_latest_0123_0_1.txt")
    assert judge.recognised.options["model"] == "phi4_latest"


def test_files_of_another_collection_and_unknown_names_are_skipped_not_fatal(paper_data, tmp_path):
    for name in ["qrels.dl21-passage.txt", "README.txt"]:
        (tmp_path / name).write_text("x\n")
    (tmp_path / "original.reasons.qwen3_8b.h2j.all.txt").write_text("x\n")
    plan = bundle.bundle_plan(directory=tmp_path, collection="dl19")
    reasons = {f.path.name: f.skip_reason for f in plan.files}
    assert "dl21" in reasons["qrels.dl21-passage.txt"]
    assert reasons["README.txt"] == "name not recognised"
    assert reasons["original.reasons.qwen3_8b.h2j.all.txt"] == ""  # reasons span collections
    assert any("skipped" in line for line in plan.lines())

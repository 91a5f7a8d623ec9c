"""What a researcher relies on when importing: idempotence, --replace, --dry-run, ids kept as
strings, messy text kept byte for byte, <think> blocks stripped, docids without text."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from analysis.importers import services
from analysis.models import (
    Assessor, BertScore, Generation, HardnessAnalysis, ImportSource, Judgment, Passage, Query, Reason,
    ReasonProposal, RunRow,
)
from tests.analysis.importing import database_digest, dl19_subset, read_lines, write_lines

pytestmark = pytest.mark.django_db


def run_cmd(name: str, *args, **options) -> str:
    out = io.StringIO()
    if name.startswith("import_"):
        options["no_progress"] = True
    call_command(name, *map(str, args), stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def files(paper_data, tmp_path):
    return dl19_subset(paper_data, tmp_path / "dl19")


def test_importing_the_same_file_again_reports_unchanged_and_touches_no_row(files):
    run_cmd("import_queries", files["queries"], collection="dl19")
    first = run_cmd("import_run", files["run"], collection="dl19", system="bm25")
    assert f"{len(read_lines(files['run']))} created" in first
    before = database_digest()
    again = run_cmd("import_run", files["run"], collection="dl19", system="bm25")
    assert "unchanged" in again
    assert database_digest() == before


def test_dry_run_counts_what_it_would_do_and_writes_nothing(files, tmp_path):
    before = database_digest()
    out = run_cmd("import_queries", files["queries"], collection="dl19", dry_run=True)
    assert "DRY RUN" in out and f"{len(read_lines(files['queries']))} created" in out
    assert database_digest() == before

    bundle_dir = tmp_path / "bundle"
    bundle_dir.mkdir()
    (bundle_dir / "test2019-queries-filterd.tsv").write_bytes(files["queries"].read_bytes())
    (bundle_dir / "qrels.dl19-passage.txt").write_bytes(files["qrels"].read_bytes())
    (bundle_dir / "notes.md").write_text("not a pipeline file")
    out = run_cmd("import_bundle", bundle_dir, collection="dl19", dry_run=True)
    assert "notes.md" in out and "skipped" in out
    assert f"{len(read_lines(files['qrels']))} created" in out
    assert database_digest() == before


def test_a_new_version_merges_and_replace_drops_the_rows_of_the_earlier_import(files, tmp_path):
    run_cmd("import_queries", files["queries"], collection="dl19")
    run_cmd("import_run", files["run"], collection="dl19", system="bm25")
    lines = read_lines(files["run"])
    qid, q0, docid, rank, score, tag = lines[0].split()
    shorter = write_lines(tmp_path / "run2.txt", [f"{qid} {q0} {docid} {rank} 99.5 {tag}"] + lines[1:10])

    merged = run_cmd("import_run", shorter, collection="dl19", system="bm25")
    assert "0 created, 1 updated, 9 unchanged" in merged
    assert RunRow.objects.filter(run__system__name="bm25").count() == len(lines)

    replaced = run_cmd("import_run", shorter, collection="dl19", system="bm25", replace=True)
    assert f"{len(lines)} deleted by --replace" in replaced
    rows = RunRow.objects.filter(run__system__name="bm25")
    assert rows.count() == 10
    assert rows.get(query__qid=qid, passage__docid=docid).score == 99.5


def test_qids_are_strings_and_leading_zeros_are_never_lost(tmp_path):
    queries = write_lines(tmp_path / "q.tsv", ["0123\tquery with a leading zero", "123\tanother query"])
    services.queries_import(collection="mini", path=queries)
    qrels = write_lines(tmp_path / "qrels.txt", ["0123 Q0 007 2", "123 Q0 7 1"])
    services.qrels_import(collection="mini", path=qrels)
    gens = write_lines(tmp_path / "gen.json", [
        json.dumps({"query_id": "0123", "query": "q", "response": "text A", "extracted_answer": None}),
        json.dumps({"query_id": 123, "query": "q", "response": "text B", "extracted_answer": None}),
    ])
    services.generations_import(collection="mini", generator="g", path=gens)
    assert sorted(Query.objects.values_list("qid", flat=True)) == ["0123", "123"]
    assert Judgment.objects.get(query__qid="0123").passage.docid == "007"
    assert Judgment.objects.get(query__qid="123").passage.docid == "7"
    assert Generation.objects.get(query__qid="0123").text == "text A"
    assert Generation.objects.get(query__qid="123").text == "text B"


def test_think_blocks_are_stripped_from_the_text_and_kept_in_the_raw_response(paper_data, files):
    services.queries_import(collection="dl19", path=files["queries"])
    services.generations_import(collection="dl19", generator="qwen3_8b", path=files["generations"])
    for line in read_lines(files["generations"]):
        obj = json.loads(line)
        generation = Generation.objects.get(query__qid=str(obj["query_id"]))
        assert generation.response == obj["response"]
        assert obj["response"].startswith("<think>")
        assert "<think>" not in generation.text and "</think>" not in generation.text
        assert generation.text == obj["response"].split("</think>", 1)[1].strip()
        assert generation.setting == Generation.ZERO_SHOT


def test_an_unclosed_think_block_leaves_no_thinking_in_the_text(tmp_path):
    write_lines(tmp_path / "q.tsv", ["1\tq"])
    services.queries_import(collection="mini", path=tmp_path / "q.tsv")
    gens = write_lines(tmp_path / "DL19_all_reasons_expansion_m.json", [
        json.dumps({"ds": "mini", "query_id": "1", "query": "q", "response": "Answer.<think>still thinking",
                    "extracted_answer": None}),
    ])
    services.generations_import(collection="mini", generator="m", path=gens)
    generation = Generation.objects.get()
    assert generation.text == "Answer."
    assert generation.setting == Generation.REASON_EXPANSION  # from the file name


def test_passage_text_keeps_tabs_japanese_and_mojibake_byte_for_byte(paper_data, tmp_path):
    wanted = []
    for line in read_lines(paper_data / "dl21" / "qrels_text.dl21"):
        text = line.split("\t", 1)[1]
        if "\t" in text or "このサイト" in text:
            wanted.append(line)
    # mojibake: UTF-8 read as Latin-1 ("â\x80¦" for an ellipsis)
    dl19_lines = read_lines(paper_data / "dl19" / "qrels_text.dl19")
    mojibake = [line for line in dl19_lines if "\u00e2\u0080" in line][:1]
    assert len([w for w in wanted if "\t" in w.split("\t", 1)[1]]) == 2 and mojibake
    services.passages_import(collection="dl21", path=write_lines(tmp_path / "p21.tsv", wanted))
    services.passages_import(collection="dl19", path=write_lines(tmp_path / "p19.tsv", mojibake))
    for collection, lines in [("dl21", wanted), ("dl19", mojibake)]:
        for line in lines:
            docid, text = line.split("\t", 1)
            assert Passage.objects.get(collection__name=collection, docid=docid).text == text


def test_a_file_without_its_final_newline_keeps_its_last_line(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_bytes("1\tfirst\n2\tlast query, no newline".encode())
    services.queries_import(collection="mini", path=path)
    assert Query.objects.get(qid="2").text == "last query, no newline"


def test_docids_without_text_are_kept_and_filled_in_by_a_later_passage_import(files, paper_data, tmp_path):
    services.queries_import(collection="dl19", path=files["queries"])
    report = services.qrels_import(collection="dl19", path=files["qrels"])
    docids = {line.split()[2] for line in read_lines(files["qrels"])}
    assert report.new_passages == len(docids)
    assert not Passage.objects.filter(text__isnull=False).exists()
    inventory = json.loads(run_cmd("inventory", json=True))["collections"]["dl19"]
    assert inventory["passages"] == 0 and inventory["passages_without_text"] == len(docids)

    texts = [line for line in read_lines(paper_data / "dl19" / "qrels_text.dl19") if line.split("\t", 1)[0] in docids]
    report = services.passages_import(collection="dl19", path=write_lines(tmp_path / "p.tsv", texts))
    assert report.updated == len(docids) and report.created == 0
    assert Passage.objects.filter(text__isnull=False).count() == len(docids)


def test_export_qrels_round_trips_the_official_and_an_llm_qrels_file(paper_data, tmp_path):
    dl19 = paper_data / "dl19"
    services.queries_import(collection="dl19", path=dl19 / "test2019-queries-filterd.tsv")
    services.qrels_import(collection="dl19", path=dl19 / "qrels.dl19-passage.txt")
    services.qrels_import(collection="dl19", path=dl19 / "binary_qwen3_8b_dl19.txt", assessor="qwen3_8b-binary",
                          scale="binary")
    out = tmp_path / "official.txt"
    call_command("export_qrels", collection="dl19", output=str(out), stderr=io.StringIO())
    assert set(read_lines(out)) == set(read_lines(dl19 / "qrels.dl19-passage.txt"))
    assert len(read_lines(out)) == 9260
    out_llm = tmp_path / "llm.txt"
    call_command("export_qrels", collection="dl19", assessor="qwen3_8b-binary", output=str(out_llm),
                 stderr=io.StringIO())
    assert set(read_lines(out_llm)) == set(read_lines(dl19 / "binary_qwen3_8b_dl19.txt"))
    # an LLM answer that could not be parsed is not a grade: it stays out of the qrels
    bad = Judgment.objects.filter(assessor__name="qwen3_8b-binary").first()
    bad.valid, bad.grade = False, None
    bad.save(update_fields=["valid", "grade"])
    call_command("export_qrels", collection="dl19", assessor="qwen3_8b-binary", output=str(out_llm),
                 stderr=io.StringIO())
    assert len(read_lines(out_llm)) == 9259
    assert Assessor.objects.get(name="qwen3_8b-binary").scale == Assessor.BINARY


def test_inventory_is_stable_json_with_sorted_keys_and_the_counts_of_the_files(files):
    for name, kw in [("queries", {}), ("qrels", {}), ("run", {"system": "bm25"}),
                     ("generations", {"generator": "qwen3_8b"})]:
        getattr(services, {"queries": "queries_import", "qrels": "qrels_import", "run": "run_import",
                           "generations": "generations_import"}[name])(collection="dl19", path=files[name], **kw)
    services.reasons_import(task="h2r", assessor="qwen3_8b", path=files["reasons"])
    first = run_cmd("inventory", json=True)
    assert run_cmd("inventory", json=True) == first
    data = json.loads(first)
    assert first.strip() == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
    dl19 = data["collections"]["dl19"]
    assert dl19["queries"] == len(read_lines(files["queries"]))
    assert dl19["judgments"] == {"official": len(read_lines(files["qrels"]))}
    assert dl19["run_rows"] == {"bm25": len(read_lines(files["run"]))}
    assert dl19["generations"] == {"qwen3_8b": {"zero_shot": len(read_lines(files["generations"]))}}
    dl19_reasons = [l for l in read_lines(files["reasons"]) if l.startswith("dl19_")]
    assert dl19["reason_lists"] == {"h2r": {"qwen3_8b": len(dl19_reasons)}}
    assert "imported_at" not in first and "created_at" not in first
    table = run_cmd("inventory")
    assert "dl19" in table and "bm25" in table


def test_reasons_of_collections_not_in_the_database_are_skipped_and_said_so(files):
    services.queries_import(collection="dl19", path=files["queries"])
    out = run_cmd("import_reasons", files["reasons"], task="h2r", assessor="qwen3_8b")
    assert "skipped rows of collections not in the database: dl20 (3)" in out
    line = next(l for l in read_lines(files["reasons"]) if l.startswith("dl19_"))
    label, qid, _, raw = line.split("\t")
    proposal = ReasonProposal.objects.get(query__qid=qid, label=label)
    import ast
    assert list(proposal.reasons.values_list("text", flat=True)) == [r.strip() for r in ast.literal_eval(raw)]
    assert proposal.task == "h2r" and proposal.assessor.model == "qwen3:8b"
    assert ImportSource.objects.get(kind="reasons").skipped == 3
    assert Reason.objects.filter(proposal__query__collection__name="dl19").exists()


def test_bertscore_rows_are_aligned_with_their_dids_and_keep_the_model_hashcode(paper_data, files):
    dl19 = paper_data / "dl19"
    services.queries_import(collection="dl19", path=dl19 / "test2019-queries-filterd.tsv")
    services.generations_import(collection="dl19", generator="qwen3_8b", path=dl19 / "DL19_D2Q_ZS_qwen3_8b.json")
    services.bertscore_import(collection="dl19", generator="qwen3_8b", path=dl19 / "dl19_bert_score_qwen3.json")
    row = json.loads(read_lines(dl19 / "dl19_bert_score_qwen3.json")[5])
    stored = BertScore.objects.get(query__qid=str(row["qid"]), passage__docid=str(row["dids"][3]))
    assert (stored.precision, stored.recall, stored.f1) == (
        row["scores"]["precision"][3], row["scores"]["recall"][3], row["scores"]["f1"][3])
    assert stored.model_id == row["scores"]["hashcode"] and stored.position == 3
    assert stored.generation.generator.name == "qwen3_8b"


def test_a_hard_query_csv_becomes_an_imported_analysis_with_one_hard_label_per_row(paper_data):
    dl21 = paper_data / "dl21"
    services.queries_import(collection="dl21", path=dl21 / "test2021-queries-filterd.tsv")
    out = run_cmd("import_hard_queries", dl21 / "h2r_hard_to_retrieve_dl21.csv", collection="dl21", task="h2r",
                  subject="bm25", quantile=0.3)
    assert "15 created" in out
    analysis = HardnessAnalysis.objects.get()
    assert (analysis.origin, analysis.task, analysis.subject, analysis.quantile, analysis.measure) == (
        "imported", "h2r", "bm25", 0.3, "ndcg_cut_10")
    rows = [line.split(",") for line in read_lines(dl21 / "h2r_hard_to_retrieve_dl21.csv")[1:]]
    assert {(l.query.qid, l.value, l.hard) for l in analysis.labels.select_related("query")} == {
        (qid, float(v), True) for qid, v in rows}


def test_bertscores_imported_before_their_generations_are_linked_when_the_generations_arrive(paper_data):
    dl19 = paper_data / "dl19"
    services.queries_import(collection="dl19", path=dl19 / "test2019-queries-filterd.tsv")
    services.bertscore_import(collection="dl19", generator="qwen3_8b", path=dl19 / "dl19_bert_score_qwen3.json")
    assert not BertScore.objects.filter(generation__isnull=False).exists()
    services.generations_import(collection="dl19", generator="qwen3_8b", path=dl19 / "DL19_D2Q_ZS_qwen3_8b.json")
    assert not BertScore.objects.filter(generation__isnull=True).exists()
    services.generations_import(collection="dl19", generator="qwen3_8b", path=dl19 / "DL19_D2Q_ZS_qwen3_8b.json",
                                replace=True)
    linked = BertScore.objects.select_related("generation", "query")
    assert all(b.generation.query_id == b.query_id for b in linked)

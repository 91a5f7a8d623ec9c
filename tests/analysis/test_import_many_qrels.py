"""import_qrels FILE... --assessor-from-filename [--clamp] (issue 17, item 5).

On the LLMJudge challenge's 33 public label sets (TREC DL 2023 sample, 4,423 pairs): one
command imports them all, one assessor per file, the three out-of-scale grades clamped;
the agreement of every stored label set with the stored NIST grades, computed by
scikit-learn and the krippendorff package, is the figure the paper publishes (Judging
the Judges, arXiv 2502.13908, Tables 3, 5 and 6 as transcribed in the data's
published-tables.csv). Then the small cases: clamping, refusal and one transaction.
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from sklearn.metrics import cohen_kappa_score

from analysis.importers import services
from analysis.models import Assessor, Judgment
from tests.conftest import REPO

pytestmark = pytest.mark.django_db


def _llmjudge() -> Path | None:
    """The LLMJudge label sets: HARDQ_LLMJUDGE, else ../shared/llmjudge beside the repo."""
    for c in (os.environ.get("HARDQ_LLMJUDGE", ""), str(REPO.parent / "shared" / "llmjudge")):
        if c and Path(c, "submissions").is_dir():
            return Path(c)
    return None


LLMJUDGE = _llmjudge()


@pytest.fixture
def llmjudge() -> Path:
    if LLMJUDGE is None:
        pytest.skip("the LLMJudge data is not beside this checkout (set HARDQ_LLMJUDGE)")
    return LLMJUDGE


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_qrels", *args, "--no-progress", stdout=out)
    return out.getvalue()


def labels(assessor: str) -> dict[tuple[str, str], int]:
    rows = Judgment.objects.filter(assessor__name=assessor).values_list("query__qid", "passage__docid", "grade")
    return {(q, d): g for q, d, g in rows}


@pytest.fixture
def dl23(llmjudge):
    services.queries_import(collection="llmjudge", path=llmjudge / "qrels" / "llm4eval_query_2024.txt")
    services.qrels_import(collection="llmjudge", path=llmjudge / "qrels" / "llmjudge_test_qrel_idx.txt")
    return llmjudge


def test_the_33_label_sets_in_one_command_reproduce_the_published_agreement(dl23):
    files = sorted(str(p) for p in (dl23 / "submissions").glob("*.txt"))
    assert len(files) == 33
    out = run(*files, "--collection", "llmjudge", "--scale", "graded", "--assessor-from-filename", "--clamp")
    # RMITIR-llama70B's two 5s and h2oloo-zeroshot2's 10 (the data's README), nothing else.
    assert "33 files, 33 assessors, 145959 rows read, 3 grades clamped to the scale" in out
    assert "RMITIR-llama70B.txt: judgments 'RMITIR-llama70B'" in out
    assert "2 grades outside the graded scale clamped to its nearest end (line 2449: 5, line 3825: 5)" in out
    assert "(line 3187: 10)" in out

    official = labels("official")
    keys = sorted(official)
    assert len(keys) == 4423
    published = {r["submission"]: r for r in csv.DictReader((dl23 / "published-tables.csv").open())}
    clamped_threes = {"RMITIR-llama70B": 2, "h2oloo-zeroshot2": 1}
    for path in files:
        name = Path(path).stem  # the assessor named after its file
        assessor = Assessor.objects.get(name=name)
        assert (assessor.kind, assessor.scale) == (Assessor.LLM, Assessor.GRADED)
        stored = labels(name)
        assert stored.keys() == official.keys(), name
        a, b = [official[k] for k in keys], [stored[k] for k in keys]
        row = published[name]
        assert round(cohen_kappa_score(a, b), 4) == pytest.approx(float(row["t3_kappa"]), abs=1e-9), name
        alpha = krippendorff.alpha(reliability_data=np.array([a, b]), level_of_measurement="ordinal")
        assert round(alpha, 4) == pytest.approx(float(row["t5_alpha_4pt"]), abs=1e-9), name
        # Table 6 counts the raw grades: the clamped rows are the stored 3s it leaves out.
        counts = Counter(b)
        counts[3] -= clamped_threes.get(name, 0)
        assert [counts[g] for g in range(4)] == [int(row[f"t6_n{g}"]) for g in range(4)], name


def test_without_clamp_the_out_of_scale_grade_is_refused_and_no_file_is_written(dl23):
    files = sorted(str(p) for p in (dl23 / "submissions").glob("*.txt"))
    before = Judgment.objects.count()
    with pytest.raises(CommandError) as refused:
        run(*files, "--collection", "llmjudge", "--assessor-from-filename")
    assert str(refused.value).endswith("RMITIR-llama70B.txt:2449: grade 5 is outside the graded scale 0..3")
    # The files before it (sorted: NISTRetrieval-*, Olz-*, RMITIR-GPT4o ...) were read first: none is stored.
    assert Judgment.objects.count() == before
    assert not Assessor.objects.filter(kind=Assessor.LLM).exists()


@pytest.fixture
def small(tmp_path):
    services.queries_import(collection="small", data=b"1\tfirst\n2\tsecond\n", filename="q.tsv")
    return tmp_path


def test_five_files_one_transaction_a_bad_line_in_the_fifth_writes_nothing(small):
    files = []
    for i in range(1, 6):
        path = small / f"judge-{i}.v2.txt"
        path.write_text(f"1 0 d1 {i % 4}\n2 0 d2 1\n" + ("2 0 d3 two\n" if i == 5 else ""))
        files.append(str(path))
    with pytest.raises(CommandError) as refused:
        run(*files, "--collection", "small", "--assessor-from-filename")
    assert str(refused.value).startswith(f"{files[4]}:3: grade")
    assert Judgment.objects.count() == 0 and Assessor.objects.count() == 0

    (small / "judge-5.v2.txt").write_text("1 0 d1 1\n")
    out = run(*files, "--collection", "small", "--assessor-from-filename")
    # The name is the file's without its (last) extension.
    assert sorted(Assessor.objects.values_list("name", flat=True)) == [f"judge-{i}.v2" for i in range(1, 6)]
    assert labels("judge-3.v2") == {("1", "d1"): 3, ("2", "d2"): 1}
    assert "5 files, 5 assessors, 9 rows read" in out


def test_clamp_moves_out_of_scale_grades_to_the_nearest_end_and_counts_them(small):
    path = small / "wide.txt"
    path.write_text("1 0 d1 7\n1 0 d2 -1\n2 0 d3 2\n")
    with pytest.raises(CommandError, match=r"wide.txt:1: grade 7 is outside the graded scale 0..3"):
        run(str(path), "--collection", "small", "--assessor-from-filename")
    assert Judgment.objects.count() == 0
    out = run(str(path), "--collection", "small", "--assessor-from-filename", "--clamp")
    assert labels("wide") == {("1", "d1"): 3, ("1", "d2"): 0, ("2", "d3"): 2}
    assert "2 grades clamped to the scale" in out and "line 1: 7, line 2: -1" in out
    # binary: a 2 becomes 1
    path.write_text("1 0 d1 2\n")
    out = run(str(path), "--collection", "small", "--assessor", "bin", "--scale", "binary", "--clamp")
    assert labels("bin") == {("1", "d1"): 1} and "1 grades clamped" in out


def test_single_file_usage_is_unchanged_and_several_files_need_their_names(small):
    path = small / "qrels.txt"
    path.write_text("1 Q0 d1 2\n")
    out = run(str(path), "--collection", "small")
    assert "judgments 'official'" in out and labels("official") == {("1", "d1"): 2}
    with pytest.raises(CommandError, match="name each file's assessor with --assessor-from-filename"):
        run(str(path), str(path), "--collection", "small")
    other = small / "sub"
    other.mkdir()
    (other / "qrels.txt").write_text("1 Q0 d1 1\n")
    with pytest.raises(CommandError, match="assessor 'qrels' again"):
        run(str(path), str(other / "qrels.txt"), "--collection", "small", "--assessor-from-filename")
    with pytest.raises(CommandError, match="exclude each other"):
        run(str(path), "--collection", "small", "--assessor-from-filename", "--assessor", "x")

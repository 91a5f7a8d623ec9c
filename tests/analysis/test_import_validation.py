"""Acceptance: a copy of a qrels, run, generations or reasons file with one bad line in the
middle is rejected naming FILE:LINE, and the database is exactly as before."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from analysis.importers import services
from analysis.importers.errors import ImportFileError
from tests.analysis.importing import database_digest, dl19_subset, read_lines, with_bad_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def subset(paper_data, tmp_path):
    """A small real DL19 database: queries, official qrels, a BM25 run, generations, reasons."""
    files = dl19_subset(paper_data, tmp_path / "dl19")
    quiet = {"stdout": io.StringIO(), "no_progress": True}
    call_command("import_queries", str(files["queries"]), collection="dl19", **quiet)
    call_command("import_qrels", str(files["qrels"]), collection="dl19", **quiet)
    call_command("import_run", str(files["run"]), collection="dl19", system="bm25", **quiet)
    call_command("import_generations", str(files["generations"]), collection="dl19", generator="qwen3_8b", **quiet)
    call_command("import_reasons", str(files["reasons"]), task="h2r", assessor="qwen3_8b", **quiet)
    return files


def qid_of(files, kind: str) -> str:
    return sorted(files["keep"])[0]


# (file, command, options, bad line, expected message); the bad line replaces the middle line
CASES = [
    ("qrels", "import_qrels", {}, lambda f: f"{qid_of(f, 'qrels')} Q0 1017759", "expected 4 columns"),
    ("qrels", "import_qrels", {}, lambda f: f"{qid_of(f, 'qrels')} Q0 1017759 7", "grade 7 is outside the graded scale 0..3"),
    ("qrels", "import_qrels", {"assessor": "qwen3_8b-binary", "scale": "binary"},
     lambda f: f"{qid_of(f, 'qrels')} 0 1017759 2", "grade 2 is outside the binary scale 0..1"),
    ("run", "import_run", {"system": "bm25"}, lambda f: "999999999 Q0 8412684 1 10.6 Anserini", "unknown qid 999999999"),
    ("run", "import_run", {"system": "bm25"}, lambda f: f"{qid_of(f, 'run')} Q0 8412684 first 10.6 Anserini",
     "rank 'first' is not an integer"),
    ("run", "import_run", {"system": "bm25"}, lambda f: f"{qid_of(f, 'run')} Q0 8412684 1 ten Anserini",
     "score 'ten' is not a number"),
    ("run", "import_run", {"system": "bm25"}, lambda f: f"{qid_of(f, 'run')} Q0 8412684 1 10.6", "expected 6 columns"),
    ("generations", "import_generations", {"generator": "qwen3_8b"},
     lambda f: '{"query_id": 1037798, "query": "who is robert gray", "response": "Robert', "broken JSON"),
    ("reasons", "import_reasons", {"task": "h2r", "assessor": "qwen3_8b"},
     lambda f: f"dl19_bm25_bertscore_umbrela_0.3\t{qid_of(f, 'reasons')}\tq\t['Ambiguity in name', 'Name variations'",
     "not a Python list literal"),
    ("reasons", "import_reasons", {"task": "h2r", "assessor": "qwen3_8b"},
     lambda f: f"dl19_bm25_bertscore_umbrela_0.3\t{qid_of(f, 'reasons')}\tq\t__import__('os').system('false')",
     "not a Python list literal"),
]


@pytest.mark.parametrize("kind,command,options,bad,message", CASES, ids=[c[-1][:30] for c in CASES])
def test_one_bad_line_rejects_the_whole_file_naming_the_line_and_writes_nothing(
    subset, tmp_path, kind, command, options, bad, message
):
    source = subset["binary"] if options.get("scale") == "binary" else subset[kind]
    copy, line = with_bad_line(source, tmp_path / f"bad-{kind}.txt", bad(subset))
    assert 1 < line < len(read_lines(copy))  # neither the first nor the last line
    before = database_digest()
    args = {} if kind == "reasons" else {"collection": "dl19"}
    with pytest.raises(CommandError) as excinfo:
        call_command(command, str(copy), stdout=io.StringIO(), no_progress=True, **args, **options)
    assert str(excinfo.value).startswith(f"{copy}:{line}: ")
    assert message in str(excinfo.value)
    assert database_digest() == before


def test_a_repeated_judgment_is_an_error_naming_both_lines(subset, tmp_path):
    lines = read_lines(subset["qrels"])
    copy = tmp_path / "dup.txt"
    copy.write_text("\n".join(lines[:10] + [lines[3]] + lines[10:]))
    before = database_digest()
    with pytest.raises(ImportFileError) as excinfo:
        services.qrels_import(collection="dl19", path=copy)
    assert excinfo.value.line == 11
    assert "first on line 4" in str(excinfo.value)
    assert database_digest() == before


def test_a_bad_line_in_any_file_of_a_bundle_leaves_the_whole_bundle_unwritten(paper_data, tmp_path):
    bundle_dir = tmp_path / "bundle"
    bundle_dir.mkdir()
    dl19 = paper_data / "dl19"
    (bundle_dir / "test2019-queries-filterd.tsv").write_bytes((dl19 / "test2019-queries-filterd.tsv").read_bytes())
    with_bad_line(dl19 / "qrels.dl19-passage.txt", bundle_dir / "qrels.dl19-passage.txt", "19335 Q0 1017759 7")
    before = database_digest()
    with pytest.raises(CommandError, match=r"qrels\.dl19-passage\.txt:4631: grade 7"):
        call_command("import_bundle", str(bundle_dir), collection="dl19", stdout=io.StringIO(), no_progress=True)
    assert database_digest() == before


def test_an_upload_gets_the_same_validation_as_a_file(subset):
    """What an API endpoint calls: bytes + filename, the same FILE:LINE errors."""
    data = b"19335 Q0 1017759 2\n19335 Q0 1082489 x\n"
    with pytest.raises(ImportFileError) as excinfo:
        services.qrels_import(collection="dl19", data=data, filename="upload.qrels")
    assert str(excinfo.value) == "upload.qrels:2: grade 'x' is not an integer"


def test_the_command_exits_non_zero_with_file_and_line_on_stderr(tmp_path):
    """Run as a user would: a separate process against the test database."""
    import os
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    bad = tmp_path / "queries.tsv"
    bad.write_text("1\tfirst\n2 no tab here\n3\tthird\n")
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("the import tests run against PostgreSQL")
    user = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    url = f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "import_queries", str(bad), "--collection", "cli"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode != 0
    assert f"{bad}:2: expected qid<TAB>query text, found no tab" in result.stderr

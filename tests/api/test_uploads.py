"""Uploads through POST /api/imports/: the importers' validation, their FILE:LINE errors as JSON.

The bad-line cases are the foundation's (tests/analysis/test_import_validation.py): the same
files with one bad line in the middle must be refused with that line in the error body and
leave the database exactly as it was.
"""
from __future__ import annotations

import io
import zipfile

import pytest

from analysis.models import Judgment, Query, RunRow
from tests.conftest import FIXTURES
from tests.analysis.importing import database_digest, dl19_subset, read_lines, with_bad_line
from tests.analysis.test_import_validation import CASES

pytestmark = pytest.mark.django_db


def upload(client, path, **fields):
    with open(path, "rb") as fh:
        return client.post("/api/imports/", {"file": fh, **fields}, format="multipart")


@pytest.fixture
def subset(paper_data, tmp_path, admin_api):
    """A small real DL19 database, imported through the API."""
    files = dl19_subset(paper_data, tmp_path / "dl19")
    for kind, extra in [
        ("queries", {}),
        ("qrels", {}),
        ("run", {"system": "bm25"}),
        ("generations", {"generator": "qwen3_8b"}),
    ]:
        response = upload(admin_api, files[kind], kind=kind, collection="dl19", **extra)
        assert response.status_code == 201, response.content
    response = upload(admin_api, files["reasons"], kind="reasons", task="h2r", assessor="qwen3_8b")
    assert response.status_code == 201, response.content
    return files


def test_uploads_import_what_the_files_hold(subset):
    qrels_lines = read_lines(subset["qrels"])
    run_lines = read_lines(subset["run"])
    assert Judgment.objects.filter(assessor__name="official").count() == len(qrels_lines)
    assert RunRow.objects.filter(run__system__name="bm25").count() == len(run_lines)


def test_upload_again_changes_nothing_and_answers_200(subset, admin_api):
    before = database_digest()
    response = upload(admin_api, subset["qrels"], kind="qrels", collection="dl19")
    assert response.status_code == 200
    assert response.json()["status"] == "unchanged"
    assert database_digest() == before


def test_dry_run_counts_and_writes_nothing(subset, admin_api):
    before = database_digest()
    response = upload(admin_api, subset["binary"], kind="qrels", collection="dl19", assessor="qwen3_8b-binary",
                      scale="binary", dry_run="true")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "dry-run"
    assert body["created"] == len(read_lines(subset["binary"]))
    assert database_digest() == before


@pytest.mark.parametrize("kind,command,options,bad,message", CASES, ids=[c[-1][:30] for c in CASES])
def test_a_bad_line_is_refused_with_its_line_and_nothing_changes(subset, admin_api, tmp_path, kind, command, options, bad, message):
    source = subset["binary"] if options.get("scale") == "binary" else subset[kind]
    copy, line = with_bad_line(source, tmp_path / f"bad-{kind}.txt", bad(subset))
    fields = {"kind": kind, **options}
    if kind != "reasons":
        fields["collection"] = "dl19"
    before = database_digest()
    response = upload(admin_api, copy, **fields)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "bad_line"
    assert error["details"]["file"] == copy.name
    assert error["details"]["line"] == line
    assert message in error["details"]["message"]
    assert error["message"].startswith(f"{copy.name}:{line}: ")
    assert database_digest() == before


def test_missing_option_of_a_kind_is_a_field_error(admin_api, tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("1 Q0 d1 1 1.0 x\n")
    response = upload(admin_api, path, kind="run", collection="dl19")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"system": ["required for kind run"]}


def test_annotators_cannot_upload(alice_api, tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("1\tq\n")
    response = upload(alice_api, path, kind="queries", collection="dl19")
    assert response.status_code == 403


def zipped(directory, *, replace_line: tuple[str, str] | None = None) -> io.BytesIO:
    """The files of ``directory`` as a zip, optionally with the middle line of one file replaced."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.iterdir()):
            data = path.read_bytes()
            if replace_line and path.name == replace_line[0]:
                lines = data.decode("utf-8").splitlines()
                lines[len(lines) // 2] = replace_line[1]
                data = ("\n".join(lines) + "\n").encode()
            archive.writestr(f"dl19/{path.name}", data)
    buffer.seek(0)
    buffer.name = "dl19.zip"
    return buffer


def test_a_zipped_bundle_imports_like_import_bundle(admin_api):
    fixtures = FIXTURES / "dl19"
    response = admin_api.post("/api/imports/bundle/", {"file": zipped(fixtures), "collection": "dl19"}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert any("qrels.dl19-passage.txt" in line for line in body["plan"])
    queries = [l for l in (fixtures / "test2019-queries-filterd.tsv").read_text().splitlines() if l.strip()]
    qrels = [l for l in (fixtures / "qrels.dl19-passage.txt").read_text().splitlines() if l.strip()]
    assert Query.objects.filter(collection__name="dl19").count() == len(queries)
    assert Judgment.objects.filter(assessor__name="official").count() == len(qrels)
    before = database_digest()
    again = admin_api.post("/api/imports/bundle/", {"file": zipped(fixtures), "collection": "dl19"}, format="multipart")
    assert again.status_code == 200
    assert {r["status"] for r in again.json()["reports"]} == {"unchanged"}
    assert database_digest() == before


def test_a_bad_line_anywhere_in_a_bundle_writes_nothing(admin_api):
    fixtures = FIXTURES / "dl19"
    qrels = [l for l in (fixtures / "qrels.dl19-passage.txt").read_text().splitlines()]
    qid = qrels[0].split()[0]
    before = database_digest()
    archive = zipped(fixtures, replace_line=("qrels.dl19-passage.txt", f"{qid} Q0 1017759 7"))
    response = admin_api.post("/api/imports/bundle/", {"file": archive, "collection": "dl19"}, format="multipart")
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert (details["file"], details["line"]) == ("qrels.dl19-passage.txt", len(qrels) // 2 + 1)
    assert "grade 7" in details["message"]
    assert database_digest() == before


def test_a_bundle_that_is_not_a_zip_is_a_field_error(admin_api):
    response = admin_api.post("/api/imports/bundle/", {"file": io.BytesIO(b"plain text"), "collection": "dl19"},
                              format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"file": ["not a zip archive"]}

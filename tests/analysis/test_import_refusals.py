"""Acceptance: imports refuse what cannot be right before any write (issue 12, item 2).

One table of bad inputs per importer: an empty or blank-only file (with ``--replace``,
which must then delete nothing), a collection name that is no name, a name longer than
its column, a rank outside the column's range, JSON nested too deep. Each is refused with
``FILE:LINE: reason`` (or ``FILE: reason``) and exit code 1, and the database is exactly
as before. The upload API runs the same table (tests/api/test_uploads.py).
"""
from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import Resolver404, resolve, reverse

from analysis.importers import services
from analysis.models import Assessor, Collection, HardnessAnalysis, System
from tests.analysis.importing import database_digest

pytestmark = pytest.mark.django_db

COLUMN = {
    "system": System._meta.get_field("name").max_length,
    "assessor": Assessor._meta.get_field("name").max_length,
    "model": Assessor._meta.get_field("model").max_length,
    "generator": Assessor._meta.get_field("name").max_length,
    "subject": HardnessAnalysis._meta.get_field("subject").max_length,
}

# A good one-line file of every kind, and the options each kind's command needs.
GOOD = {
    "queries": ("3\tthird query\n", {}),
    "passages": ("d1\tpassage one\n", {}),
    "qrels": ("1 Q0 d1 2\n", {}),
    "run": ("1 Q0 d1 1 10.5 bm25\n", {"system": "bm25"}),
    "generations": ('{"query_id": "1", "query": "q", "response": "a passage"}\n', {"generator": "qwen3_8b"}),
    "bertscore": ('{"qid": "1", "scores": {"precision": [0.5], "recall": [0.5], "f1": [0.5], "hashcode": "rb"}, '
                  '"dids": ["d1"]}\n', {"generator": "qwen3_8b"}),
    "pairwise": ('{"qid": "1", "did": "d1", "label": 1}\n', {"assessor": "pairwise_llm"}),
    "reasons": ("mini_bm25_x\t1\tq\t['a reason']\n", {"task": "h2r", "assessor": "qwen3_8b"}),
    "hard_queries": ("query,NDCG@10\n1,0.1\n", {"task": "h2r", "subject": "bm25"}),
}
KINDS = list(GOOD)
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000  # once a RecursionError (a traceback)
DEEP_VALUE = '{"query_id": "1", "response": "x", "extracted_answer": ' + "[" * 20 + "]" * 20 + "}"


@dataclass
class Bad:
    """One bad input: the file (or the good one), options over the good ones, what is expected."""

    id: str
    kind: str
    content: str | None = None  # None: the kind's good file
    options: dict = field(default_factory=dict)
    line: int | None = None  # the line named, None for the file as a whole
    message: str = ""
    field: str | None = None  # the option at fault (an API field error)
    probabilities: str | None = None  # qrels: a --probabilities FILE (then the error names it)

    def file_text(self) -> str:
        return GOOD[self.kind][0] if self.content is None else self.content

    def content_is_empty_probabilities(self) -> bool:
        return self.probabilities == ""

    def all_options(self) -> dict:
        options = {**GOOD[self.kind][1], **self.options}
        if self.kind != "reasons":
            options.setdefault("collection", "mini")
        return options


BAD: list[Bad] = []
for kind in KINDS:
    # --replace with an empty file must delete nothing (the fixture imported every kind once)
    BAD.append(Bad(f"{kind}-empty", kind, "", {"replace": True}, message="empty"))
    BAD.append(Bad(f"{kind}-blank", kind, " \n\t\n\r\n\n", {"replace": True}, message="empty"))
    BAD.append(Bad(f"{kind}-bom-only", kind, "\ufeff\n", message="empty"))
    if kind != "reasons":
        BAD.append(Bad(f"{kind}-new-collection-empty", kind, "", {"collection": "fresh"}, message="empty"))
        BAD.append(Bad(f"{kind}-collection-space", kind, options={"collection": "bad name"},
                       message="collection name 'bad name' is not a name", field="collection"))
for name in ["../../x", "<b>x</b>", "DL19", "x" * 65, "_dl19", ".", "dl19/x"]:
    BAD.append(Bad(f"collection-{name[:12]}", "run", options={"collection": name}, message="is not a name",
                   field="collection"))
BAD += [
    Bad("run-system-long", "run", options={"system": "s" * (COLUMN["system"] + 1)},
        message=f"at most {COLUMN['system']} fit", field="system"),
    Bad("qrels-assessor-long", "qrels", options={"assessor": "a" * (COLUMN["assessor"] + 1)},
        message=f"at most {COLUMN['assessor']} fit", field="assessor"),
    Bad("qrels-model-long", "qrels", options={"assessor": "judge", "model": "m" * (COLUMN["model"] + 1)},
        message=f"at most {COLUMN['model']} fit", field="model"),
    Bad("generations-generator-long", "generations", options={"generator": "g" * (COLUMN["generator"] + 1)},
        message=f"at most {COLUMN['generator']} fit", field="generator"),
    Bad("bertscore-generator-long", "bertscore", options={"generator": "g" * (COLUMN["generator"] + 1)},
        message=f"at most {COLUMN['generator']} fit", field="generator"),
    Bad("pairwise-assessor-long", "pairwise", options={"assessor": "a" * (COLUMN["assessor"] + 1)},
        message=f"at most {COLUMN['assessor']} fit", field="assessor"),
    Bad("reasons-assessor-long", "reasons", options={"assessor": "a" * (COLUMN["assessor"] + 1)},
        message=f"at most {COLUMN['assessor']} fit", field="assessor"),
    Bad("hard-subject-long", "hard_queries", options={"subject": "x" * (COLUMN["subject"] + 1)},
        message=f"at most {COLUMN['subject']} fit", field="subject"),
    Bad("run-rank-1e30", "run", "1 Q0 d1 1 10.5 bm25\n1 Q0 d2 " + "1" + "0" * 30 + " 9.5 bm25\n", line=2,
        message="is outside -2147483648..2147483647"),
    Bad("run-rank-2^31", "run", f"1 Q0 d1 1 10.5 bm25\n1 Q0 d2 {2**31} 9.5 bm25\n", line=2,
        message=f"rank {2**31} is outside"),
    Bad("run-rank-below", "run", f"1 Q0 d1 1 10.5 bm25\n1 Q0 d2 {-(2**31) - 1} 9.5 bm25\n", line=2,
        message="is outside"),
    Bad("run-tag-long", "run", "1 Q0 d1 1 10.5 " + "t" * 129 + "\n", line=1, message="tag longer than 128"),
    Bad("generations-deep", "generations", GOOD["generations"][0] + DEEP_ARRAY + "\n", line=2,
        message="JSON nested deeper than 16 levels"),
    Bad("generations-deep-value", "generations", GOOD["generations"][0] + DEEP_VALUE + "\n", line=2,
        message="JSON nested deeper than 16 levels"),
    Bad("bertscore-deep", "bertscore", DEEP_ARRAY + "\n", line=1, message="JSON nested deeper than 16 levels"),
    Bad("pairwise-deep", "pairwise", GOOD["pairwise"][0] + DEEP_ARRAY + "\n", line=2,
        message="JSON nested deeper than 16 levels"),
    Bad("hard-quantile", "hard_queries", options={"quantile": 3.0}, message="quantile 3.0 is outside 0..1",
        field="quantile"),
]

# qrels --probabilities FILE (LARA's CSV): the two-pair qrels below, refused rows of the CSV.
TWO_PAIRS = "1 Q0 d1 2\n2 Q0 d2 0\n"
HEADER = "topic_id,doc_id,annotation,prob_0,prob_1,prob_2,prob_3\n"
ROW1 = "1,d1,2,0.1,0.2,0.6,0.1\n"
BINARY_QRELS = "1 Q0 d1 1\n2 Q0 d2 0\n"
for bad_id, csv_text, options, line, message in [
    ("sum-below-1", HEADER + ROW1 + "2,d2,0,0.5,0.2,0.2,0.0999\n", {}, 3, "sum to 0.9999"),
    ("sum-above-1", HEADER + "1,d1,2,0.1,0.2,0.6,0.100002\n", {}, 2, "not 1 (± 1e-6)"),
    ("unknown-pair", HEADER + ROW1 + "2,d9,0,1,0,0,0\n", {}, 3, "unknown pair (2, d9): not in"),
    ("unknown-topic", HEADER + "7,d1,2,0,0,1,0\n", {}, 2, "unknown pair (7, d1)"),
    ("column-outside-scale", "topic_id,doc_id,annotation,prob_0,prob_1,prob_2,prob_3,prob_4\n"
     "1,d1,2,0,0,1,0,0\n", {}, 1, "column prob_4: grade 4 is outside the graded scale 0..3"),
    ("binary-column-outside", "topic_id,doc_id,prob_0,prob_1,prob_2\n1,d1,0,1,0\n",
     {"scale": "binary", "assessor": "judge"}, 1, "grade 2 is outside the binary scale 0..1"),
    ("annotation-outside-scale", HEADER + "1,d1,5,0.1,0.2,0.6,0.1\n", {}, 2, "annotation 5 is outside the graded scale"),
    ("annotation-not-the-grade", HEADER + "1,d1,3,0.1,0.2,0.6,0.1\n", {}, 2, "annotation 3 of (1, d1) is not its grade 2"),
    ("non-numeric", HEADER + "1,d1,2,0.1,abc,0.6,0.3\n", {}, 2, "prob_1 'abc' is not a number"),
    ("not-finite", HEADER + "1,d1,2,nan,0.2,0.6,0.2\n", {}, 2, "prob_0 'nan' is not a finite number"),
    ("negative", HEADER + "1,d1,2,-0.1,0.3,0.6,0.2\n", {}, 2, "prob_0 -0.1 is negative"),
    ("duplicate-pair", HEADER + ROW1 + "2,d2,0,1,0,0,0\n" + ROW1, {}, 4, "duplicate pair (1, d1) (first on line 2)"),
    ("missing-header", ROW1 + "2,d2,0,1,0,0,0\n", {}, 1, "missing header"),
    ("unknown-column", "topic_id,doc_id,confidence\n1,d1,0.9\n", {}, 1, "unknown column 'confidence'"),
    ("short-row", HEADER + "1,d1,2,0.5,0.5\n", {}, 2, "expected 7 columns as the header, found 5"),
    ("binary-sum", "topic_id,doc_id,annotation,prob_yes,prob_no\n1,d1,1,0.7,0.2\n",
     {"scale": "binary", "assessor": "judge"}, 2, "sum to 0.9"),
    ("empty", "", {}, None, "empty"),
]:
    BAD.append(Bad(f"probabilities-{bad_id}", "qrels", BINARY_QRELS if options.get("scale") == "binary" else TWO_PAIRS,
                   options, line=line, message=message, probabilities=csv_text))


@pytest.fixture
def mini(tmp_path):
    """Collection ``mini`` with two queries and one import of every kind (so --replace has rows to delete)."""
    services.queries_import(collection="mini", data=b"1\tfirst query\n2\tsecond query\n", filename="q.tsv")
    services.passages_import(collection="mini", data=b"d1\tpassage one\nd2\tpassage two\n", filename="p.tsv")
    services.qrels_import(collection="mini", data=b"1 Q0 d1 2\n2 Q0 d2 0\n", filename="qrels.txt")
    services.run_import(collection="mini", system="bm25", data=b"1 Q0 d1 1 10.5 bm25\n1 Q0 d2 2 9.5 bm25\n",
                        filename="run.txt")
    for kind in ["generations", "bertscore", "pairwise", "reasons", "hard_queries"]:
        text, options = GOOD[kind]
        if kind != "reasons":
            options = {**options, "collection": "mini"}
        getattr(services, f"{kind}_import")(data=text.encode(), filename=f"{kind}.txt", **options)
    return tmp_path


def command_options(bad: Bad) -> dict:
    options = bad.all_options()
    if "quantile" in options:
        options["quantile"] = float(options["quantile"])
    return options


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_a_bad_input_is_refused_with_file_and_line_and_nothing_changes(mini, bad):
    path = mini / f"{bad.kind}-input.txt"
    path.write_text(bad.file_text(), encoding="utf-8")
    options = command_options(bad)
    if bad.probabilities is not None:
        options["probabilities"] = str(mini / "probabilities.csv")
        Path(options["probabilities"]).write_text(bad.probabilities, encoding="utf-8")
        path = Path(options["probabilities"])  # the file the error names
    before = database_digest()
    with pytest.raises(CommandError) as excinfo:
        call_command(f"import_{bad.kind}", str(mini / f"{bad.kind}-input.txt"), stdout=io.StringIO(), no_progress=True,
                     **options)
    where = f"{path}:{bad.line}: " if bad.line else f"{path}: "
    assert str(excinfo.value).startswith(where), str(excinfo.value)[:300]
    assert bad.message in str(excinfo.value)
    assert database_digest() == before


PROBABILITIES_BAD = [b for b in BAD if b.probabilities is not None]


@pytest.mark.parametrize("bad", PROBABILITIES_BAD, ids=[b.id for b in PROBABILITIES_BAD])
def test_the_upload_api_refuses_the_same_probabilities_files(mini, bad, admin_user):
    from tests.api.conftest import token_client

    (mini / "qrels.txt").write_text(bad.file_text(), encoding="utf-8")
    (mini / "probabilities.csv").write_text(bad.probabilities or "", encoding="utf-8")
    fields = {"kind": "qrels", **bad.all_options()}
    before = database_digest()
    with open(mini / "qrels.txt", "rb") as qrels, open(mini / "probabilities.csv", "rb") as probabilities:
        response = token_client(admin_user).post(
            "/api/imports/", {**fields, "file": qrels, "probabilities": probabilities}, format="multipart"
        )
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    if bad.content_is_empty_probabilities():
        assert "probabilities" in error["details"]  # DRF refuses an empty upload as the field's error
    else:
        assert error["code"] == "bad_line"
        assert (error["details"]["file"], error["details"]["line"]) == ("probabilities.csv", bad.line)
        assert bad.message in error["details"]["message"]
    assert database_digest() == before


def test_an_empty_file_creates_no_collection_assessor_or_source(db, tmp_path):
    empty = tmp_path / "qrels.txt"
    empty.write_text("\n \n")
    with pytest.raises(CommandError, match=r"qrels\.txt: empty$"):
        call_command("import_qrels", str(empty), collection="new", assessor="someone", stdout=io.StringIO())
    assert not Collection.objects.exists()
    assert not Assessor.objects.exists()


def test_an_empty_bundle_file_refuses_the_whole_bundle(mini, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "test2019-queries-filterd.tsv").write_text("7\tseventh query\n")
    (bundle / "run.msmarco-v1-passage.bm25-default.dl19.txt").write_text("")
    before = database_digest()
    with pytest.raises(CommandError, match=r"run\.msmarco-v1-passage\.bm25-default\.dl19\.txt: empty"):
        call_command("import_bundle", str(bundle), collection="dl19", stdout=io.StringIO(), no_progress=True)
    with pytest.raises(CommandError, match="is not a name"):
        call_command("import_bundle", str(bundle), collection="Mini Set", stdout=io.StringIO(), no_progress=True)
    assert database_digest() == before


def test_a_refused_import_exits_1_with_the_message_on_stderr(mini, tmp_path):
    """As a user runs it: ``manage.py import_run empty.txt --replace`` in its own process."""
    from django.conf import settings

    from tests.judges.test_worker import test_database_url

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "import_run", str(empty), "--collection", "mini",
         "--system", "bm25", "--replace"],
        capture_output=True, text=True, timeout=120, env={**__import__("os").environ, "DATABASE_URL": test_database_url()},
    )
    assert result.returncode == 1
    assert f"{empty}: empty" in result.stderr
    assert "Traceback" not in result.stderr


GOOD_NAMES = ["dl19", "msmarco-v2.1", "robust04_title", "a", "x" * 64, "0"]
BAD_NAMES = ["bad name", "../../x", "<b>x</b>", "DL19", "x" * 65, "-dl19", ".hidden", "", "dl19/x", "dl19\n"]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_every_name_the_model_accepts_has_its_pages(name):
    Collection(name=name).full_clean()
    url = reverse("analysis:hardness_overlap", args=[name])
    assert resolve(url).kwargs == {"collection": name}
    assert resolve(f"/api/collections/{name}/overlap/").kwargs == {"name": name}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_the_model_refuses_reaches_no_page(name):
    with pytest.raises(ValidationError):
        Collection(name=name).full_clean()
    with pytest.raises(Resolver404):
        resolve(f"/analysis/{name}/overlap/")


def test_a_dotted_collection_imports_and_the_home_page_lists_it(client, django_user_model):
    services.queries_import(collection="msmarco-v2.1", data=b"1\tq\n", filename="q.tsv")
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    response = client.get("/")
    assert response.status_code == 200
    assert b"msmarco-v2.1" in response.content

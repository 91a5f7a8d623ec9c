"""Every stored output leaves in its pipeline's format and comes back the same: export
(command and API give the same bytes), delete the rows, import the file with the
pipeline's importer, compare the rows, export again to the same bytes."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.analysis.researcher_data import demo_admin, demo_alice, demo_dl19, dl19_demo, fixture_lines  # noqa: F401


def export(tmp_path, **options) -> bytes:
    out = tmp_path / f"{options['kind']}.out"
    args = []
    for key, value in options.items():
        args += [f"--{key}", str(value)]
    call_command("export", "--collection", "dl19", *args, "--output", str(out), stderr=io.StringIO())
    return out.read_bytes()


def api_export(client, **params) -> bytes:
    response = client.get("/api/collections/dl19/export/", params)
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def reimport(command: str, path, *args: str) -> None:
    call_command(command, str(path), *args, "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())


def rows_of(kind: str, **f) -> set:
    from analysis.models import BertScore, Generation, Judgment, PairwisePreference, ReasonProposal, RunRow

    if kind == "qrels":
        return set(Judgment.objects.filter(query__collection__name="dl19", assessor__name=f["assessor"])
                   .values_list("query__qid", "passage__docid", "grade", "valid"))
    if kind == "run":
        return set(RunRow.objects.filter(run__collection__name="dl19", run__system__name=f["system"])
                   .values_list("query__qid", "passage__docid", "rank", "score"))
    if kind == "generations":
        return set(Generation.objects.filter(query__collection__name="dl19", generator__name=f["generator"],
                                             setting=f["setting"])
                   .values_list("query__qid", "response", "text", "extracted_answer"))
    if kind == "bertscore":
        return set(BertScore.objects.filter(query__collection__name="dl19", generator__name=f["generator"],
                                            setting=f["setting"])
                   .values_list("query__qid", "passage__docid", "position", "precision", "recall", "f1", "model_id",
                                "generation__response"))
    if kind == "pairwise":
        return set(PairwisePreference.objects.filter(query__collection__name="dl19", assessor__name=f["assessor"])
                   .values_list("query__qid", "passage__docid", "label"))
    if kind == "reasons":
        return {(p.query.qid, p.label, p.raw_response, tuple(r.text for r in p.reasons.all()))
                for p in ReasonProposal.objects.filter(query__collection__name="dl19", assessor__name=f["assessor"],
                                                       task=f["task"]).select_related("query").prefetch_related("reasons")}
    raise AssertionError(kind)


def delete_rows(kind: str, **f) -> None:
    from analysis.models import BertScore, Generation, Judgment, PairwisePreference, ReasonProposal, Run

    {
        "qrels": lambda: Judgment.objects.filter(query__collection__name="dl19", assessor__name=f["assessor"]),
        "run": lambda: Run.objects.filter(collection__name="dl19", system__name=f["system"]),
        "generations": lambda: Generation.objects.filter(query__collection__name="dl19", generator__name=f["generator"],
                                                         setting=f["setting"]),
        "bertscore": lambda: BertScore.objects.filter(query__collection__name="dl19", generator__name=f["generator"],
                                                      setting=f["setting"]),
        "pairwise": lambda: PairwisePreference.objects.filter(query__collection__name="dl19", assessor__name=f["assessor"]),
        "reasons": lambda: ReasonProposal.objects.filter(query__collection__name="dl19", assessor__name=f["assessor"],
                                                         task=f["task"]),
    }[kind]().delete()


CASES = [
    ("qrels", {"assessor": "official"}, "import_qrels", ["--collection", "dl19"]),
    ("qrels", {"assessor": "qwen3_8b-binary"}, "import_qrels",
     ["--collection", "dl19", "--assessor", "qwen3_8b-binary", "--scale", "binary"]),
    ("run", {"system": "bm25"}, "import_run", ["--collection", "dl19", "--system", "bm25"]),
    ("generations", {"generator": "qwen3_8b", "setting": "zero_shot"}, "import_generations",
     ["--collection", "dl19", "--generator", "qwen3_8b", "--setting", "zero_shot"]),
    ("generations", {"generator": "llama3.2_latest", "setting": "reason_expansion"}, "import_generations",
     ["--collection", "dl19", "--generator", "llama3.2_latest", "--setting", "reason_expansion"]),
    ("bertscore", {"generator": "qwen3_8b", "setting": "zero_shot"}, "import_bertscore",
     ["--collection", "dl19", "--generator", "qwen3_8b", "--setting", "zero_shot"]),
    ("bertscore", {"generator": "llama3.2_latest", "setting": "reason_expansion"}, "import_bertscore",
     ["--collection", "dl19", "--generator", "llama3.2_latest", "--setting", "reason_expansion"]),
    ("pairwise", {"assessor": "pairwise_llm"}, "import_pairwise", ["--collection", "dl19", "--assessor", "pairwise_llm"]),
    ("reasons", {"assessor": "qwen3_8b", "task": "h2r"}, "import_reasons", ["--assessor", "qwen3_8b", "--task", "h2r"]),
    ("reasons", {"assessor": "qwen3_8b", "task": "h2j"}, "import_reasons", ["--assessor", "qwen3_8b", "--task", "h2j"]),
]


@pytest.mark.django_db
@pytest.mark.parametrize("kind,options,command,args", CASES, ids=[f"{c[0]}-{'-'.join(c[1].values())}" for c in CASES])
def test_round_trip(kind, options, command, args, tmp_path, client, demo_admin):
    before = rows_of(kind, **options)
    assert before, "the fixtures hold rows of this kind"
    first = export(tmp_path, kind=kind, **options)
    client.force_login(demo_admin)
    assert api_export(client, kind=kind, **options) == first  # the API streams the same bytes
    path = tmp_path / f"{kind}.file"
    path.write_bytes(first)

    delete_rows(kind, **options)
    assert not rows_of(kind, **options)
    reimport(command, path, *args)
    assert rows_of(kind, **options) == before
    assert export(tmp_path, kind=kind, **options) == first


@pytest.mark.django_db
def test_round_trip_of_a_hard_query_list(tmp_path, demo_admin):
    from analysis.models import HardnessAnalysis

    bm25 = HardnessAnalysis.objects.get(collection__name="dl19", task="h2r", subject="bm25")
    hard = set(bm25.labels.filter(hard=True).values_list("query__qid", "value"))
    first = export(tmp_path, kind="hard_queries", analysis=bm25.id)
    assert first.decode().splitlines()[0] == "query,ndcg_cut_10_judged"
    path = tmp_path / "hard.csv"
    path.write_bytes(first)
    reimport("import_hard_queries", path, "--collection", "dl19", "--task", "h2r", "--subject", "bm25-again",
             "--quantile", "0.25")
    imported = HardnessAnalysis.objects.get(collection__name="dl19", subject="bm25-again")
    assert imported.measure == bm25.measure
    assert set(imported.labels.values_list("query__qid", "value")) == hard
    assert set(imported.labels.values_list("hard", flat=True)) == {True}
    assert export(tmp_path, kind="hard_queries", analysis=imported.id) == first


@pytest.mark.django_db
def test_pairwise_export_has_the_pipeline_lines(tmp_path, dl19_demo):
    exported = export(tmp_path, kind="pairwise", assessor="pairwise_llm").decode().splitlines()
    assert sorted(exported) == sorted(fixture_lines("dl19.json"))


@pytest.mark.django_db
@pytest.mark.parametrize("options,message", [
    ({"kind": "run"}, "--system is required"),
    ({"kind": "run", "system": "nope"}, "no run of system 'nope' in dl19"),
    ({"kind": "generations"}, "--generator is required"),
    ({"kind": "generations", "generator": "qwen3_8b", "setting": "bad"}, "unknown setting 'bad'"),
    ({"kind": "reasons", "assessor": "qwen3_8b"}, "--task is required"),
    ({"kind": "hard_queries"}, "--analysis is required"),
    ({"kind": "hard_queries", "analysis": 999999}, "no analysis 999999 in dl19"),
    ({"kind": "qrels", "assessor": "nobody"}, "no assessor 'nobody'"),
])
def test_bad_requests_are_clear_errors_and_write_nothing(tmp_path, client, demo_admin, options, message):
    out = tmp_path / "never.txt"
    args = [a for k, v in options.items() for a in (f"--{k}", str(v))]
    with pytest.raises(CommandError, match=message):
        call_command("export", "--collection", "dl19", *args, "--output", str(out))
    assert not out.exists() and list(tmp_path.iterdir()) == []
    client.force_login(demo_admin)
    response = client.get("/api/collections/dl19/export/", options)
    assert response.status_code in (400, 404) and message.replace("--", "") in response.json()["error"]["message"].replace("--", "")
    assert client.get("/api/collections/nope/export/", {"kind": "run"}).status_code == 404


@pytest.mark.django_db
def test_export_api_is_for_staff(client, demo_alice):
    client.force_login(demo_alice)
    assert client.get("/api/collections/dl19/export/", {"kind": "qrels"}).status_code == 403

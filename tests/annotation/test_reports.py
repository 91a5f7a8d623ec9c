"""Agreement commands, exports and pages, checked against the paper and independent oracles."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from sklearn.metrics import cohen_kappa_score

from analysis.models import Assessor, Collection, Judgment, Passage, Query
from tests.analysis.qrels_loading import import_dl21, read_qrels

PAPER_DL21_LLAMA = [[1215, 1260, 859, 1004], [258, 987, 662, 1156], [126, 720, 439, 1056], [37, 344, 212, 493]]
LLAMA = "qrels.dl21-passage_llama3.2_latest_0123_0_1.txt"


@pytest.fixture
def dl21(paper_data, db):
    base = paper_data / "dl21"
    import_dl21(base, (LLAMA, "llama3.2", "graded"))
    return base


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_agreement_json_for_dl21_llama_matches_the_paper_and_sklearn(dl21):
    result = json.loads(
        run("agreement", "--collection", "dl21", "--reference", "official", "--assessor", "llama3.2", "--json", "--n-boot", "200")
    )
    assert result["confusion_matrix"] == PAPER_DL21_LLAMA
    assert result["labels"] == [0, 1, 2, 3]
    official, llama = read_qrels(dl21 / "qrels.dl21-passage.txt"), read_qrels(dl21 / LLAMA)
    keys = sorted(official)
    ref, llm = np.array([official[k] for k in keys]), np.array([llama[k] for k in keys])
    assert result["n"] == len(keys)
    assert result["kappa"] == pytest.approx(cohen_kappa_score(ref, llm), abs=1e-12)
    assert result["kappa_linear"] == pytest.approx(cohen_kappa_score(ref, llm, weights="linear"), abs=1e-12)
    assert result["kappa_quadratic"] == pytest.approx(cohen_kappa_score(ref, llm, weights="quadratic"), abs=1e-12)
    assert result["percent_agreement"] == pytest.approx(float(np.mean(ref == llm)))
    for key in ("kappa", "kappa_linear", "kappa_quadratic", "percent_agreement"):
        lo, hi = result[f"{key}_ci"]
        assert lo < result[key] < hi


def test_agreement_table_prints_the_confusion_matrix(dl21):
    text = run("agreement", "--collection", "dl21", "--reference", "official", "--assessor", "llama3.2", "--n-boot", "0")
    rows = [line.split() for line in text.splitlines() if line[:1] in "0123" and len(line.split()) == 6]
    assert [[int(v) for v in row[1:5]] for row in rows] == PAPER_DL21_LLAMA
    assert "Cohen's kappa" in text


def test_agreement_binary_split_collapses_grades(dl21):
    result = json.loads(
        run("agreement", "--collection", "dl21", "--reference", "official", "--assessor", "llama3.2", "--binary", "--json", "--n-boot", "0")
    )
    m = np.array(PAPER_DL21_LLAMA)
    assert result["confusion_matrix"] == [[m[:2, :2].sum(), m[:2, 2:].sum()], [m[2:, :2].sum(), m[2:, 2:].sum()]]


@pytest.fixture
def three_annotators(db):
    """120 pairs over 12 queries graded by alice, bob and carol (humans)."""
    rng = np.random.default_rng(42)
    truth = rng.integers(0, 4, 120)
    labels = np.column_stack(
        [truth, np.clip(truth + rng.choice([-1, 0, 0, 1], 120), 0, 3), np.where(rng.random(120) < 0.3, rng.integers(0, 4, 120), truth)]
    )
    coll = Collection.objects.create(name="study")
    queries = Query.objects.bulk_create([Query(collection=coll, qid=str(i)) for i in range(12)])
    passages = Passage.objects.bulk_create([Passage(collection=coll, docid=f"p{i}") for i in range(120)])
    people = [Assessor.objects.create(name=n, kind=Assessor.HUMAN) for n in ("alice", "bob", "carol")]
    Judgment.objects.bulk_create(
        [
            Judgment(query=queries[i // 10], passage=passages[i], assessor=who, grade=int(labels[i, j]))
            for i in range(120)
            for j, who in enumerate(people)
        ]
    )
    return labels


def test_agreement_among_three_equals_statsmodels_and_krippendorff(three_annotators):
    import krippendorff
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    result = json.loads(run("agreement", "--collection", "study", "--assessors", "alice,bob,carol", "--json", "--n-boot", "200"))
    labels = three_annotators
    assert result["n"] == 120
    assert result["fleiss_kappa"] == pytest.approx(fleiss_kappa(aggregate_raters(labels)[0]), abs=1e-12)
    assert result["alpha_nominal"] == pytest.approx(krippendorff.alpha(labels.T, level_of_measurement="nominal"), abs=1e-12)
    assert result["alpha_ordinal"] == pytest.approx(krippendorff.alpha(labels.T, level_of_measurement="ordinal"), abs=1e-12)
    for key in ("fleiss_kappa", "alpha_nominal", "alpha_ordinal"):
        assert len(result[f"{key}_ci"]) == 2


def test_unknown_assessor_is_a_command_error(three_annotators):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="nobody"):
        run("agreement", "--collection", "study", "--reference", "alice", "--assessor", "nobody")


def test_exports_in_every_format_carry_the_same_figures(three_annotators, tmp_path):
    from openpyxl import load_workbook

    files = {}
    for fmt in ("csv", "json", "xlsx", "html"):
        files[fmt] = tmp_path / f"report.{fmt}"
        run("export_agreement", "--collection", "study", "--reference", "alice", "--format", fmt,
            "--output", str(files[fmt]), "--n-boot", "100")
    report = json.loads(files["json"].read_text())
    labels = three_annotators
    bob = next(p for p in report["pairs"] if p["assessor"] == "bob")
    assert bob["kappa"] == pytest.approx(cohen_kappa_score(labels[:, 0], labels[:, 1]), abs=1e-12)
    assert report["parameters"]["reference"] == "alice" and report["hardq_version"]
    assert report["set"]["assessors"] == ["alice", "bob", "carol"]
    assert [s["assessor"] for s in report["sources"]] == ["alice", "bob", "carol"]
    # CSV: the summary row of bob has the same kappa, to the last digit.
    rows = list(csv.reader(io.StringIO(files["csv"].read_text())))
    head = next(r for r in rows if r[:2] == ["reference", "assessor"])
    bob_row = next(r for r in rows if r[:2] == ["alice", "bob"])
    assert float(bob_row[head.index("kappa")]) == bob["kappa"]
    # XLSX: the confusion sheet of the first pair holds the matrix.
    wb = load_workbook(files["xlsx"])
    sheet = wb["Confusion 1"]
    matrix = [[sheet.cell(row=3 + i, column=2 + j).value for j in range(4)] for i in range(4)]
    assert matrix == report["pairs"][0]["confusion_matrix"]
    # HTML: self-contained, images inline, parameters and version recorded.
    html = files["html"].read_text()
    assert html.count('src="data:image/png;base64,') >= 3 and "http://" not in html and "https://" not in html
    assert report["hardq_version"] in html and "alice" in html


def test_reports_are_deterministic_except_the_generation_time(three_annotators, tmp_path):
    from annotation import reports

    params = reports.ReportParams(collection="study", reference="alice", n_boot=100)
    first = reports.build_report(params)
    second = reports.build_report(params)
    first.pop("generated_at"), second.pop("generated_at")
    assert first == second
    a, b = reports.report_export(params=params, fmt="html"), reports.report_export(params=params, fmt="html")
    assert a.etag == b.etag and a.filename == "agreement-study.html" and a.content_type.startswith("text/html")
    Judgment.objects.filter(assessor__name="bob").first().save()
    assert reports.report_export(params=params, fmt="html").etag != a.etag


def test_assessor_names_are_escaped_in_the_html_report(db):
    from annotation import reports

    coll = Collection.objects.create(name="x")
    q = Query.objects.create(collection=coll, qid="1")
    ps = Passage.objects.bulk_create([Passage(collection=coll, docid=f"d{i}") for i in range(3)])
    ref = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    evil = Assessor.objects.create(name="<script>alert(1)</script>", kind=Assessor.LLM, model="<b>m</b>")
    Judgment.objects.bulk_create(
        [Judgment(query=q, passage=p, assessor=a, grade=g) for p, g in zip(ps, (0, 2, 3)) for a in (ref, evil)]
    )
    html = reports.report_export(params=reports.ReportParams(collection="x", n_boot=0), fmt="html").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- pages ------------------------------------------------------------------------------


def test_dashboard_needs_login_and_staff(client, alice, three_annotators):
    url = reverse("agreement:dashboard")
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(alice)
    assert client.get(url).status_code == 403
    assert client.get(reverse("agreement:export", args=["csv"]) + "?collection=study").status_code == 403


def test_dashboard_shows_heatmaps_kappas_and_download_links(client, admin_user, three_annotators):
    client.force_login(admin_user)
    response = client.get(reverse("agreement:dashboard"), {"collection": "study", "reference": "alice", "binary": ""})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<img class="heatmap') == 4  # counts + row-normalised for bob and carol
    assert 'class="kappa-chart"' in body
    for fmt in ("csv", "json", "xlsx", "html"):
        assert reverse("agreement:export", args=[fmt]) + "?collection=study" in body


def test_download_sends_etag_and_answers_304_when_unchanged(client, admin_user, three_annotators):
    client.force_login(admin_user)
    url = reverse("agreement:export", args=["json"])
    response = client.get(url, {"collection": "study", "reference": "alice", "n_boot": "50"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="agreement-study.json"'
    assert json.loads(response.content)["parameters"]["n_boot"] == 50
    again = client.get(url, {"collection": "study", "reference": "alice", "n_boot": "50"}, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    Judgment.objects.filter(assessor__name="carol").update(grade=0)
    changed = client.get(url, {"collection": "study", "reference": "alice", "n_boot": "50"}, HTTP_IF_NONE_MATCH=response["ETag"])
    assert changed.status_code == 200


def test_unknown_format_is_404(client, admin_user, three_annotators):
    client.force_login(admin_user)
    assert client.get(reverse("agreement:export", args=["pdf"]), {"collection": "study"}).status_code == 404


def test_dashboard_queries_do_not_grow_with_the_number_of_compared_assessors(client, admin_user, three_annotators):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(admin_user)
    url = reverse("agreement:dashboard")
    one = {"collection": "study", "reference": "alice", "assessor": ["bob"]}
    two = {"collection": "study", "reference": "alice", "assessor": ["bob", "carol"]}
    client.get(url, two)  # builds the label arrays once
    with CaptureQueriesContext(connection) as with_one:
        assert client.get(url, one).status_code == 200
    with CaptureQueriesContext(connection) as with_two:
        assert client.get(url, two).status_code == 200
    # Expected either way: session, user, collections, assessors of the collection
    # (filters); report: collection check, assessors of the collection (defaults),
    # collection + assessors (LabelSource; its one read of all label arrays runs on a
    # raw psycopg cursor, not captured here), runs, last change, judgment counts per
    # source (+ import sources when any, + reason verdicts once annotation has them).
    assert len(with_two.captured_queries) == len(with_one.captured_queries)


def test_report_shows_each_runs_ndcg_under_both_qrels(three_annotators):
    from analysis.models import Run, RunRow, System

    from annotation import reports

    coll = Collection.objects.get(name="study")
    query = Query.objects.get(collection=coll, qid="0")
    passages = list(Passage.objects.filter(collection=coll, docid__in=["p0", "p1"]).order_by("docid"))
    for name, scores in (("bm25", (2.0, 1.0)), ("dense", (1.0, 2.0))):
        run = Run.objects.create(system=System.objects.create(name=name), collection=coll)
        RunRow.objects.bulk_create(
            [RunRow(run=run, query=query, passage=p, rank=r, score=s) for r, (p, s) in enumerate(zip(passages, scores), 1)]
        )
    report = reports.build_report(reports.ReportParams(collection="study", reference="alice", n_boot=0))
    effect = {e["assessor"]: e for e in report["evaluation_effect"]}
    assert set(effect) == {"bob", "carol"}
    assert [r["run"] for r in effect["bob"]["runs"]] == ["bm25", "dense"]
    assert all(r["n_queries"] == 1 for r in effect["bob"]["runs"])


def test_spreadsheet_exports_never_turn_names_into_formulas(db, tmp_path):
    from openpyxl import load_workbook

    from annotation import reports

    coll = Collection.objects.create(name="f")
    q = Query.objects.create(collection=coll, qid="1")
    ps = Passage.objects.bulk_create([Passage(collection=coll, docid=f"d{i}") for i in range(2)])
    ref = Assessor.objects.create(name="official", kind=Assessor.OFFICIAL)
    evil = Assessor.objects.create(name="=HYPERLINK(\"http://x\")", kind=Assessor.LLM)
    Judgment.objects.bulk_create([Judgment(query=q, passage=p, assessor=a, grade=1) for p in ps for a in (ref, evil)])
    params = reports.ReportParams(collection="f", n_boot=0)
    text = reports.report_export(params=params, fmt="csv").content.decode()
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text and "'=HYPERLINK" in text
    path = tmp_path / "r.xlsx"
    path.write_bytes(reports.report_export(params=params, fmt="xlsx").content)
    cells = [c for ws in load_workbook(path).worksheets for row in ws.iter_rows() for c in row if c.value]
    assert any(str(c.value).startswith("=HYPERLINK") for c in cells)
    assert all(c.data_type != "f" for c in cells)


def test_agreement_csv_writes_numbers_as_numbers_even_when_negative(three_annotators):
    """kappa, nDCG and Kendall's tau are numbers in the CSV (``-1.0``, not ``'-1.0``):
    a spreadsheet sums them; only text that would run as a formula gets the quote."""
    from analysis.models import Run, RunRow, System

    from annotation import reports

    coll = Collection.objects.get(name="study")
    queries = list(Query.objects.filter(collection=coll).order_by("qid"))[:3]
    # carol's grades, reversed on the judged passages, flip which run is better.
    for name, better in (("bm25", True), ("dense", False)):
        run = Run.objects.create(system=System.objects.create(name=name), collection=coll)
        rows = []
        for query in queries:
            judged = list(
                Judgment.objects.filter(query=query, assessor__name="alice").order_by("-grade", "passage__docid")
            )
            ranked = judged if better else judged[::-1]
            rows += [RunRow(run=run, query=query, passage=j.passage, rank=r, score=100 - r) for r, j in enumerate(ranked, 1)]
        RunRow.objects.bulk_create(rows)
    Judgment.objects.filter(assessor__name="carol").update(grade=0)
    for j in Judgment.objects.filter(assessor__name="alice", grade=0):
        Judgment.objects.filter(assessor__name="carol", query_id=j.query_id, passage_id=j.passage_id).update(grade=3)
    params = reports.ReportParams(collection="study", reference="alice", n_boot=0)
    report = reports.build_report(params)
    tau = {e["assessor"]: e["kendall_tau_b"] for e in report["evaluation_effect"]}
    assert tau["carol"] == -1.0  # carol's qrels rank the two runs the other way round

    rows = list(csv.reader(io.StringIO(reports.report_export(params=params, fmt="csv").content.decode())))
    taus = [float(r[1]) for r in rows if r and r[0] == "kendall_tau_b"]
    assert sorted(taus) == sorted(tau.values())  # full precision in the export
    cells = [c for r in rows for c in r]
    assert "-1.0" in cells
    assert not [c for c in cells if c.startswith("'") and c[1:].lstrip("-").replace(".", "", 1).isdigit()]


BAD_PARAMETERS = [
    ({"seed": "-1"}, "seed"),
    ({"seed": "abc"}, "seed"),
    ({"seed": str(2**31)}, "seed"),
    ({"n_boot": "-5"}, "n_boot"),
    ({"n_boot": "10001"}, "n_boot"),
    ({"binary": "maybe"}, "binary"),
    ({"task": "h3x"}, "task"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_PARAMETERS)
def test_bad_parameters_are_refused_alike_by_the_page_the_downloads_the_api_and_the_command(
    client, admin_user, three_annotators, bad, field
):
    from django.core.management.base import CommandError

    query = {"collection": "study", "reference": "alice", **bad}
    client.force_login(admin_user)
    page = client.get(reverse("agreement:dashboard"), query)
    assert page.status_code == 400
    assert f"{field}:" in page.content.decode()  # shown as the form's error
    download = client.get(reverse("agreement:export", args=["csv"]), query)
    assert download.status_code == 400 and download.content.decode().startswith(f"{field}:")
    api = client.get("/api/agreement/report/", {**query, "format": "csv"})
    assert api.status_code == 400 and field in api.json()["error"]["details"]
    api = client.get("/api/agreement/", {**query, "assessor": "bob"})
    assert api.status_code == 400 and field in api.json()["error"]["details"]
    if field in ("seed", "n_boot") and bad[field].lstrip("-").isdigit():
        option = "--n-boot" if field == "n_boot" else "--seed"
        with pytest.raises(CommandError, match=field):
            run("export_agreement", "--collection", "study", "--format", "csv", "--output", "/dev/null", option, bad[field])


def test_the_largest_accepted_n_boot_and_seed_are_the_same_everywhere(client, admin_user, three_annotators):
    from annotation.report_params import MAX_N_BOOT, MAX_SEED

    client.force_login(admin_user)
    query = {"collection": "study", "reference": "alice", "assessor": "bob", "n_boot": "0", "seed": str(MAX_SEED)}
    assert client.get("/api/agreement/", query).status_code == 200
    assert client.get(reverse("agreement:export", args=["json"]), query).status_code == 200
    assert client.get("/api/agreement/", {**query, "n_boot": str(MAX_N_BOOT + 1)}).status_code == 400

"""Pairwise outcomes of a both-order job and of an imported file, side by side: the API
(``GET /api/pairwise/``), ``export_agreement``'s section and the pairwise page (Chromium,
1280x800), each figure equal to a count made here from the fake server's rule and from the
imported file itself (issue #17, item 3)."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict

import pytest
from django.core.management import call_command

from analysis.models import Generation, Judgment
from judges.models import LLMJob
from tests.conftest import ARTIFACTS, browser_login
from tests.judges.fake_llm import FakeConfig, FakeLLMServer, expected_position
from tests.judges.test_pairwise_job import graded_collection, run

IMPORTED = [("q0", "d0-2", 2), ("q0", "d0-3", 1), ("q1", "d1-3", 2), ("q2", "d2-2", 2), ("q2", "d2-6", 1)]


def build(capsys, tmp_path) -> tuple[str, int]:
    """The mini collection, a both-order pairwise job and an imported preference file."""
    graded_collection()
    with FakeLLMServer(FakeConfig()) as server:
        generator = run("generate", server.base_url, capsys, "--collection", "mini")["assessor"]
        job = run("pairwise", server.base_url, capsys, "--collection", "mini", "--generator", generator,
                  "--assessor", "pairwise-judge")["job"]
    path = tmp_path / "mini.pairwise.jsonl"
    path.write_text("".join(json.dumps({"qid": q, "did": d, "label": lab}) + "\n" for q, d, lab in IMPORTED))
    call_command("import_pairwise", str(path), "--collection", "mini", "--assessor", "file-judge", stdout=io.StringIO())
    return generator, job


def oracle() -> dict[str, Counter]:
    """Per qid, the job's outcomes counted from the fake server's rule, both orders apart."""
    generated = dict(Generation.objects.values_list("query__qid", "text"))
    counts: dict[str, Counter] = defaultdict(Counter)
    for qid, query, judged in Judgment.objects.filter(grade__gte=2).values_list("query__qid", "query__text", "passage__text"):
        forward = expected_position(query, judged, generated[qid])  # 1: the judged passage (in position 1)
        swapped_position = expected_position(query, generated[qid], judged)
        swapped = 3 - swapped_position  # read as the passage named
        c = counts[qid]
        c["comparisons"] += 1
        c["ties"] += forward != swapped
        c["generated_preferred"] += forward == swapped == 2
        c["judged_preferred"] += forward == swapped == 1
        c["first_position"] += (forward == 1) + (swapped_position == 1)
    return counts


def total(counts: dict[str, Counter]) -> Counter:
    return sum(counts.values(), Counter())


@pytest.mark.django_db
def test_the_api_gives_the_job_and_the_file_as_counted_independently(client, admin_user, capsys, tmp_path):
    generator, _ = build(capsys, tmp_path)
    expected = oracle()
    client.force_login(admin_user)
    data = client.get("/api/pairwise/", {"collection": "mini", "generator": generator}).json()
    (group,) = data["generators"]
    t = total(expected)
    assert (group["assessor"], group["generator"], data["generator"]) == ("pairwise-judge", generator, generator)
    for name in ("comparisons", "generated_preferred", "judged_preferred", "ties", "first_position"):
        assert group[name] == t[name], name
    assert group["both_orders"] == 24 and group["consistent"] == 24 - t["ties"]
    assert group["position_consistency"] == (24 - t["ties"]) / 24
    assert group["first_position_share"] == t["first_position"] / 48
    assert group["share"] == t["generated_preferred"] / 24 and group["tie_share"] == t["ties"] / 24
    per_query = {q["qid"]: q for q in group["queries"]}
    assert set(per_query) == set(expected)
    for qid, c in expected.items():
        q = per_query[qid]
        assert (q["comparisons"], q["ties"], q["generated_preferred"]) == (c["comparisons"], c["ties"], c["generated_preferred"])
        assert q["position_consistency"] == (c["comparisons"] - c["ties"]) / c["comparisons"]

    # Without a generator: the imported file too, under "not named", one order, no ties.
    every = {g["assessor"]: g for g in client.get("/api/pairwise/", {"collection": "mini"}).json()["generators"]}
    imported = every["file-judge"]
    assert imported["generator"] is None
    assert (imported["comparisons"], imported["generated_preferred"], imported["judged_preferred"], imported["ties"]) \
        == (5, sum(lab == 2 for *_, lab in IMPORTED), sum(lab == 1 for *_, lab in IMPORTED), 0)
    assert (imported["both_orders"], imported["position_consistency"]) == (0, None)
    assert every["pairwise-judge"] == group


@pytest.mark.django_db
def test_the_api_refuses_a_missing_or_unknown_collection_or_generator(client, admin_user, capsys, tmp_path):
    build(capsys, tmp_path)
    client.force_login(admin_user)
    for params, field, message in [
        ({}, "collection", "This field is required."),
        ({"collection": "nope"}, "collection", "Unknown collection 'nope'."),
        ({"collection": "mini", "generator": "nobody"}, "generator", "Unknown generator 'nobody': no assessor of that name."),
        ({"collection": "Bad Name!"}, "collection", None),
    ]:
        response = client.get("/api/pairwise/", params)
        assert response.status_code == 400, params
        details = response.json()["error"]["details"]
        assert set(details) == {field}, params
        if message:
            assert details[field] == [message]


@pytest.mark.django_db
def test_export_agreement_carries_the_both_order_figures(capsys, tmp_path):
    generator, _ = build(capsys, tmp_path)
    t = total(oracle())
    out = tmp_path / "agreement.json"
    call_command("export_agreement", "--collection", "mini", "--format", "json", "--output", str(out), "--n-boot", "0",
                 stdout=io.StringIO())
    groups = {g["assessor"]: g for g in json.loads(out.read_text())["pairwise"]["generators"]}
    job = groups["pairwise-judge"]
    assert (job["generator"], job["ties"], job["both_orders"], job["consistent"]) == (generator, t["ties"], 24, 24 - t["ties"])
    assert job["position_consistency"] == (24 - t["ties"]) / 24
    assert groups["file-judge"]["position_consistency"] is None

    out = tmp_path / "agreement.csv"
    call_command("export_agreement", "--collection", "mini", "--format", "csv", "--output", str(out), "--n-boot", "0",
                 stdout=io.StringIO())
    rows = list(csv.reader(io.StringIO(out.read_text())))
    start = next(i for i, r in enumerate(rows) if r and r[0] == "pairwise: judging assessor")
    head = rows[start]
    overall = next(r for r in rows[start + 1:] if r and r[0] == "pairwise-judge" and r[2] == "(all)")
    assert int(overall[head.index("ties")]) == t["ties"]
    assert float(overall[head.index("position_consistency")]) == (24 - t["ties"]) / 24
    imported = next(r for r in rows[start + 1:] if r and r[0] == "file-judge" and r[2] == "(all)")
    assert imported[head.index("position_consistency")] == ""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_pairwise_page_from_the_job_page_in_the_browser(page, live_server, admin_user, capsys, tmp_path):
    generator, job_id = build(capsys, tmp_path)
    expected = oracle()
    t = total(expected)
    admin_user.set_password("pw-admin-1")
    admin_user.save()
    browser_login(page, live_server, admin_user.username, "pw-admin-1")
    page.goto(f"{live_server.url}/judges/jobs/{job_id}/")
    assert "both orders, a tie when they disagree" in page.locator("#pairwise-spec").inner_text()
    page.click("#pairwise-outcomes")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/analysis/collections/mini/pairwise/?generator={generator}")
    section = page.locator("section.generator")
    assert section.count() == 1  # the job's generator only
    assert section.locator(".share").inner_text() == f"{t['generated_preferred'] / 24:.3f}"
    assert section.locator(".ties").inner_text() == str(t["ties"])
    assert section.locator(".position-consistency").inner_text() == f"{(24 - t['ties']) / 24:.3f}"
    assert section.locator(".first-position").inner_text() == f"{t['first_position'] / 48:.3f}"
    cells = {r.locator("td").nth(0).inner_text(): [r.locator("td").nth(i).inner_text() for i in (5, 7)]
             for r in section.locator("table.per-query tbody tr").all()}
    assert cells == {q: [str(c["ties"]), f"{(c['comparisons'] - c['ties']) / c['comparisons']:.3f}"]
                     for q, c in expected.items()}
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pairwise-outcomes.png"), full_page=True)

    # Every generator: the imported file beside the job, one order, no consistency.
    page.select_option("#id_generator", "")
    page.click("#pairwise-filter button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("section.generator").count() == 2
    assert "one order only" in page.locator("section.generator", has_text="file-judge").inner_text()

    response = page.goto(f"{live_server.url}/analysis/collections/mini/pairwise/?generator=%3Cb%3Enobody")
    assert response.status == 400
    error = page.locator("#pairwise-error")
    assert error.is_visible() and "Unknown generator <b>nobody" in error.inner_text()  # escaped, shown as typed
    page.screenshot(path=str(ARTIFACTS / "pairwise-outcomes-unknown-generator.png"), full_page=True)
    assert LLMJob.objects.filter(pk=job_id).exists()

"""The judges leaderboard on DL19 (issue 17, item 4).

The official qrels of the DL19 fixtures and 32 LLM label sets made from them by changing
each pair's grade with a known, distinct probability (seeded): the rows come in the order
of their kappa, and every figure equals the independent oracle: scikit-learn's
``cohen_kappa_score`` (plain, linear, quadratic, and on the grade >= 2 split) and the
``krippendorff`` package's ordinal alpha. The command's ``--json``, the API and the page
show the same rows; the rows are cached under the labels' state and recomputed after a write.
"""
from __future__ import annotations

import csv
import io
import json

import krippendorff
import numpy as np
import pytest
from bs4 import BeautifulSoup
from scipy.stats import spearmanr
from django.core.management import CommandError, call_command
from sklearn.metrics import cohen_kappa_score

from analysis.judgments import JudgmentRow, judgments_write
from analysis.models import Assessor, Judgment
from judges import leaderboard_selectors
from tests.conftest import FIXTURES
from tests.judges.conftest import load_dl19

pytestmark = pytest.mark.django_db

N_JUDGES = 32
# judge i changes a pair's grade with probability RATES[i]: 0.02, 0.04, ... 0.64
RATES = [round(0.02 * (i + 1), 2) for i in range(N_JUDGES)]
SEED = 17


def perturbed(grades: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Each grade replaced, with probability ``rate``, by one of the three other grades."""
    out = grades.copy()
    flip = rng.random(grades.size) < rate
    out[flip] = (grades[flip] + rng.integers(1, 4, size=int(flip.sum()))) % 4
    return out


@pytest.fixture
def dl19_judges() -> dict:
    """DL19 (fixture files) with its official qrels, 32 perturbed LLM label sets and one
    LLM that judged only half of the pairs (below the 90% coverage)."""
    return build_judges(N_JUDGES)


@pytest.fixture
def dl19_few_judges() -> dict:
    """The same with 4 label sets, for the tests of what is refused or cached."""
    return build_judges(4)


def build_judges(n_judges: int) -> dict:
    collection = load_dl19(FIXTURES)
    official = list(
        Judgment.objects.filter(assessor__name="official").order_by("query_id", "passage_id")
        .values_list("query_id", "passage_id", "grade")
    )
    keys = [(q, p) for q, p, _ in official]
    grades = np.array([g for _, _, g in official], dtype=np.int64)
    rng = np.random.default_rng(SEED)
    labels = {}
    for i, rate in enumerate(RATES[:n_judges]):
        name = f"judge-{i:02d}-rate-{rate:.2f}"
        assessor = Assessor.objects.create(name=name, kind=Assessor.LLM, model=f"model-{i}")
        labels[name] = perturbed(grades, rate, rng)
        judgments_write(assessor=assessor, rows=[JudgmentRow(q, p, int(g)) for (q, p), g in zip(keys, labels[name])])
    half = Assessor.objects.create(name="half-judge", kind=Assessor.LLM, model="half")
    judgments_write(assessor=half, rows=[JudgmentRow(q, p, int(g)) for (q, p), g in list(zip(keys, grades))[::2]])
    return {"collection": collection, "official": grades, "labels": labels}


def oracle(reference: np.ndarray, other: np.ndarray) -> dict:
    """The figures from scikit-learn and the krippendorff package, not from HardQ."""
    return {
        "kappa": cohen_kappa_score(reference, other),
        "kappa_linear": cohen_kappa_score(reference, other, weights="linear"),
        "kappa_quadratic": cohen_kappa_score(reference, other, weights="quadratic"),
        "kappa_binary": cohen_kappa_score(reference >= 2, other >= 2),
        "alpha_ordinal": krippendorff.alpha(reliability_data=np.vstack([reference, other]).astype(float),
                                            level_of_measurement="ordinal", value_domain=[0, 1, 2, 3]),
    }


def test_rows_come_in_kappa_order_with_the_oracles_figures(dl19_judges):
    board = leaderboard_selectors.leaderboard(collection="dl19")
    rows = board["rows"]
    assert board["reference"] == "official"
    assert [r["assessor"] for r in rows] == sorted(
        dl19_judges["labels"], key=lambda n: -oracle(dl19_judges["official"], dl19_judges["labels"][n])["kappa"]
    )
    assert [r["rank"] for r in rows] == list(range(1, N_JUDGES + 1))
    for row in rows:
        expected = oracle(dl19_judges["official"], dl19_judges["labels"][row["assessor"]])
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=1e-9), (row["assessor"], key)
        assert row["coverage"] == 1.0 and row["kendall_tau_b"] is None and row["probes"] == {}
    # the planted rates are recovered: more changed grades, lower kappa (neighbours 0.02 apart may swap)
    rate_of = {name: RATES[int(name.split("-")[1])] for name in dl19_judges["labels"]}
    assert spearmanr([rate_of[r["assessor"]] for r in rows], [r["kappa"] for r in rows]).statistic < -0.98
    assert rows[0]["assessor"].startswith("judge-00")
    # the half judge is behind the toggle, with its coverage
    assert [r["assessor"] for r in board["excluded"]] == ["half-judge"]
    assert board["excluded"][0]["coverage"] == pytest.approx(0.5, abs=0.001)


def test_command_api_and_page_show_the_same_rows(dl19_judges, client, admin_user):
    out = io.StringIO()
    call_command("judges_leaderboard", "--collection", "dl19", "--json", stdout=out)
    from_command = json.loads(out.getvalue())
    required = {"assessor", "coverage", "kappa", "kappa_linear", "kappa_quadratic", "alpha_ordinal", "kappa_binary",
                "kendall_tau_b"}
    assert all(required <= set(r) for r in from_command) and len(from_command) == N_JUDGES
    client.force_login(admin_user)
    from_api = client.get("/api/judges/leaderboard/", {"collection": "dl19"}).json()
    strip = [{k: r[k] for k in required} for r in from_command]
    assert [{k: r[k] for k in required} for r in from_api["rows"]] == strip
    page = BeautifulSoup(client.get("/judges/leaderboard/", {"collection": "dl19"}).content, "html.parser")
    shown = [
        (tr["data-assessor"], tr.select_one("[data-col=kappa]").get_text(), tr.select_one("[data-col=alpha_ordinal]").get_text())
        for tr in page.select("#leaderboard tbody tr")
    ]
    assert shown == [(r["assessor"], f"{r['kappa']:.3f}", f"{r['alpha_ordinal']:.3f}") for r in from_command]
    assert [tr["data-assessor"] for tr in page.select("#leaderboard-excluded tbody tr")] == ["half-judge"]
    # the CSV download: the same rows, then the excluded one
    response = client.get("/judges/leaderboard/", {"collection": "dl19", "format": "csv"})
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["assessor"] for r in table] == [r["assessor"] for r in from_command] + ["half-judge"]
    assert float(table[0]["kappa"]) == pytest.approx(from_command[0]["kappa"])


def test_sorting_by_another_column(dl19_judges, client, admin_user):
    client.force_login(admin_user)
    rows = client.get("/api/judges/leaderboard/", {"collection": "dl19", "sort": "assessor"}).json()["rows"]
    assert [r["assessor"] for r in rows] == sorted(dl19_judges["labels"])
    rows = client.get("/api/judges/leaderboard/", {"collection": "dl19", "sort": "kappa"}).json()["rows"]
    assert [r["kappa"] for r in rows] == sorted(r["kappa"] for r in rows)
    refused = client.get("/api/judges/leaderboard/", {"collection": "dl19", "sort": "price"})
    assert refused.status_code == 400 and "sort must be one of" in refused.json()["error"]["message"]


def test_rows_are_cached_until_a_label_changes(dl19_few_judges, django_assert_max_num_queries):
    first = leaderboard_selectors.leaderboard(collection="dl19")
    # warm: the collection, its assessors with their label versions, the runs, the usage, the probes
    with django_assert_max_num_queries(5):
        again = leaderboard_selectors.leaderboard(collection="dl19")
    assert again["cached"] and not first["cached"] and again["rows"] == first["rows"]
    # the best judge gets every official grade: it is recomputed, and now has kappa 1
    best = Assessor.objects.get(name=first["rows"][-1]["assessor"])
    official = Judgment.objects.filter(assessor__name="official").values_list("query_id", "passage_id", "grade")
    judgments_write(assessor=best, rows=[JudgmentRow(q, p, g) for q, p, g in official])
    after = leaderboard_selectors.leaderboard(collection="dl19")
    assert not after["cached"] and after["rows"][0]["assessor"] == best.name and after["rows"][0]["kappa"] == 1.0


def test_bad_input_is_refused_with_a_message(dl19_few_judges, client, admin_user):
    with pytest.raises(CommandError, match="unknown collection 'nope'"):
        call_command("judges_leaderboard", "--collection", "nope")
    with pytest.raises(CommandError, match="unknown assessor 'nobody'"):
        call_command("judges_leaderboard", "--collection", "dl19", "--reference", "nobody")
    client.force_login(admin_user)
    response = client.get("/api/judges/leaderboard/", {"collection": "nope"})
    assert response.status_code == 404 and "unknown collection" in response.json()["error"]["message"]
    assert client.get("/api/judges/leaderboard/").status_code == 400
    page = client.get("/judges/leaderboard/", {"collection": "dl19", "reference": "nobody"})
    assert page.status_code == 404 and b"unknown assessor" in page.content


def test_leaderboard_is_for_staff(dl19_few_judges, client, alice):
    assert client.get("/judges/leaderboard/", {"collection": "dl19"}).status_code == 302
    client.force_login(alice)
    assert client.get("/judges/leaderboard/", {"collection": "dl19"}).status_code == 403
    assert client.get("/api/judges/leaderboard/", {"collection": "dl19"}).status_code == 403


def test_the_leaderboard_and_cards_are_linked_where_a_user_looks(dl19_few_judges, client, admin_user):
    client.force_login(admin_user)
    home = BeautifulSoup(client.get("/").content, "html.parser")
    assert home.select_one("header nav a[href='/judges/leaderboard/']")
    dashboard = BeautifulSoup(client.get("/agreement/", {"collection": "dl19"}).content, "html.parser")
    assert dashboard.select_one("#leaderboard-link")["href"] == "/judges/leaderboard/?collection=dl19"
    cards = {a.get_text(): a["href"] for a in dashboard.select("#coverage a.judge-card")}
    assert cards["judge-00-rate-0.02"] == "/judges/assessors/judge-00-rate-0.02/?collection=dl19"
    board = BeautifulSoup(client.get("/judges/leaderboard/", {"collection": "dl19"}).content, "html.parser")
    link = board.select_one("#leaderboard tbody tr a")
    assert client.get(link["href"]).status_code == 200

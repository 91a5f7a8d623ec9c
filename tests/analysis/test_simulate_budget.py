"""The budget simulator: selection methods, the measures of what a budget buys, determinism.

Pure-function tests build small problems by hand; the command tests run on the demo's
ten DL19 queries (fixtures/); the coverage acceptance runs on the whole of DL19.
"""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from sklearn.metrics import cohen_kappa_score

from analysis.budget_ensemble import one_hot
from analysis.budget_simulation import (
    BudgetProblem,
    SimulationError,
    grade_margin,
    kappa_against,
    parse_budget,
    select,
    simulate,
)
from tests.analysis.test_estimate import LLM, load_dl19
from tests.conftest import FIXTURES


def problem_of(n_queries: int = 8, pairs_per_query: int = 25, *, seed: int = 0, shift: bool = False) -> BudgetProblem:
    """An LLM whose grade is the oracle's plus noise; with ``shift`` it also grades one too low."""
    rng = np.random.default_rng(seed)
    n = n_queries * pairs_per_query
    oracle = rng.integers(0, 4, n)
    llm = np.clip(oracle - (1 if shift else 0) + rng.choice([-1, 0, 0, 0, 1], n), 0, 3)
    probabilities = 0.6 * one_hot(llm, n_grades=4) + 0.4 * rng.dirichlet(np.ones(4), n)
    return BudgetProblem(
        qids=np.repeat([f"q{i}" for i in range(n_queries)], pairs_per_query),
        docids=np.array([f"d{i}" for i in range(n)]),
        probabilities=probabilities,
        llm_grades=probabilities.argmax(axis=1),
        oracle_grades=oracle,
    )


def test_budgets_are_counts_or_shares_and_refused_when_impossible():
    assert parse_budget("500", n_items=10828) == 500
    assert parse_budget("10%", n_items=10828) == 1083
    for bad, message in [("0", "positive"), ("ten", "neither"), ("120%", "neither"), ("20000", "more than the 10828")]:
        with pytest.raises(SimulationError, match=message):
            parse_budget(bad, n_items=10828)


def test_random_by_query_labels_whole_queries_and_keeps_the_llm_elsewhere_when_nothing_to_calibrate():
    problem = problem_of()
    chosen = select(problem, method="random", budget=3, unit="query", rng=np.random.default_rng(1))
    assert chosen.items.size == 3
    labeled_queries = set(problem.qids[chosen.labeled_pairs])
    assert len(labeled_queries) == 3
    assert chosen.labeled_pairs.sum() == 3 * 25  # every pair of the three queries
    assert np.array_equal(chosen.grades[chosen.labeled_pairs], problem.oracle_grades[chosen.labeled_pairs])


def test_uncertainty_asks_for_the_pairs_whose_two_likeliest_grades_are_closest():
    problem = problem_of()
    margin = grade_margin(problem.probabilities)
    chosen = select(problem, method="uncertainty", budget=10, unit="pair", rng=np.random.default_rng(0))
    assert set(chosen.items) == set(np.argsort(margin)[:10])


def test_lara_calibration_repairs_an_llm_that_grades_one_too_low():
    problem = problem_of(n_queries=20, shift=True)
    raw_kappa = kappa_against(problem.oracle_grades, problem.llm_grades, n_grades=4)
    chosen = select(problem, method="lara", budget=50, unit="pair", rng=np.random.default_rng(0))
    unlabeled = ~chosen.labeled_pairs
    calibrated = kappa_against(problem.oracle_grades[unlabeled], chosen.grades[unlabeled], n_grades=4)
    raw_unlabeled = kappa_against(problem.oracle_grades[unlabeled], problem.llm_grades[unlabeled], n_grades=4)
    assert chosen.labeled_pairs.sum() == 50
    assert calibrated > raw_unlabeled + 0.2, (calibrated, raw_unlabeled, raw_kappa)


def test_kappa_is_scikit_learns():
    problem = problem_of()
    assert kappa_against(problem.oracle_grades, problem.llm_grades, n_grades=4) == pytest.approx(
        cohen_kappa_score(problem.oracle_grades, problem.llm_grades)
    )


def test_spending_the_whole_budget_gives_the_oracle_back():
    problem = problem_of()
    for method in ("random", "uncertainty", "lara"):
        rows = simulate(problem, budgets=[len(problem.qids)], methods=[method], repeats=2, seed=3)
        assert rows[0]["kappa"]["mean"] == pytest.approx(1.0)


def test_same_seed_same_figures_other_seed_other_figures():
    problem = problem_of()
    first = simulate(problem, budgets=[20, 40], methods=["random", "lara"], repeats=4, seed=11)
    again = simulate(problem, budgets=[20, 40], methods=["random", "lara"], repeats=4, seed=11)
    other = simulate(problem, budgets=[20, 40], methods=["random", "lara"], repeats=4, seed=12)
    assert first == again
    assert first != other
    assert [(r["budget"], r["method"]) for r in first] == [(20, "random"), (20, "lara"), (40, "random"), (40, "lara")]
    assert first[0]["rmse"] is None and first[0]["coverage"] is None  # no runs, unit pair


# --- the command on the demo's DL19 queries -------------------------------------------


@pytest.fixture
def dl19_small(db):
    load_dl19(FIXTURES / "dl19")


def simulate_json(**options) -> dict:
    out = io.StringIO()
    call_command("simulate_budget", json=True, stdout=out, **options)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_command_is_deterministic_with_a_seed_and_reports_every_measure(dl19_small):
    options = {"collection": "dl19", "llm": LLM, "oracle": "official", "budgets": "3,6", "select": "random,uncertainty,lara",
               "unit": "query", "repeats": 3, "seed": 5}
    first = simulate_json(**options)
    assert first == simulate_json(**options)
    assert first != simulate_json(**{**options, "seed": 6})
    assert (first["n_queries"], first["runs"]) == (10, ["bm25", "tas-b", "unicoil"])
    assert len(first["results"]) == 6
    for row in first["results"]:
        for metric in ("kappa", "rmse", "kendall_tau", "coverage", "half_width", "human_only_half_width"):
            assert set(row[metric]) == {"mean", "std", "p2_5", "p97_5"}, metric
        assert 0.0 <= row["coverage"]["mean"] <= 1.0


@pytest.mark.django_db
def test_all_queries_judged_by_people_give_the_oracles_scores(dl19_small):
    report = simulate_json(collection="dl19", llm=LLM, oracle="official", budgets="100%", select="random",
                           unit="pair", repeats=2, seed=0)
    row = report["results"][0]
    assert row["kappa"]["mean"] == pytest.approx(1.0)
    assert row["rmse"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert row["kendall_tau"]["mean"] == pytest.approx(1.0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "options, message",
    [
        ({"select": "random,oracle"}, "unknown selection method"),
        ({"budgets": "5000"}, "more than the"),
        ({"budgets": "5000", "unit": "query"}, "more than the 10 queries"),
        ({"oracle": "nobody"}, "unknown oracle assessor 'nobody'"),
        ({"llm": f"{LLM},nobody"}, "unknown LLM assessor 'nobody'"),
        ({"budgets": "1", "unit": "query"}, "at least two labeled queries"),
    ],
)
def test_bad_input_is_refused_with_a_message(dl19_small, options, message):
    args = {"collection": "dl19", "llm": LLM, "oracle": "official", "budgets": "100", "repeats": 1, **options}
    with pytest.raises(CommandError, match=message):
        call_command("simulate_budget", **args, stdout=io.StringIO())


@pytest.mark.django_db
def test_simulator_page_is_for_staff_and_draws_the_curves(dl19_small, client, alice, admin_user):
    url = "/analysis/budget/simulate/"
    assert client.get(url).status_code == 302
    client.force_login(alice)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    response = client.get(url, {"collection": "dl19", "llm": LLM, "oracle": "official", "budgets": "3,6",
                                "select": ["random", "lara"], "unit": "query", "repeats": 2, "seed": 0,
                                "interval": "t"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html and "<strong>t</strong>" in html
    assert html.count("<tr>") == 1 + 4  # header + 2 budgets x 2 methods
    bad = client.get(url, {"collection": "dl19", "llm": LLM, "oracle": "official", "budgets": "500", "select": ["random"],
                           "unit": "query", "repeats": 2, "seed": 0, "interval": "ppi"})
    assert bad.status_code == 400 and "more than the 10 queries" in bad.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_simulator_page_in_the_browser(dl19_small, live_server, page, admin_user):
    from tests.conftest import browser_login

    browser_login(page, live_server, "admin", "admin-pass-123")
    # an inline SVG's styles refused by the site's CSP draw a black picture: none may be refused
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server.url}/analysis/budget/simulate/")
    page.select_option("select[name=collection]", "dl19")
    page.select_option("select[name=llm]", [LLM])
    page.select_option("select[name=oracle]", "official")
    page.fill("input[name=budgets]", "3,5,8")
    page.select_option("select[name=unit]", "query")
    page.fill("input[name=repeats]", "3")
    page.click("#simulate-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#simulation-plot img").count() == 1
    assert page.locator("#simulation-plot img").evaluate("i => i.complete && i.naturalWidth") > 300
    assert page.locator("#simulation tbody tr").count() == 9
    # what a user reads: which interval, numbers rounded for reading, the picture on screen
    assert "ppi: normal approximation (ppi-python" in page.locator("#interval-shown").inner_text()
    cells = page.locator("#simulation tbody td").all_inner_texts()
    assert not [c for c in cells if re.search(r"\d\.\d{4}", c)]
    box = page.locator("#simulation-plot img").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1280
    assert refused == []

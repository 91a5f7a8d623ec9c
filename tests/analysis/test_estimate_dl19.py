"""``manage.py estimate`` on the whole of DL19: equal to ppi-python called directly.

The per-query values are computed here by pytrec_eval from the raw paper-data files
(read by this test, not by the project's importers); the human assessor is the official
qrels of ten of the 43 queries, drawn with a fixed seed.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
from ppi_py import classical_mean_ci, ppi_mean_ci, ppi_mean_pointestimate

from tests.analysis.test_estimate import (
    LLM, LLM_FILE, OFFICIAL_FILE, RUN_FILES, estimate_json, import_human, load_dl19, ndcg10, read_qrels, read_run, unload,
)
from tests.conftest import PAPER_DATA


@pytest.fixture(scope="module")
def dl19_full(django_db_setup, django_db_blocker):
    """The whole of DL19 committed once for the module (each test still rolls back its own writes)."""
    if PAPER_DATA is None:
        pytest.skip("the shared paper data is not beside this checkout (set HARDQ_PAPER_DATA)")
    with django_db_blocker.unblock():
        load_dl19(PAPER_DATA / "dl19")
        try:
            yield PAPER_DATA / "dl19"
        finally:
            unload()


# --- the acceptance: equal to ppi-python on pytrec_eval's values ---------------------


@pytest.mark.slow
@pytest.mark.django_db
def test_estimate_on_dl19_equals_ppi_python_on_pytrec_eval_per_query_values(dl19_full, tmp_path):
    official_lines = (dl19_full / OFFICIAL_FILE).read_text().splitlines()
    all_qids = sorted({line.split()[0] for line in official_lines})
    assert len(all_qids) == 43
    chosen = set(random.Random(16).sample(all_qids, 10))
    import_human(tmp_path / "human.txt", [line for line in official_lines if line.split()[0] in chosen], "nist-10")

    report = estimate_json(collection="dl19", llm=LLM, human="nist-10")

    assert (report["measure"], report["level"], report["llm"], report["human"]) == ("ndcg_cut_10", 0.95, LLM, "nist-10")
    human_qrels = read_qrels(dl19_full / OFFICIAL_FILE, chosen)
    llm_qrels = read_qrels(dl19_full / LLM_FILE)
    expected = {}
    for name, filename in RUN_FILES.items():
        run = read_run(dl19_full / filename)
        human_values, llm_values = ndcg10(run, human_qrels), ndcg10(run, llm_qrels)
        labeled = sorted(chosen)
        unlabeled = sorted(set(llm_values) - chosen)
        y = np.array([human_values[q] for q in labeled])
        yhat = np.array([llm_values[q] for q in labeled])
        yhat_u = np.array([llm_values[q] for q in unlabeled])
        low, high = ppi_mean_ci(y, yhat, yhat_u, alpha=0.05, lam=None)
        h_low, h_high = classical_mean_ci(y, alpha=0.05)
        expected[name] = {
            "n_labeled": 10, "n_unlabeled": 33,
            "llm_only": np.mean(list(llm_values.values())),
            "human_only": (y.mean(), h_low, h_high),
            "ppi": (ppi_mean_pointestimate(y, yhat, yhat_u, lam=None)[0], low[0], high[0]),
        }
    assert sorted(r["run"] for r in report["runs"]) == sorted(RUN_FILES)
    for row in report["runs"]:
        exp = expected[row["run"]]
        assert (row["n_labeled"], row["n_unlabeled"]) == (exp["n_labeled"], exp["n_unlabeled"])
        assert row["llm_only"] == pytest.approx(exp["llm_only"], abs=1e-6)
        for key in ("human_only", "ppi"):
            got = (row[key]["estimate"], row[key]["ci_low"], row[key]["ci_high"])
            assert got == pytest.approx(tuple(float(v) for v in exp[key]), abs=1e-6), key
    by_ppi = sorted(expected, key=lambda n: -expected[n]["ppi"][0])
    assert report["ranking"] == by_ppi == [r["run"] for r in report["runs"]]


@pytest.mark.slow
@pytest.mark.django_db
def test_t_interval_keeps_the_estimate_and_is_wider_at_ten_queries(dl19_full, tmp_path):
    official_lines = (dl19_full / OFFICIAL_FILE).read_text().splitlines()
    chosen = set(random.Random(3).sample(sorted({line.split()[0] for line in official_lines}), 10))
    import_human(tmp_path / "human.txt", [line for line in official_lines if line.split()[0] in chosen], "nist-10")
    normal = {r["run"]: r for r in estimate_json(collection="dl19", llm=LLM, human="nist-10")["runs"]}
    small = estimate_json(collection="dl19", llm=LLM, human="nist-10", interval="t")
    assert small["interval"] == "t"
    for row in small["runs"]:
        ref = normal[row["run"]]
        assert row["ppi"]["estimate"] == pytest.approx(ref["ppi"]["estimate"], abs=1e-12)
        assert row["ppi"]["ci_low"] < ref["ppi"]["ci_low"] and row["ppi"]["ci_high"] > ref["ppi"]["ci_high"]
        assert row["human_only"]["ci_high"] - row["human_only"]["ci_low"] > ref["human_only"]["ci_high"] - ref["human_only"]["ci_low"]

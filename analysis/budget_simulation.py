"""Planning a human budget: which pairs people should judge, simulated with an oracle.

Pure functions over numpy arrays: the selectors (``analysis.budget_selectors``) line up
the pairs, the LLM's grade probabilities and the oracle's grades; this module draws the
pairs a method would send to people, lets the oracle answer in their place, and
measures what the resulting qrels are worth.

Methods (the field's names):

* ``random``: the baseline; with ``unit="query"`` it draws whole queries (all their
  pairs), the random sample that prediction-powered intervals by query need;
* ``uncertainty``: the items whose LLM grade distribution has the smallest margin
  between its two most likely grades;
* ``lara`` (LARA, SIGIR 2025): an online calibration of the LLM, a multinomial
  logistic regression of the human grade on the LLM's grade probabilities, refitted
  after every round on the labels given so far; each round asks for the items with the
  smallest *calibrated* margin. The first round, with nothing to fit yet, is random.

The qrels every method ends with are the human (oracle) grades where people judged
and elsewhere the calibrated LLM grade: the most likely grade of the same logistic
calibration fitted on all the labels the method collected (the LLM's own grade while
those labels hold a single grade). So the methods differ only in which pairs they ask
people for. ``fill="llm"`` keeps the LLM's own grade instead: the most likely
calibrated grade raises kappa but drifts towards the commonest grade (0 on TREC
pools), which empties the qrels of relevant passages on unjudged queries and so
distorts nDCG (see BENCHMARKS.md).

Measured per repeat: Cohen's kappa of the resulting qrels against the oracle's (over
every pair); where there are runs, the RMSE of the runs' mean nDCG@10 under the
resulting qrels against under the oracle's and Kendall's tau-b of the two system
rankings; with ``unit="query"``, for each run the PPI++ interval from the labeled
queries (see ``analysis.estimation``), whether it contains the oracle's mean and its
half-width, next to the human-only interval.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.agreement import confusion_matrix, kappa_from_matrix
from analysis.estimation import (
    DEFAULT_LEVEL,
    EstimationError,
    RunScores,
    classical_mean,
    per_query_measure,
    ppi_mean,
)

METHODS: tuple[str, ...] = ("random", "uncertainty", "lara")
UNITS: tuple[str, ...] = ("pair", "query")
FILLS: tuple[str, ...] = ("calibrated", "llm")
FIRST_ROUNDS: tuple[str, ...] = ("random", "uncertainty")
DEFAULT_ROUNDS = 10
SIMULATION_MEASURE = "ndcg_cut_10"


class SimulationError(ValueError):
    """Input the simulator cannot work with (said to the user as it is)."""


# --------------------------------------------------------------------------- the problem


@dataclass(frozen=True)
class BudgetProblem:
    """The pairs both the LLM and the oracle judged, aligned.

    ``probabilities[i, g]`` is the LLM's probability of grade ``g`` for pair ``i``;
    ``llm_grades`` its grade; ``oracle_grades`` the grade that stands in for a person.
    """

    qids: np.ndarray
    docids: np.ndarray
    probabilities: np.ndarray
    llm_grades: np.ndarray
    oracle_grades: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.qids)
        if not (len(self.docids) == len(self.llm_grades) == len(self.oracle_grades) == n == self.probabilities.shape[0]):
            raise SimulationError("the pair arrays are not aligned")
        if n == 0:
            raise SimulationError("the LLM and the oracle share no judged pair")

    @property
    def n_grades(self) -> int:
        return int(max(self.probabilities.shape[1], self.oracle_grades.max() + 1, self.llm_grades.max() + 1))

    @property
    def query_codes(self) -> np.ndarray:
        return np.unique(self.qids, return_inverse=True)[1]

    @property
    def queries(self) -> np.ndarray:
        return np.unique(self.qids)

    def qrels(self, grades: np.ndarray) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for q, d, g in zip(self.qids.tolist(), self.docids.tolist(), np.asarray(grades).tolist()):
            out.setdefault(q, {})[d] = int(g)
        return out


def parse_budget(text: str, *, n_items: int, unit: str = "pair") -> int:
    """A budget as a count of items (``500``) or a share of them (``5%``)."""
    text = text.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100.0
            if not 0 < share <= 1:
                raise ValueError
            return max(1, int(round(share * n_items)))
        value = int(text)
    except ValueError as exc:
        raise SimulationError(f"budget {text!r} is neither a positive count nor a share such as 5%") from exc
    if value <= 0:
        raise SimulationError(f"budget {text!r} must be positive")
    if value > n_items:
        plural = "queries" if unit == "query" else "pairs"
        raise SimulationError(f"budget {value} is more than the {n_items} {plural} there are to judge")
    return value


# --------------------------------------------------------------------------- selection


def grade_margin(probabilities: np.ndarray) -> np.ndarray:
    """Probability of the most likely grade minus that of the runner-up, per row
    (0: a coin toss between two grades, 1: certain)."""
    p = np.sort(np.asarray(probabilities, dtype=np.float64), axis=1)
    return p[:, -1] - p[:, -2] if p.shape[1] > 1 else np.ones(p.shape[0])


def item_means(values: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """Mean of a per-pair value over the pairs of each item (a query, or the pair itself)."""
    sums = np.bincount(items, weights=values, minlength=n_items)
    counts = np.bincount(items, minlength=n_items)
    return sums / np.maximum(counts, 1)


def smallest(scores: np.ndarray, k: int, rng: np.random.Generator, *, among: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` items with the smallest score (ties in random order), optionally only
    among the items flagged in ``among``."""
    candidates = np.arange(scores.size) if among is None else np.flatnonzero(among)
    order = np.lexsort((rng.random(candidates.size), scores[candidates]))
    return candidates[order[:k]]


def calibrator_fit(features: np.ndarray, grades: np.ndarray, *, n_grades: int):
    """Logistic regression of the human grade on the LLM's grade probabilities, or
    None while the labels hold a single grade (nothing to calibrate against)."""
    from sklearn.linear_model import LogisticRegression

    if np.unique(grades).size < 2:
        return None
    # newton-cholesky: a handful of features, a few thousand rows; ten times faster than lbfgs here
    return LogisticRegression(solver="newton-cholesky", max_iter=200).fit(features, grades)


def calibrated_probabilities(model, features: np.ndarray, *, n_grades: int) -> np.ndarray:
    """The calibrated probability of every grade (grades the labels never held get 0)."""
    out = np.zeros((features.shape[0], n_grades))
    out[:, model.classes_.astype(int)] = model.predict_proba(features)
    return out


def pick(
    method: str,
    *,
    take: int,
    rng: np.random.Generator,
    probabilities: np.ndarray,
    items_of_pair: np.ndarray,
    n_items: int,
    among: np.ndarray | None = None,
    model: Any = None,
    n_grades: int,
    first: str = "random",
) -> np.ndarray:
    """The next ``take`` items a method asks people for, among the items flagged in
    ``among`` (default: every item). The one implementation of the methods, for the
    simulator and for budget campaigns alike.

    ``random``: uniformly at random; ``uncertainty``: the items whose LLM grade
    distribution has the smallest margin (averaged over a query's pairs with
    ``unit="query"``); ``lara``: the smallest margin of the *calibrated* distribution
    (``model``, fitted by ``calibrator_fit`` on the labels so far), or the ``first``
    method while there is no calibration yet.
    """
    if method == "random":
        if among is None:
            return rng.choice(n_items, size=take, replace=False)
        return smallest(rng.random(n_items), take, rng, among=among)
    if method == "uncertainty":
        return smallest(item_means(grade_margin(probabilities), items_of_pair, n_items), take, rng, among=among)
    if method != "lara":
        raise SimulationError(f"unknown selection method {method!r} (one of {', '.join(METHODS)})")
    if model is None:
        if first not in FIRST_ROUNDS:
            raise SimulationError(f"unknown first round {first!r} (one of {', '.join(FIRST_ROUNDS)})")
        return pick(first, take=take, rng=rng, probabilities=probabilities, items_of_pair=items_of_pair,
                    n_items=n_items, among=np.ones(n_items, dtype=bool) if among is None else among,
                    n_grades=n_grades)
    margin = grade_margin(calibrated_probabilities(model, probabilities, n_grades=n_grades))
    return smallest(item_means(margin, items_of_pair, n_items), take, rng, among=among)


def items_of_pairs(qids: np.ndarray, *, unit: str) -> np.ndarray:
    """The item each pair belongs to: its query's index (``unit="query"``) or itself."""
    if unit not in UNITS:
        raise SimulationError(f"unknown unit {unit!r} (one of {', '.join(UNITS)})")
    if unit == "query":
        return np.unique(qids, return_inverse=True)[1]
    return np.arange(len(qids))


def calibrated_fill(model: Any, probabilities: np.ndarray, llm_grades: np.ndarray, *, n_grades: int) -> np.ndarray:
    """The grade of a pair nobody judged: the most likely calibrated grade, or the
    LLM's own while there is no calibration."""
    if model is None:
        return np.asarray(llm_grades)
    return calibrated_probabilities(model, probabilities, n_grades=n_grades).argmax(axis=1)


@dataclass(frozen=True)
class Selection:
    """The items people judged and the qrels that follow (one grade per pair)."""

    items: np.ndarray
    labeled_pairs: np.ndarray
    grades: np.ndarray


def select(
    problem: BudgetProblem,
    *,
    method: str,
    budget: int,
    unit: str,
    rng: np.random.Generator,
    rounds: int = DEFAULT_ROUNDS,
    fill: str = "calibrated",
    first: str = "random",
) -> Selection:
    """Spend ``budget`` items (pairs or queries) with ``method``; the oracle answers.

    ``lara`` spends it in ``rounds`` rounds, the first with the ``first`` method. The
    pairs people did not judge get the calibrated grade (``fill="calibrated"``) or the
    LLM's own (``fill="llm"``)."""
    if method not in METHODS:
        raise SimulationError(f"unknown selection method {method!r} (one of {', '.join(METHODS)})")
    if fill not in FILLS:
        raise SimulationError(f"unknown fill {fill!r} (one of {', '.join(FILLS)})")
    items_of_pair = items_of_pairs(problem.qids, unit=unit)
    n_items = int(items_of_pair.max()) + 1
    if budget > n_items:
        plural = "queries" if unit == "query" else "pairs"
        raise SimulationError(f"budget {budget} is more than the {n_items} {plural} there are to judge")
    probabilities = np.asarray(problem.probabilities, dtype=np.float64)
    n_grades = problem.n_grades
    chosen = np.zeros(n_items, dtype=bool)
    common: dict[str, Any] = {"rng": rng, "probabilities": probabilities, "items_of_pair": items_of_pair, "n_items": n_items,
              "n_grades": n_grades}

    model = None
    if method != "lara":
        chosen[pick(method, take=budget, **common)] = True
    else:
        round_size = max(1, -(-budget // max(1, rounds)))
        while chosen.sum() < budget:
            take = min(round_size, budget - int(chosen.sum()))
            chosen[pick("lara", take=take, among=~chosen, model=model, first=first, **common)] = True
            labeled = chosen[items_of_pair]
            model = calibrator_fit(probabilities[labeled], problem.oracle_grades[labeled], n_grades=n_grades)
    labeled_pairs = chosen[items_of_pair]
    if fill == "llm":
        model = None
    elif method != "lara":
        model = calibrator_fit(probabilities[labeled_pairs], problem.oracle_grades[labeled_pairs], n_grades=n_grades)
    filled = calibrated_fill(model, probabilities, problem.llm_grades, n_grades=n_grades)
    grades = np.where(labeled_pairs, problem.oracle_grades, filled).astype(np.int64)
    return Selection(items=np.flatnonzero(chosen), labeled_pairs=labeled_pairs, grades=grades)


# --------------------------------------------------------------------------- measuring


@dataclass
class RunScorer:
    """Per-query nDCG@10 of every run under any grades of the problem's pairs, as a
    (runs x queries) matrix in the problem's query order (NaN where a run retrieved
    nothing for a query, which trec_eval leaves out)."""

    problem: BudgetProblem
    runs: Mapping[str, RunScores]
    measure: str = SIMULATION_MEASURE
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = sorted(self.runs)

    def __call__(self, grades: np.ndarray) -> np.ndarray:
        qrels = self.problem.qrels(grades)
        queries = self.problem.queries.tolist()
        out = np.full((len(self.names), len(queries)), np.nan)
        for i, name in enumerate(self.names):
            values = per_query_measure(self.runs[name], qrels, measure=self.measure)
            out[i] = [values.get(q, np.nan) for q in queries]
        return out


def kappa_against(oracle: np.ndarray, grades: np.ndarray, *, n_grades: int) -> float:
    """Unweighted Cohen's kappa of the resulting qrels against the oracle's."""
    return float(kappa_from_matrix(confusion_matrix(oracle, grades, labels=range(n_grades))))


def ranking_agreement(oracle_means: np.ndarray, means: np.ndarray) -> tuple[float, float | None]:
    """RMSE of the runs' means and Kendall's tau-b of the two rankings (None for fewer
    than two runs, or when a ranking is all ties)."""
    from scipy.stats import kendalltau

    rmse = float(np.sqrt(np.mean((means - oracle_means) ** 2)))
    if len(means) < 2:
        return rmse, None
    tau = kendalltau(oracle_means, means).statistic
    return rmse, None if np.isnan(tau) else float(tau)


def interval_outcomes(
    oracle_values: np.ndarray,
    llm_values: np.ndarray,
    labeled_queries: np.ndarray,
    *,
    level: float,
    interval: str,
    seed: int,
) -> dict[str, float]:
    """For each run (rows of the per-query matrices), the PPI++ and the human-only
    intervals from the labeled queries; their coverage of the oracle's mean over every
    query and their mean half-width."""
    covered, half, h_covered, h_half = [], [], [], []
    for oracle_row, llm_row in zip(oracle_values, llm_values):
        present = ~np.isnan(oracle_row) & ~np.isnan(llm_row)
        lab = labeled_queries & present
        unl = ~labeled_queries & present
        truth = float(np.mean(oracle_row[present]))
        ppi = ppi_mean(oracle_row[lab], llm_row[lab], llm_row[unl], level=level, interval=interval, seed=seed)
        human = classical_mean(oracle_row[lab], level=level, interval=interval, seed=seed)
        covered.append(ppi.contains(truth))
        half.append(ppi.half_width)
        h_covered.append(human.contains(truth))
        h_half.append(human.half_width)
    return {
        "coverage": float(np.mean(covered)),
        "half_width": float(np.mean(half)),
        "human_only_coverage": float(np.mean(h_covered)),
        "human_only_half_width": float(np.mean(h_half)),
    }


METRICS: tuple[str, ...] = (
    "kappa", "rmse", "kendall_tau", "coverage", "half_width", "human_only_coverage", "human_only_half_width",
)


def spread(values: Sequence[float | None]) -> dict[str, float] | None:
    """Mean and spread over repeats: standard deviation, 2.5th and 97.5th percentiles."""
    vals = np.array([v for v in values if v is not None], dtype=np.float64)
    if vals.size == 0:
        return None
    return {
        "mean": float(vals.mean()),
        "std": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
        "p2_5": float(np.percentile(vals, 2.5)),
        "p97_5": float(np.percentile(vals, 97.5)),
    }


def simulate(
    problem: BudgetProblem,
    *,
    budgets: Sequence[int],
    methods: Sequence[str],
    unit: str = "pair",
    repeats: int = 20,
    seed: int = 0,
    runs: Mapping[str, RunScores] | None = None,
    level: float = DEFAULT_LEVEL,
    interval: str = "ppi",
    rounds: int = DEFAULT_ROUNDS,
    fill: str = "calibrated",
    scorer_factory: Callable[[BudgetProblem, Mapping[str, RunScores]], Callable[[np.ndarray], np.ndarray]] = RunScorer,
) -> list[dict[str, Any]]:
    """Every (budget, method): the metrics' mean and spread over ``repeats``.

    Each repeat draws from its own generator, seeded by (seed, budget, repeat): the same
    seed gives the same figures, and the methods of one budget and repeat start from
    the same random stream.
    """
    if repeats < 1:
        raise SimulationError("repeats must be at least 1")
    if unit == "query" and not runs:
        raise SimulationError("--unit query measures intervals of runs' scores: the collection has no run")
    n_grades = problem.n_grades
    scorer = scorer_factory(problem, runs) if runs else None
    oracle_values = scorer(problem.oracle_grades) if scorer else None
    llm_values = scorer(problem.llm_grades) if scorer else None
    oracle_means = np.nanmean(oracle_values, axis=1) if oracle_values is not None else None
    results = []
    for budget in budgets:
        for method in methods:
            samples: dict[str, list[float | None]] = {m: [] for m in METRICS}
            for repeat in range(repeats):
                rng = np.random.default_rng([seed, budget, repeat])
                chosen = select(problem, method=method, budget=budget, unit=unit, rng=rng, rounds=rounds, fill=fill)
                samples["kappa"].append(kappa_against(problem.oracle_grades, chosen.grades, n_grades=n_grades))
                if scorer is not None and oracle_means is not None:
                    rmse, tau = ranking_agreement(oracle_means, np.nanmean(scorer(chosen.grades), axis=1))
                    samples["rmse"].append(rmse)
                    samples["kendall_tau"].append(tau)
                if unit == "query" and oracle_values is not None and llm_values is not None:
                    labeled = np.zeros(len(problem.queries), dtype=bool)
                    labeled[chosen.items] = True
                    try:
                        outcome = interval_outcomes(
                            oracle_values, llm_values, labeled, level=level, interval=interval, seed=repeat
                        )
                    except EstimationError as exc:
                        raise SimulationError(f"budget {budget}: {exc}") from exc
                    for key, value in outcome.items():
                        samples[key].append(value)
            results.append(
                {
                    "budget": int(budget),
                    "method": method,
                    **{metric: spread(values) for metric, values in samples.items()},
                }
            )
    return results

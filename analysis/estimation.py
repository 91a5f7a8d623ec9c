"""Estimating a run's score from many LLM labels and a few human ones: pure statistics.

A run's effectiveness is the mean over queries of a per-query measure (nDCG@10 as
trec_eval computes it). When people judged only some queries and an LLM judged all of
them, three estimates of that mean are possible:

* the **LLM-only** mean over every query the LLM judged: precise but biased by the
  LLM's mistakes, so no interval is given for it;
* the **human-only** mean over the queries people judged, with its classical interval:
  unbiased but wide;
* the **prediction-powered** mean (PPI++, Angelopoulos, Duchi and Zrnic 2023; for IR
  evaluation Oosterhuis et al. 2024): the LLM mean over the unlabeled queries, corrected
  by the LLM's error measured on the labeled ones, with the power-tuning weight ``lam``
  estimated from the data. Unbiased, and narrower than human-only when the LLM's
  per-query values track the human ones.

ppi-python computes the estimators; this module only lines the per-query values up and
adds the small-sample intervals. Why a small-sample option: ppi-python's intervals are
normal approximations, which under-cover when people judged ten queries or so; the
``t`` interval keeps ppi-python's point estimate and standard error and takes Student's
t quantile with n - 1 degrees of freedom (and the n/(n-1) variance correction) instead
of the normal one, as the classical small-sample mean interval does.

Queries are the unit: the labeled queries must be a random sample of the queries for
the PPI interval to be valid (what ``--unit query`` of the budget simulator draws).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

DEFAULT_MEASURE = "ndcg_cut_10"
DEFAULT_LEVEL = 0.95
INTERVALS: tuple[str, ...] = ("ppi", "t", "bootstrap")
IntervalKind = Literal["ppi", "t", "bootstrap"]
INTERVAL_DESCRIPTIONS = {
    "ppi": "normal approximation (ppi-python's ppi_mean_ci; human-only: classical_mean_ci)",
    "t": "Student's t with n−1 degrees of freedom on ppi-python's standard error (small samples)",
    "bootstrap": "percentile bootstrap over queries (ppi-python's ppboot; human-only: classical_bootstrap_ci)",
}
N_BOOTSTRAP = 1000
DEFAULT_SEED = 0

Qrels = Mapping[str, Mapping[str, int]]
RunScores = Mapping[str, Mapping[str, float]]


class EstimationError(ValueError):
    """Input on which no estimate can be made (said to the user as it is)."""


# --------------------------------------------------------------------------- measures


def per_query_measure(run: RunScores, qrels: Qrels, *, measure: str = DEFAULT_MEASURE) -> dict[str, float]:
    """Per-query values of a trec_eval measure (pytrec_eval) of ``run`` under ``qrels``.

    The run is evaluated as imported: every retrieved document counts and documents the
    qrels do not judge are non-relevant (trec_eval without ``-J``). A query gets a value
    when the qrels judge it and the run retrieved something for it, as in trec_eval.
    """
    import pytrec_eval

    try:
        evaluator = pytrec_eval.RelevanceEvaluator(
            {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items()}, {measure}
        )
    except (ValueError, TypeError) as exc:
        raise EstimationError(f"unknown measure {measure!r} (a trec_eval measure such as ndcg_cut_10, P_10, map)") from exc
    judged_run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels}
    key = measure.replace(".", "_")
    out: dict[str, float] = {}
    for qid, values in evaluator.evaluate(judged_run).items():
        if key not in values:
            raise EstimationError(f"measure {measure!r} gives no single value per query (try e.g. ndcg_cut_10)")
        out[qid] = float(values[key])
    return out


# --------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2.0

    def contains(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@contextlib.contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    """ppi-python's bootstrap draws from numpy's global generator: seed it for the
    call (so that the same input gives the same interval) and give it back untouched."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _check_alpha(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise EstimationError(f"the level must be between 0 and 1 (got {level})")
    return 1.0 - level


def _check_interval(interval: str) -> None:
    if interval not in INTERVALS:
        raise EstimationError(f"unknown interval {interval!r} (one of {', '.join(INTERVALS)})")


def _t_widening(n: int, alpha: float) -> float:
    """How much wider a t interval (n − 1 degrees of freedom, sample variance with
    n − 1) is than the normal one with the population variance, at the same level."""
    from scipy.stats import norm, t

    return float(t.ppf(1 - alpha / 2, n - 1) / norm.ppf(1 - alpha / 2) * np.sqrt(n / (n - 1)))


def ppi_mean(
    y: np.ndarray,
    yhat: np.ndarray,
    yhat_unlabeled: np.ndarray,
    *,
    level: float = DEFAULT_LEVEL,
    interval: str = "ppi",
    seed: int = DEFAULT_SEED,
) -> Interval:
    """The PPI++ mean (power tuning: ``lam=None``) and its interval.

    ``y``: human values of the labeled queries, ``yhat``: the LLM's values of the same
    queries, ``yhat_unlabeled``: the LLM's values of the others.
    """
    from ppi_py import ppboot, ppi_mean_ci, ppi_mean_pointestimate

    alpha = _check_alpha(level)
    _check_interval(interval)
    y, yhat, yhat_unlabeled = (np.asarray(a, dtype=np.float64) for a in (y, yhat, yhat_unlabeled))
    if y.shape != yhat.shape:
        raise EstimationError("the human and LLM values of the labeled queries must be aligned")
    if y.size < 2:
        raise EstimationError(f"an interval needs at least two labeled queries (got {y.size})")
    if yhat_unlabeled.size < 1:
        raise EstimationError("the prediction-powered mean needs at least one query only the LLM judged")
    estimate = float(np.ravel(ppi_mean_pointestimate(y, yhat, yhat_unlabeled, lam=None))[0])
    if interval == "bootstrap":
        with _seeded_global_numpy(seed):
            low, high = ppboot(np.mean, y, yhat, yhat_unlabeled, lam=None, n_resamples=N_BOOTSTRAP, alpha=alpha)
        return Interval(estimate, float(np.ravel(low)[0]), float(np.ravel(high)[0]))
    low, high = (float(np.ravel(b)[0]) for b in ppi_mean_ci(y, yhat, yhat_unlabeled, alpha=alpha, lam=None))
    if interval == "t":
        centre, half = (low + high) / 2.0, (high - low) / 2.0 * _t_widening(y.size, alpha)
        low, high = centre - half, centre + half
    return Interval(estimate, low, high)


def classical_mean(y: np.ndarray, *, level: float = DEFAULT_LEVEL, interval: str = "ppi", seed: int = DEFAULT_SEED) -> Interval:
    """The mean of the human values alone and its classical interval (the same kind of
    interval as ``ppi_mean``'s, so that widths compare like with like)."""
    from ppi_py import classical_bootstrap_ci, classical_mean_ci

    alpha = _check_alpha(level)
    _check_interval(interval)
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2:
        raise EstimationError(f"an interval needs at least two labeled queries (got {y.size})")
    estimate = float(y.mean())
    if interval == "bootstrap":
        with _seeded_global_numpy(seed):
            low, high = classical_bootstrap_ci(np.mean, y, n_resamples=N_BOOTSTRAP, alpha=alpha)
    elif interval == "t":
        from scipy.stats import ttest_1samp

        ci = ttest_1samp(y, 0.0).confidence_interval(confidence_level=level)
        low, high = ci.low, ci.high
    else:
        low, high = classical_mean_ci(y, alpha=alpha)
    return Interval(estimate, float(np.ravel(low)[0]), float(np.ravel(high)[0]))


# --------------------------------------------------------------------------- one run, many runs


@dataclass(frozen=True)
class RunEstimate:
    run: str
    n_labeled: int
    n_unlabeled: int
    llm_only: float
    human_only: Interval
    ppi: Interval

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "n_labeled": self.n_labeled,
            "n_unlabeled": self.n_unlabeled,
            "llm_only": self.llm_only,
            "human_only": self.human_only.as_dict(),
            "ppi": self.ppi.as_dict(),
        }


def split_queries(llm_values: Mapping[str, float], human_values: Mapping[str, float]) -> tuple[list[str], list[str]]:
    """Labeled queries (the human judged them, and the LLM too: PPI needs both values)
    and unlabeled ones (only the LLM judged them), each sorted by qid."""
    labeled = sorted(set(human_values) & set(llm_values))
    unlabeled = sorted(set(llm_values) - set(human_values))
    return labeled, unlabeled


def run_estimate(
    run: str,
    llm_values: Mapping[str, float],
    human_values: Mapping[str, float],
    *,
    level: float = DEFAULT_LEVEL,
    interval: str = "ppi",
    seed: int = DEFAULT_SEED,
) -> RunEstimate:
    """The three estimates of one run's mean from its per-query values under each qrels."""
    labeled, unlabeled = split_queries(llm_values, human_values)
    if not labeled:
        raise EstimationError(f"run {run}: no query is judged by both the LLM and the human assessor")
    y = np.array([human_values[q] for q in labeled])
    yhat = np.array([llm_values[q] for q in labeled])
    yhat_unlabeled = np.array([llm_values[q] for q in unlabeled])
    return RunEstimate(
        run=run,
        n_labeled=len(labeled),
        n_unlabeled=len(unlabeled),
        llm_only=float(np.mean(list(llm_values.values()))),
        human_only=classical_mean(np.array(list(human_values.values())), level=level, interval=interval, seed=seed),
        ppi=ppi_mean(y, yhat, yhat_unlabeled, level=level, interval=interval, seed=seed),
    )


def estimate_runs(
    runs: Mapping[str, RunScores],
    *,
    llm_qrels: Qrels,
    human_qrels: Qrels,
    measure: str = DEFAULT_MEASURE,
    level: float = DEFAULT_LEVEL,
    interval: str = "ppi",
    seed: int = DEFAULT_SEED,
) -> list[RunEstimate]:
    """Every run's three estimates, best PPI estimate first (ties by run name)."""
    if not runs:
        raise EstimationError("the collection has no run to estimate")
    run_queries = {q for scores in runs.values() for q in scores}
    if not set(human_qrels) & run_queries:
        raise EstimationError("the human assessor judged no query that the runs retrieved for")
    if not set(llm_qrels) & run_queries:
        raise EstimationError("the LLM assessor judged no query that the runs retrieved for")
    results = [
        run_estimate(
            name,
            per_query_measure(scores, llm_qrels, measure=measure),
            per_query_measure(scores, human_qrels, measure=measure),
            level=level,
            interval=interval,
            seed=seed,
        )
        for name, scores in sorted(runs.items())
    ]
    return sorted(results, key=lambda r: (-r.ppi.estimate, r.run))

"""Agreement between assessors: pure statistics over label arrays and DataFrames.

Everything here works on numpy arrays (or pandas DataFrames for failure reasons)
and knows nothing about the database: the selectors in
``analysis.agreement_selectors`` produce the aligned arrays, the reports in
``annotation.reports`` render the results.

Conventions, in the field's words:

* The *reference* assessor gives the rows of every confusion matrix (NIST's qrels
  in the paper), the compared assessor the columns.
* The binary split calls a passage relevant when its grade is >= 2
  (``RELEVANT_GRADE``); a judge that only answers 0/1 is compared on that split.
* Confidence intervals are percentile bootstrap intervals that resample *queries*
  (with all their judged pairs), not pairs: the pairs of one query are not
  independent, and the query is the unit the paper's conclusions are about.

Cohen's kappa is computed from the confusion matrix (one ``bincount``), which is
what makes the 1M-pair benchmark cheap; tests prove it equals scikit-learn's
``cohen_kappa_score`` for the unweighted, linear and quadratic weights.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

GRADED_LABELS: tuple[int, ...] = (0, 1, 2, 3)
BINARY_LABELS: tuple[int, ...] = (0, 1)
RELEVANT_GRADE = 2
WEIGHTINGS: tuple[str | None, ...] = (None, "linear", "quadratic")
DEFAULT_N_BOOT = 1000
DEFAULT_SEED = 0
CI_LEVEL = 0.95


# --------------------------------------------------------------------------- basics


def to_binary(grades: np.ndarray, *, threshold: int = RELEVANT_GRADE) -> np.ndarray:
    """Grades 0..3 to relevant (1) / not relevant (0): relevant when grade >= threshold."""
    return (np.asarray(grades) >= threshold).astype(np.int64)


def confusion_matrix(reference: np.ndarray, other: np.ndarray, *, labels: Sequence[int]) -> np.ndarray:
    """Counts of (reference label, other label); rows follow the reference.

    ``labels`` must be the consecutive integers 0..k-1 (grades or binary), which lets
    one ``bincount`` over ``ref * k + other`` do the whole job.
    """
    k = len(labels)
    if tuple(labels) != tuple(range(k)):
        raise ValueError("labels must be 0..k-1")
    ref = np.asarray(reference, dtype=np.int64)
    oth = np.asarray(other, dtype=np.int64)
    if ref.shape != oth.shape:
        raise ValueError("the two label arrays must be aligned (same length)")
    if ref.size and (ref.min() < 0 or ref.max() >= k or oth.min() < 0 or oth.max() >= k):
        raise ValueError(f"labels outside 0..{k - 1}")
    return np.bincount(ref * k + oth, minlength=k * k).reshape(k, k)


def kappa_from_matrix(matrix: np.ndarray, *, weights: str | None = None) -> Any:
    """Cohen's kappa (unweighted, ``"linear"`` or ``"quadratic"``) of a confusion matrix.

    The same definition as scikit-learn's ``cohen_kappa_score``: observed against
    chance disagreement, chance from the product of the two marginals. Works on a
    stack of matrices (shape ``(..., k, k)``) too, which the bootstrap uses.
    """
    cm = np.asarray(matrix, dtype=np.float64)
    k = cm.shape[-1]
    total = cm.sum(axis=(-2, -1), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = cm.sum(axis=-1, keepdims=True) * cm.sum(axis=-2, keepdims=True) / total
        i, j = np.indices((k, k))
        if weights is None:
            w = (i != j).astype(np.float64)
        elif weights == "linear":
            w = np.abs(i - j).astype(np.float64)
        elif weights == "quadratic":
            w = ((i - j) ** 2).astype(np.float64)
        else:
            raise ValueError(f"unknown weights {weights!r}")
        observed_disagreement = (w * cm).sum(axis=(-2, -1))
        expected_disagreement = (w * expected).sum(axis=(-2, -1))
        kappa = 1.0 - observed_disagreement / expected_disagreement
    # A float for one matrix, an array for a stack of them.
    return kappa if np.ndim(kappa) else float(kappa)


def percent_agreement_from_matrix(matrix: np.ndarray) -> Any:
    """Share of pairs on the diagonal (0..1)."""
    cm = np.asarray(matrix, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.trace(cm, axis1=-2, axis2=-1) / cm.sum(axis=(-2, -1))
    return value if np.ndim(value) else float(value)


def per_grade_accuracy(matrix: np.ndarray) -> list[float | None]:
    """For each reference grade, the share of its pairs the other assessor labelled the same."""
    cm = np.asarray(matrix, dtype=np.float64)
    rows = cm.sum(axis=1)
    return [float(cm[g, g] / rows[g]) if rows[g] else None for g in range(cm.shape[0])]


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (rows with no pair stay 0)."""
    cm = np.asarray(matrix, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


# --------------------------------------------------------------------------- bootstrap


def _query_codes(query_ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense 0..Q-1 codes of the query of each pair, in ascending id order (deterministic)."""
    ids = np.asarray(query_ids)
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    if np.all(ids[1:] >= ids[:-1]):
        # The selectors return pairs sorted by query: one pass instead of a sort.
        codes = np.concatenate([[0], np.cumsum(ids[1:] != ids[:-1])]).astype(np.int64)
    else:
        codes = np.unique(ids, return_inverse=True)[1].astype(np.int64)
    return codes, int(codes.max()) + 1


def bootstrap_query_weights(n_queries: int, *, n_boot: int, seed: int) -> np.ndarray:
    """How often each query is drawn in each bootstrap replicate, shape (n_boot, Q).

    Drawing Q queries with replacement is a multinomial with equal probabilities;
    with these counts a replicate's confusion matrix is a weighted sum of per-query
    matrices, so no pair array is ever copied.
    """
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_queries, np.full(n_queries, 1.0 / n_queries), size=n_boot)


def interval_note(*, n_boot: int, n_queries: int) -> str | None:
    """Why a report has no bootstrap intervals at all (None when it has them).

    The intervals resample queries, so one query gives nothing to resample.
    """
    if n_boot <= 0:
        return f"no interval: n_boot={n_boot} (bootstrap off)"
    if n_queries < 2:
        return f"no interval: fewer than 2 queries ({n_queries})"
    return None


UNDEFINED_IN_RESAMPLES = "no interval: the statistic is undefined in every resample"


def undefined_note(*, n: int, statistics: Sequence[Any], unanimous: str) -> str | None:
    """Why a kappa or alpha is undefined (None when all of them are defined).

    Without pairs nothing is defined; otherwise a chance-corrected statistic is
    undefined only when chance agreement is 1: every label is the same one.
    """
    if n == 0:
        return "undefined: no shared pair"
    if any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in statistics):
        return f"undefined: {unanimous} (chance agreement is 1)"
    return None


def _interval(samples: np.ndarray) -> list[float] | None:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return None
    alpha = (1.0 - CI_LEVEL) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return [float(lo), float(hi)]


# --------------------------------------------------------------------------- two assessors


@dataclass
class PairAgreement:
    """Agreement of one assessor with a reference assessor on their shared pairs."""

    reference: str
    assessor: str
    binary: bool
    n: int
    n_queries: int
    labels: list[int]
    confusion_matrix: list[list[int]]
    percent_agreement: float
    kappa: float
    kappa_linear: float
    kappa_quadratic: float
    per_grade_accuracy: list[float | None]
    percent_agreement_ci: list[float] | None = None
    kappa_ci: list[float] | None = None
    kappa_linear_ci: list[float] | None = None
    kappa_quadratic_ci: list[float] | None = None
    n_boot: int = 0
    seed: int = DEFAULT_SEED
    ci_level: float = CI_LEVEL
    ci_note: str | None = None
    undefined_note: str | None = None
    disagreement_by_query: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (floats, lists, None for NaN)."""
        return json_ready(asdict(self))


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    return value


def pair_agreement(
    reference_grades: np.ndarray,
    other_grades: np.ndarray,
    query_ids: np.ndarray,
    *,
    reference: str = "reference",
    assessor: str = "assessor",
    binary: bool = False,
    other_is_binary: bool = False,
    reference_is_binary: bool = False,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    by_query: bool = False,
) -> PairAgreement:
    """Percent agreement, Cohen's kappas, confusion matrix and per-grade accuracy.

    ``by_query`` also lists the queries with the most differing pairs
    (``disagreement_by_query``, on the labels compared), for the reports' readers.

    ``binary`` compares on the relevant / not relevant split (grade >= 2); an
    assessor that only answers 0/1 (``other_is_binary`` / ``reference_is_binary``)
    forces that split and its answers are taken as they are. ``n_boot`` query-resampling replicates give the
    95% intervals (0 switches them off); the seed makes them reproducible.
    """
    ref = np.asarray(reference_grades, dtype=np.int64)
    oth = np.asarray(other_grades, dtype=np.int64)
    if binary or other_is_binary or reference_is_binary:
        binary = True
        ref = ref if reference_is_binary else to_binary(ref)
        oth = oth if other_is_binary else to_binary(oth)
        labels: tuple[int, ...] = BINARY_LABELS
    else:
        labels = GRADED_LABELS
    k = len(labels)
    cm = confusion_matrix(ref, oth, labels=labels)
    codes, n_queries = _query_codes(query_ids)
    result = PairAgreement(
        reference=reference,
        assessor=assessor,
        binary=binary,
        n=int(ref.size),
        n_queries=n_queries,
        labels=list(labels),
        confusion_matrix=cm.tolist(),
        percent_agreement=percent_agreement_from_matrix(cm),
        kappa=kappa_from_matrix(cm),
        kappa_linear=kappa_from_matrix(cm, weights="linear"),
        kappa_quadratic=kappa_from_matrix(cm, weights="quadratic"),
        per_grade_accuracy=per_grade_accuracy(cm),
        n_boot=n_boot,
        seed=seed,
        ci_note=interval_note(n_boot=n_boot, n_queries=n_queries),
        disagreement_by_query=disagreement_by_query(ref, oth, query_ids, codes=(codes, n_queries)) if by_query else [],
    )
    result.undefined_note = undefined_note(
        n=result.n, statistics=[result.kappa, result.kappa_linear, result.kappa_quadratic],
        unanimous="both assessors gave every shared pair the same grade",
    )
    if n_boot > 0 and n_queries > 1:
        # One (Q, k*k) table of per-query matrices; a replicate is weights @ table.
        per_query = np.bincount(codes * k * k + ref * k + oth, minlength=n_queries * k * k)
        per_query = per_query.reshape(n_queries, k * k).astype(np.float64)
        weights = bootstrap_query_weights(n_queries, n_boot=n_boot, seed=seed)
        boot = (weights @ per_query).reshape(n_boot, k, k)
        result.percent_agreement_ci = _interval(np.asarray(percent_agreement_from_matrix(boot)))
        result.kappa_ci = _interval(np.asarray(kappa_from_matrix(boot)))
        result.kappa_linear_ci = _interval(np.asarray(kappa_from_matrix(boot, weights="linear")))
        result.kappa_quadratic_ci = _interval(np.asarray(kappa_from_matrix(boot, weights="quadratic")))
    return result


def disagreement_by_query(
    reference_grades: np.ndarray,
    other_grades: np.ndarray,
    query_ids: np.ndarray,
    *,
    top: int = 10,
    codes: tuple[np.ndarray, int] | None = None,
) -> list[dict[str, Any]]:
    """The queries where the two assessors differ most: query id, shared pairs, pairs that differ.

    Sorted by the number of differing pairs, then their share, then the query id, so
    the list is the same for the same data; queries without a difference are left out.
    """
    ids = np.asarray(query_ids, dtype=np.int64)
    if ids.size == 0:
        return []
    # _query_codes (or the caller's, already computed): one pass when the pairs come sorted by query
    codes_, n_queries = codes if codes is not None else _query_codes(ids)
    unique = np.zeros(n_queries, dtype=np.int64)
    unique[codes_] = ids
    pairs = np.bincount(codes_, minlength=n_queries)
    differ = np.bincount(codes_[np.asarray(reference_grades) != np.asarray(other_grades)], minlength=n_queries)
    candidates = np.flatnonzero(differ > 0)
    # most differing pairs first, then the larger share, then the query id
    order = candidates[np.lexsort((unique[candidates], -differ[candidates] / pairs[candidates], -differ[candidates]))][:top]
    return [{"query_id": int(unique[i]), "pairs": int(pairs[i]), "differing": int(differ[i])} for i in order]


def pair_coverage(reference_keys: np.ndarray, assessor_keys: np.ndarray) -> dict[str, Any]:
    """How much of the reference's judged pairs the assessor also judged.

    ``coverage`` = shared pairs / the reference's pairs (None when the reference judged
    nothing). Keys are the sorted, unique pair keys of the label arrays.
    """
    ref, other = np.asarray(reference_keys), np.asarray(assessor_keys)
    if ref.size and other.size:
        # both sorted: a binary search per reference key, no merge sort of the two
        pos = np.minimum(np.searchsorted(other, ref), other.size - 1)
        shared = int(np.count_nonzero(other[pos] == ref))
    else:
        shared = 0
    reference_pairs = int(ref.size)
    return {
        "shared_pairs": shared,
        "reference_pairs": reference_pairs,
        "assessor_pairs": int(other.size),
        "coverage": shared / reference_pairs if reference_pairs else None,
    }


# --------------------------------------------------------------------------- three or more


@dataclass
class SetAgreement:
    """Agreement among three or more assessors on the pairs all of them judged."""

    assessors: list[str]
    binary: bool
    n: int
    n_queries: int
    labels: list[int]
    fleiss_kappa: float
    alpha_nominal: float
    alpha_ordinal: float
    percent_unanimous: float
    fleiss_kappa_ci: list[float] | None = None
    alpha_nominal_ci: list[float] | None = None
    alpha_ordinal_ci: list[float] | None = None
    n_boot: int = 0
    seed: int = DEFAULT_SEED
    ci_level: float = CI_LEVEL
    ci_note: str | None = None
    undefined_note: str | None = None
    pairwise: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return json_ready(asdict(self))


def category_counts(labels_matrix: np.ndarray, *, n_categories: int) -> np.ndarray:
    """(items, raters) labels -> (items, categories) counts, as statsmodels' aggregate_raters."""
    data = np.asarray(labels_matrix, dtype=np.int64)
    n_items = data.shape[0]
    flat = np.arange(n_items)[:, None] * n_categories + data
    return np.bincount(flat.ravel(), minlength=n_items * n_categories).reshape(n_items, n_categories)


def fleiss_kappa_from_counts(counts: np.ndarray) -> float:
    """Fleiss' kappa of an (items, categories) count table (every item rated equally often)."""
    from statsmodels.stats.inter_rater import fleiss_kappa

    return float(fleiss_kappa(counts, method="fleiss"))


def krippendorff_alpha_from_counts(
    counts: np.ndarray, *, level: Literal["nominal", "ordinal"], n_categories: int
) -> float:
    """Krippendorff's alpha (``nominal`` / ``ordinal``) from value counts per item."""
    import krippendorff

    return float(
        krippendorff.alpha(
            value_counts=np.asarray(counts),
            value_domain=list(range(n_categories)),
            level_of_measurement=level,
        )
    )


def set_agreement(
    labels_matrix: np.ndarray,
    query_ids: np.ndarray,
    *,
    assessors: Sequence[str],
    binary: bool = False,
    binary_assessors: Sequence[bool] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> SetAgreement:
    """Fleiss' kappa and Krippendorff's alpha (nominal, ordinal) of (pairs, assessors) labels.

    Uses statsmodels' ``fleiss_kappa`` and the ``krippendorff`` package on the
    per-pair category counts; the bootstrap resamples queries (all pairs of a drawn
    query, repeated as often as it is drawn).
    """
    data = np.asarray(labels_matrix, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError("need a (pairs, assessors) matrix with at least two assessors")
    binary_assessors = list(binary_assessors or [False] * data.shape[1])
    if binary or any(binary_assessors):
        binary = True
        data = np.column_stack(
            [data[:, j] if binary_assessors[j] else to_binary(data[:, j]) for j in range(data.shape[1])]
        )
        labels: tuple[int, ...] = BINARY_LABELS
    else:
        labels = GRADED_LABELS
    k = len(labels)
    counts = category_counts(data, n_categories=k)
    codes, n_queries = _query_codes(query_ids)
    n_raters = data.shape[1]
    result = SetAgreement(
        assessors=list(assessors),
        binary=binary,
        n=int(data.shape[0]),
        n_queries=n_queries,
        labels=list(labels),
        fleiss_kappa=fleiss_kappa_from_counts(counts) if data.shape[0] else float("nan"),
        alpha_nominal=krippendorff_alpha_from_counts(counts, level="nominal", n_categories=k)
        if data.shape[0]
        else float("nan"),
        alpha_ordinal=krippendorff_alpha_from_counts(counts, level="ordinal", n_categories=k)
        if data.shape[0]
        else float("nan"),
        percent_unanimous=float((counts.max(axis=1) == n_raters).mean()) if data.shape[0] else float("nan"),
        n_boot=n_boot,
        seed=seed,
        ci_note=interval_note(n_boot=n_boot, n_queries=n_queries),
    )
    result.undefined_note = undefined_note(
        n=result.n, statistics=[result.fleiss_kappa, result.alpha_nominal, result.alpha_ordinal],
        unanimous="every assessor gave every pair the same label",
    )
    if n_boot > 0 and n_queries > 1:
        # Both statistics are sums over pairs, so per-query sums are enough: a
        # replicate is the query weights times the per-query table (no resampled copies).
        weights = bootstrap_query_weights(n_queries, n_boot=n_boot, seed=seed)
        tables = per_query_set_tables(counts, codes, n_queries=n_queries)
        boot = {name: weights @ table for name, table in tables.items()}
        result.fleiss_kappa_ci = _interval(fleiss_kappa_from_sums(boot["fleiss_p"], boot["items"], boot["totals"], n_raters))
        coincidence = boot["coincidence"].reshape(n_boot, k, k)
        result.alpha_nominal_ci = _interval(alpha_from_coincidence(coincidence, level="nominal"))
        result.alpha_ordinal_ci = _interval(alpha_from_coincidence(coincidence, level="ordinal"))
    return result


def per_query_set_tables(counts: np.ndarray, codes: np.ndarray, *, n_queries: int) -> dict[str, np.ndarray]:
    """Per-query sums behind Fleiss' kappa and Krippendorff's alpha.

    ``items``: pairs per query; ``fleiss_p``: sum of each pair's observed agreement
    P_i; ``totals``: category totals; ``coincidence``: Krippendorff's coincidence
    matrix (flattened k*k) of the query's pairs.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_items, k = counts.shape
    m = counts.sum(axis=1)
    pairable = m > 1
    p_i = np.zeros(n_items)
    p_i[pairable] = ((counts[pairable] ** 2).sum(axis=1) - m[pairable]) / (m[pairable] * (m[pairable] - 1))
    outer = counts[:, :, None] * counts[:, None, :]
    outer[:, np.arange(k), np.arange(k)] -= counts
    denom = np.where(pairable, m - 1, 1.0)
    coincidence = (outer / denom[:, None, None]) * pairable[:, None, None]

    def by_query(values: np.ndarray) -> np.ndarray:
        values = values.reshape(n_items, -1)
        # bincount with weights: per-query sums without the slow unbuffered np.add.at.
        return np.column_stack(
            [np.bincount(codes, weights=values[:, c], minlength=n_queries) for c in range(values.shape[1])]
        )

    return {
        "items": by_query(np.ones(n_items))[:, 0],
        "fleiss_p": by_query(p_i)[:, 0],
        "totals": by_query(counts),
        "coincidence": by_query(coincidence.reshape(n_items, k * k)),
    }


def fleiss_kappa_from_sums(p_sum: np.ndarray, items: np.ndarray, totals: np.ndarray, n_raters: int) -> np.ndarray:
    """Fleiss' kappa from (replicate-wise) sums of P_i, item counts and category totals."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p_bar = p_sum / items
        p_j = totals / (items[..., None] * n_raters)
        p_e = (p_j**2).sum(axis=-1)
        return (p_bar - p_e) / (1.0 - p_e)


def alpha_from_coincidence(coincidence: np.ndarray, *, level: str) -> np.ndarray:
    """Krippendorff's alpha from coincidence matrices (..., k, k), nominal or ordinal."""
    o = np.asarray(coincidence, dtype=np.float64)
    k = o.shape[-1]
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    c, d = np.indices((k, k))
    if level == "nominal":
        delta = np.broadcast_to((c != d).astype(np.float64), o.shape)
    elif level == "ordinal":
        # delta_ck = (sum of n_g for g between c and k) - (n_c + n_k) / 2, squared.
        cum = np.cumsum(n_c, axis=-1)
        lo, hi = np.minimum(c, d), np.maximum(c, d)
        between = np.take(cum, hi, axis=-1) - np.take(cum, lo, axis=-1) + np.take(n_c, lo, axis=-1)
        delta = (between - (np.take(n_c, c, axis=-1) + np.take(n_c, d, axis=-1)) / 2.0) ** 2
    else:
        raise ValueError(f"unknown level {level!r}")
    expected = n_c[..., :, None] * n_c[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        d_o = (o * delta).sum(axis=(-2, -1))
        d_e = (expected * delta).sum(axis=(-2, -1)) / (n - 1)
        return 1.0 - d_o / d_e


# --------------------------------------------------------------------------- effect on evaluation


Qrels = Mapping[str, Mapping[str, int]]
RunScores = Mapping[str, Mapping[str, float]]


# How the report's nDCG@10 is computed, said on the page and in every export. H2R and
# the query page's "judged only" figure drop unjudged passages first (trec_eval -J);
# here they stay, so that the two assessors' figures are over the same ranked rows.
NDCG_USED = (
    "nDCG@10 (pytrec_eval ndcg_cut_10) over all run rows, unjudged = 0, on the pairs both "
    "assessors judged; per run, the mean over the queries with a shared pair"
)
# Below five systems Kendall's p-value cannot be small whatever the rankings.
MIN_RUNS_FOR_P = 5


def mean_ndcg_at_10(run: RunScores, qrels: Qrels) -> dict[str, float]:
    """Per-query nDCG@10 with pytrec_eval (trec_eval's ``ndcg_cut_10``), on judged queries.

    Every run row counts (an unjudged passage has gain 0): "all rows", not judged only.
    """
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(
        {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items()}, {"ndcg_cut_10"}
    )
    judged_run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels}
    return {q: m["ndcg_cut_10"] for q, m in evaluator.evaluate(judged_run).items()}


def shared_qrels(reference: Qrels, assessor: Qrels) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Both qrels cut to the (query, passage) pairs both judged; queries left empty are dropped."""
    ref_out: dict[str, dict[str, int]] = {}
    asr_out: dict[str, dict[str, int]] = {}
    for qid in reference.keys() & assessor.keys():
        docs = reference[qid].keys() & assessor[qid].keys()
        if docs:
            ref_out[qid] = {d: int(reference[qid][d]) for d in docs}
            asr_out[qid] = {d: int(assessor[qid][d]) for d in docs}
    return ref_out, asr_out


def p_value_note(n_runs: int) -> str | None:
    """Why Kendall's p-value says nothing with fewer than five runs (None from five on)."""
    if n_runs >= MIN_RUNS_FOR_P or n_runs < 2:
        return None
    from scipy.stats import kendalltau

    smallest = float(kendalltau(range(n_runs), range(n_runs)).pvalue)
    return (
        f"only {n_runs} runs: the p-value cannot fall below {smallest:.3f} even for identical "
        f"rankings, so it says nothing (it needs at least {MIN_RUNS_FOR_P} runs)"
    )


def evaluation_effect(runs: Mapping[str, RunScores], *, reference: Qrels, assessor: Qrels) -> dict[str, Any]:
    """Each run's mean nDCG@10 under the reference's and the assessor's qrels, and Kendall's tau-b.

    Both qrels are first cut to the pairs both judged (``shared_qrels``): an assessor
    that judged 200 of the reference's 9,260 pairs is compared with the reference's
    grades on those 200, not with all 9,260, so the two rankings of the runs differ
    only by the labels. The coverage (shared pairs / the reference's pairs) is returned
    beside tau, and a note when too few runs make the p-value meaningless.
    """
    from scipy.stats import kendalltau

    reference_pairs = sum(len(d) for d in reference.values())
    ref_shared, asr_shared = shared_qrels(reference, assessor)
    shared = sum(len(d) for d in ref_shared.values())
    rows = []
    for name in sorted(runs):
        under_reference = mean_ndcg_at_10(runs[name], ref_shared)
        under_assessor = mean_ndcg_at_10(runs[name], asr_shared)
        rows.append(
            {
                "run": name,
                "ndcg_cut_10_reference": float(np.mean(list(under_reference.values()))) if under_reference else None,
                "ndcg_cut_10_assessor": float(np.mean(list(under_assessor.values()))) if under_assessor else None,
                "n_queries": len(under_reference),
            }
        )
    scored = [r for r in rows if r["ndcg_cut_10_reference"] is not None and r["ndcg_cut_10_assessor"] is not None]
    tau = p_value = None
    tau_note: str | None = None
    if len(scored) < 2:
        tau_note = f"no tau: needs two runs with a shared pair ({len(scored)})"
    else:
        result = kendalltau(
            [r["ndcg_cut_10_reference"] for r in scored], [r["ndcg_cut_10_assessor"] for r in scored], variant="b"
        )
        tau = None if np.isnan(result.statistic) else float(result.statistic)
        p_value = None if np.isnan(result.pvalue) else float(result.pvalue)
        if tau is None:
            tau_note = "no tau: every run has the same nDCG@10 under one of the qrels"
    return {
        "ndcg": NDCG_USED,
        "runs": rows,
        "n_runs": len(scored),
        "kendall_tau_b": tau,
        "kendall_tau_b_p": p_value,
        "kendall_tau_b_note": tau_note,
        "p_value_note": p_value_note(len(scored)) if tau is not None else None,
        "reference_pairs": reference_pairs,
        "assessor_pairs": sum(len(d) for d in assessor.values()),
        "shared_pairs": shared,
        "shared_queries": len(ref_shared),
        "coverage": shared / reference_pairs if reference_pairs else None,
    }


# --------------------------------------------------------------------------- failure reasons

# The reason-verdict frame: one row per (reason, annotator) verdict, with columns
# reason_id, task, model, category_llm, annotator, verdict (agree / disagree /
# unsure) and category_human (may be empty: the annotator kept the LLM's category).
REASON_COLUMNS = ("reason_id", "task", "model", "category_llm", "annotator", "verdict", "category_human")
VERDICTS = ("agree", "disagree", "unsure")
REASON_KEYS = {"task": ["task"], "category": ["category_llm"], "model": ["model"]}


def _check_reason_frame(frame: pd.DataFrame) -> None:
    missing = [c for c in REASON_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"reason verdicts lack columns {missing}")


def reason_acceptance(frame: pd.DataFrame, *, by: Sequence[str] = ("model", "task")) -> pd.DataFrame:
    """Share of proposed reasons humans accept, per group (e.g. model and task).

    A reason is accepted when the majority of its decisive verdicts (agree or
    disagree; "unsure" abstains) agree; a tie or only "unsure" leaves it undecided.
    Columns: the group keys, ``reasons`` (with any verdict), ``accepted``,
    ``rejected``, ``undecided``, ``acceptance`` (accepted / decided) and
    ``verdict_agree_share`` (agree / all verdicts).
    """
    _check_reason_frame(frame)
    by = list(by)
    per_reason = (
        frame.assign(
            agree=(frame["verdict"] == "agree").astype(int),
            disagree=(frame["verdict"] == "disagree").astype(int),
        )
        .groupby(["reason_id", *by], dropna=False)[["agree", "disagree"]]
        .sum()
        .reset_index()
    )
    per_reason["outcome"] = np.select(
        [per_reason["agree"] > per_reason["disagree"], per_reason["disagree"] > per_reason["agree"]],
        ["accepted", "rejected"],
        default="undecided",
    )
    table = (
        per_reason.groupby(by, dropna=False)["outcome"]
        .value_counts()
        .unstack(fill_value=0)
        .reindex(columns=["accepted", "rejected", "undecided"], fill_value=0)
        .reset_index()
    )
    table.columns.name = None
    table["reasons"] = table[["accepted", "rejected", "undecided"]].sum(axis=1)
    decided = table["accepted"] + table["rejected"]
    table["acceptance"] = np.where(decided > 0, table["accepted"] / decided.where(decided > 0, 1), np.nan)
    verdict_share = (
        frame.assign(agree=(frame["verdict"] == "agree").astype(float))
        .groupby(by, dropna=False)["agree"]
        .mean()
        .rename("verdict_agree_share")
        .reset_index()
    )
    return table.merge(verdict_share, on=by, how="left").sort_values(by).reset_index(drop=True)


def verdict_agreement(frame: pd.DataFrame, *, n_boot: int = 0, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Inter-annotator agreement on verdicts: Fleiss' kappa and Krippendorff's alpha (nominal).

    Fleiss needs the same number of verdicts per reason, so it is computed on the
    reasons with the most common number of annotators; Krippendorff's alpha uses every
    reason with at least two verdicts (it handles missing ones).
    """
    _check_reason_frame(frame)
    codes = {v: i for i, v in enumerate(VERDICTS)}
    frame = frame[frame["verdict"].isin(VERDICTS)]
    wide = frame.pivot_table(index="reason_id", columns="annotator", values="verdict", aggfunc="first")
    wide = wide[wide.notna().sum(axis=1) >= 2]
    result: dict[str, Any] = {
        "reasons": int(len(wide)),
        "annotators": [str(a) for a in wide.columns],
        "fleiss_kappa": None,
        "fleiss_kappa_note": None,
        "fleiss_reasons": 0,
        "alpha_nominal": None,
        "alpha_nominal_note": None,
    }
    if wide.empty:
        result["fleiss_kappa_note"] = result["alpha_nominal_note"] = "undefined: no reason has verdicts from two annotators"
        return result
    numeric = wide.apply(lambda col: col.map(codes)).to_numpy(dtype=float)
    import krippendorff

    value_counts = np.stack([(numeric == c).sum(axis=1) for c in range(len(VERDICTS))], axis=1)
    if np.count_nonzero(value_counts.sum(axis=0)) >= 2:
        result["alpha_nominal"] = float(
            krippendorff.alpha(value_counts=value_counts, level_of_measurement="nominal")
        )
    else:
        result["alpha_nominal_note"] = "undefined: every verdict is the same"
    raters = np.isfinite(numeric).sum(axis=1)
    common = int(pd.Series(raters).mode().iloc[0])
    equal = value_counts[raters == common]
    if len(equal) and np.count_nonzero(equal.sum(axis=0)) >= 2:
        result["fleiss_kappa"] = fleiss_kappa_from_counts(equal)
        result["fleiss_reasons"] = int(len(equal))
        result["fleiss_annotators_per_reason"] = common
    else:
        result["fleiss_kappa_note"] = "undefined: every verdict is the same"
    return result


def category_confusion(frame: pd.DataFrame) -> pd.DataFrame:
    """Confusion matrix of LLM-assigned (rows) against human-assigned (columns) categories.

    Counts every verdict that names a human category; a verdict without one (the
    annotator kept the LLM's) counts as the LLM's category.
    """
    _check_reason_frame(frame)
    human = frame["category_human"].where(
        frame["category_human"].notna() & (frame["category_human"].astype(str) != ""), frame["category_llm"]
    )
    table = pd.crosstab(frame["category_llm"].fillna("(none)"), human.fillna("(none)"))
    names = sorted(set(table.index) | set(table.columns))
    table = table.reindex(index=names, columns=names, fill_value=0)
    table.index.name = "category_llm"
    table.columns.name = "category_human"
    return table


def most_accepted_reasons(
    frame: pd.DataFrame, *, texts: Mapping[Any, str] | None = None, top: int = 10
) -> pd.DataFrame:
    """Per task, the reasons (or categories) with the most accepting verdicts.

    Like the paper's failure-reasons table, regenerated from annotations: grouped by
    human category (the LLM's when the human kept it), with the number of accepting
    verdicts, of distinct reasons accepted, and the acceptance share. ``texts`` maps
    reason ids to their text, so an example reason can be shown.
    """
    _check_reason_frame(frame)
    category = frame["category_human"].where(
        frame["category_human"].notna() & (frame["category_human"].astype(str) != ""), frame["category_llm"]
    ).fillna("(uncategorised)")
    data = frame.assign(category=category, accepted=(frame["verdict"] == "agree").astype(int))
    grouped = (
        data.groupby(["task", "category"])
        .agg(
            verdicts=("verdict", "size"),
            accepting_verdicts=("accepted", "sum"),
            reasons=("reason_id", "nunique"),
        )
        .reset_index()
    )
    accepted_ids = data[data["accepted"] == 1].groupby(["task", "category"])["reason_id"]
    grouped["reasons_accepted"] = (
        grouped.set_index(["task", "category"]).index.map(accepted_ids.nunique()).fillna(0).astype(int)
    )
    grouped["acceptance"] = grouped["accepting_verdicts"] / grouped["verdicts"]
    if texts is not None:
        example = accepted_ids.min()
        grouped["example"] = grouped.set_index(["task", "category"]).index.map(
            lambda key: texts.get(example.get(key), "") if key in example.index else ""
        )
    grouped = grouped.sort_values(["task", "accepting_verdicts", "category"], ascending=[True, False, True])
    return grouped.groupby("task").head(top).reset_index(drop=True)


def reason_pair_agreement(frame: pd.DataFrame) -> pd.Series:
    """Per reason, the share of annotator pairs that gave it the same verdict (0-1; NaN
    with fewer than two verdicts): the agreement a reviewer reads beside each reason.
    Over several reasons it is the observed agreement that kappa and alpha correct."""
    _check_reason_frame(frame)

    def share(verdicts: pd.Series) -> float:
        counts = verdicts.value_counts().to_numpy()
        n = int(counts.sum())
        if n < 2:
            return float("nan")
        return float((counts * (counts - 1)).sum() / (n * (n - 1)))

    return frame.groupby("reason_id")["verdict"].agg(share)


def _group_stats(human: np.ndarray, llm: np.ndarray, reference: np.ndarray,
                 weights: np.ndarray | None = None) -> dict[str, float | None]:
    """Agreement of human grades with the LLM and the reference on one group of labels,
    each label counted ``weights`` times (a bootstrap draw of items)."""
    w = np.ones(len(human)) if weights is None else np.asarray(weights, dtype=float)

    def kappa(a: np.ndarray, b: np.ndarray, wa: np.ndarray) -> float | None:
        if not wa.sum():
            return None
        matrix = np.bincount(b * 4 + a, weights=wa, minlength=16).reshape(4, 4)
        value = kappa_from_matrix(matrix)
        return None if not np.isfinite(value) else float(value)

    has_ref = reference >= 0
    return {
        "agreement_with_llm": float(np.sum(w * (human == llm)) / w.sum()) if w.sum() else None,
        "kappa_with_llm": kappa(human, llm, w),
        "kappa_with_reference": kappa(human[has_ref], reference[has_ref], w[has_ref]),
    }


ANCHORING_STATS = ("agreement_with_llm", "kappa_with_llm", "kappa_with_reference")
GAP_STATS = ("agreement_with_llm", "kappa_with_llm")


def anchoring(
    *,
    human: np.ndarray,
    llm: np.ndarray,
    reference: np.ndarray,
    items: np.ndarray,
    shown: np.ndarray,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """How much showing an LLM's grade pulls people towards it (anchoring).

    One entry per human label: its grade, the LLM's grade of the pair, the reference
    (official) grade (-1 when there is none), the item it belongs to and whether the
    LLM's grade was shown. For the shown and the control labels: their count, the share
    with the LLM's grade (0-1), Cohen's kappa with the LLM and with the reference; the
    gap is shown minus control. 95% intervals come from resampling the items (with all
    their labels) within each group, ``n_boot`` times.
    """
    human, llm, reference = (np.asarray(a, dtype=np.int64) for a in (human, llm, reference))
    items, shown = np.asarray(items), np.asarray(shown, dtype=bool)
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {}
    samples: dict[str, list[dict[str, float | None]]] = {}
    for name, mask in (("shown", shown), ("control", ~shown)):
        h, l_, r, it = human[mask], llm[mask], reference[mask], items[mask]
        block: dict[str, Any] = {"n": int(mask.sum()), **_group_stats(h, l_, r)}
        uniq, inverse = np.unique(it, return_inverse=True)
        draws = []
        for _ in range(n_boot if len(uniq) > 1 else 0):
            times = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))
            draws.append(_group_stats(h, l_, r, weights=times[inverse]))
        samples[name] = draws
        for stat in ANCHORING_STATS:
            values = np.array([d[stat] for d in draws if d[stat] is not None], dtype=float)
            block[f"{stat}_ci"] = _interval(values) if len(values) else None
        result[name] = block
    gap: dict[str, Any] = {}
    for stat in GAP_STATS:
        a, b = result["shown"][stat], result["control"][stat]
        gap[stat] = None if a is None or b is None else a - b
        diffs = [
            float(sv) - float(cv) for sv, cv in ((s[stat], c[stat]) for s, c in zip(samples["shown"], samples["control"]))
            if sv is not None and cv is not None
        ]
        gap[f"{stat}_ci"] = _interval(np.array(diffs)) if diffs else None
    result["gap"] = gap
    return result


# --------------------------------------------------------------------------- judge cards


def precision_recall_from_matrix(matrix: np.ndarray) -> list[dict[str, float | None]]:
    """Per label: precision (of the compared assessor's answers of that label, the share the
    reference gave too: a column) and recall (of the reference's pairs of that label, the
    share the assessor found: a row); None where the column or row is empty."""
    cm = np.asarray(matrix, dtype=np.float64)
    rows, cols = cm.sum(axis=1), cm.sum(axis=0)
    return [
        {
            "label": g,
            "precision": float(cm[g, g] / cols[g]) if cols[g] else None,
            "recall": float(cm[g, g] / rows[g]) if rows[g] else None,
            "reference_pairs": int(rows[g]),
            "assessor_pairs": int(cols[g]),
        }
        for g in range(cm.shape[0])
    ]


CALIBRATION_BINS = 10


def calibration(probabilities: np.ndarray, reference: np.ndarray, *, n_bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """How well an assessor's grade probabilities predict the reference's grade.

    ``probabilities`` is (n, k), a row per pair (index = grade); ``reference`` the
    reference's grades 0..k-1. The Brier score is the multi-class one (the squared
    distance of the row to the one-hot reference grade, averaged over pairs: 0 is
    perfect, 2 the worst). The expected calibration error bins the pairs by the
    confidence of the most likely grade (``n_bins`` equal-width bins over 0..1) and
    averages |accuracy - mean confidence| of each bin weighted by its share of pairs.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.int64)
    n = int(ref.size)
    if n == 0:
        return {"n": 0, "ece": None, "brier": None, "bins": []}
    k = p.shape[1]
    onehot = np.zeros_like(p)
    onehot[np.arange(n), ref] = 1.0
    brier = float(((p - onehot) ** 2).sum(axis=1).mean())
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == ref).astype(np.float64)
    # a confidence of exactly 1 goes into the last bin
    bin_of = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bin_of, minlength=n_bins)
    conf_sum = np.bincount(bin_of, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(bin_of, weights=correct, minlength=n_bins)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        if counts[b]:
            accuracy, mean_conf = correct_sum[b] / counts[b], conf_sum[b] / counts[b]
            ece += counts[b] / n * abs(accuracy - mean_conf)
            bins.append({"low": b / n_bins, "high": (b + 1) / n_bins, "pairs": int(counts[b]),
                         "accuracy": float(accuracy), "confidence": float(mean_conf)})
    return {"n": n, "n_grades": k, "ece": float(ece), "brier": brier, "bins": bins}


def split_vote_share(samples: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Self-consistency of a judge asked several times per pair: the share of pairs whose
    valid answers were not all the same grade (a pair with fewer than two valid answers
    cannot split and is left out)."""
    voted = [s for s in samples if len(s) >= 2]
    split = sum(1 for s in voted if len(set(s)) > 1)
    return {"pairs": len(voted), "split": split, "split_share": split / len(voted) if voted else None}

"""Hard to Retrieve: per-query effectiveness of a run against qrels.

The default is trec_eval's judged-only nDCG@10 (``trec_eval -J -m ndcg_cut.10``)
computed by pytrec_eval: unjudged documents are removed before the cut, the gain is the
grade, the discount log2, ties are broken by score then docid *descending* (trec_eval's
order). A query with relevant documents but none of them retrieved scores 0; a query
judged without any relevant document is reported as ``no_relevant`` and never hard.

``compat="trectools"`` recomputes the reference script's numbers (trectools'
``get_ndcg(per_query=True, removeUnjudged=True)``) to the digit: ties broken by docid
*ascending* (trectools 0.0.50 casts docids to strings before sorting) and
NaN wherever no relevant document is in the judged top k. pandas' quantile drops those
NaN, so the hardest queries vanish from the paper's figures (DL19 BM25: 1063750).

Only the rows that can change the result reach pytrec_eval: the judged ones in judged
mode, the top k (in trec_eval's order) for cut-off measures. That is what makes the
project path faster than feeding pytrec_eval the whole run.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytrec_eval

from analysis.hardness.thresholds import BELOW, HardnessOutcome, label_hard

DEFAULT_MEASURE = "ndcg_cut_10_judged"
COMPAT_TRECTOOLS = "trectools"

_MEASURE_RE = re.compile(r"^(?P<base>ndcg_cut|recall|P|map_cut|ndcg|map|recip_rank)(?:_(?P<k>\d+))?(?P<judged>_judged)?$")
_CUT_MEASURES = {"ndcg_cut", "recall", "P", "map_cut"}


@dataclass(frozen=True)
class MeasureSpec:
    """A trec_eval measure, its cut-off and whether unjudged documents are removed first."""

    base: str
    cutoff: int | None
    judged_only: bool

    @property
    def name(self) -> str:
        """The measure's name as stored and shown, e.g. ``ndcg_cut_10_judged``."""
        core = f"{self.base}_{self.cutoff}" if self.cutoff is not None else self.base
        return core + ("_judged" if self.judged_only else "")

    @property
    def pytrec_request(self) -> str:
        return f"{self.base}.{self.cutoff}" if self.cutoff is not None else self.base

    @property
    def pytrec_key(self) -> str:
        return f"{self.base}_{self.cutoff}" if self.cutoff is not None else self.base


def parse_measure(name: str = DEFAULT_MEASURE, cutoff: int | None = None) -> MeasureSpec:
    """Parse ``ndcg_cut_10_judged``, ``ndcg_cut_10``, ``map``, ``recall_100``, ``recip_rank`` ...

    ``cutoff`` (``--cutoff K``) replaces the cut-off written in the name.
    """
    m = _MEASURE_RE.match(name.strip())
    if not m:
        raise ValueError(f"unknown measure {name!r} (e.g. ndcg_cut_10_judged, ndcg_cut_10, map, recall_100, recip_rank)")
    base = m.group("base")
    k = cutoff if cutoff is not None else (int(m.group("k")) if m.group("k") else None)
    if base in _CUT_MEASURES and k is None:
        k = {"recall": 100}.get(base, 10)
    if base not in _CUT_MEASURES:
        k = None
    if k is not None and k <= 0:
        raise ValueError("the cut-off must be positive")
    return MeasureSpec(base=base, cutoff=k, judged_only=bool(m.group("judged")))


# --- files -------------------------------------------------------------------------------

def read_run_file(path: str | Path) -> pd.DataFrame:
    """A TREC run file (``qid Q0 docid rank score tag``) as columns qid, docid (str), score.

    pandas' C parser does the work; ``round_trip`` float parsing gives the same doubles
    as Python's ``float()``, so ties are the ties trec_eval sees.
    """
    df = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        usecols=[0, 2, 4],
        names=["qid", "docid", "score"],
        dtype={"qid": str, "docid": str, "score": np.float64},
        float_precision="round_trip",
        engine="c",
    )
    return df


def read_qrels_file(path: str | Path) -> pd.DataFrame:
    """A qrels file (``qid iter docid grade``) as columns qid, docid (str), grade (int)."""
    df = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        usecols=[0, 2, 3],
        names=["qid", "docid", "grade"],
        dtype={"qid": str, "docid": str, "grade": np.int64},
        engine="c",
    )
    return df


# --- the default engine: pytrec_eval on the rows that matter --------------------------------

def _judged_only(run: pd.DataFrame, qrels: pd.DataFrame) -> pd.DataFrame:
    """Keep the run rows whose (qid, docid) is judged (trec_eval -J)."""
    keys = pd.MultiIndex.from_arrays([qrels["qid"].to_numpy(), qrels["docid"].to_numpy()])
    mask = pd.MultiIndex.from_arrays([run["qid"].to_numpy(), run["docid"].to_numpy()]).isin(keys)
    return run.loc[mask]


def _top_k_trec_eval_order(run: pd.DataFrame, k: int) -> pd.DataFrame:
    """The first k rows per query in trec_eval's order: score descending, docid descending."""
    ordered = run.sort_values(["qid", "score", "docid"], ascending=[True, False, False], kind="mergesort")
    return ordered.groupby("qid", sort=False).head(k)


def _nested(df: pd.DataFrame, value: str) -> dict[str, dict[str, float | int]]:
    """{qid: {docid: value}} from a frame, grouped in one pass."""
    out: dict[str, dict] = {}
    for qid, docid, v in zip(df["qid"].tolist(), df["docid"].tolist(), df[value].tolist()):
        d = out.get(qid)
        if d is None:
            d = out[qid] = {}
        d[docid] = v
    return out


def per_query_measure(
    run: pd.DataFrame,
    qrels: pd.DataFrame,
    *,
    measure: MeasureSpec | str = DEFAULT_MEASURE,
    relevance_level: int = 1,
) -> tuple[dict[str, float | None], dict[str, str], dict[str, dict]]:
    """Per-query values of ``measure`` computed by pytrec_eval.

    Returns (values, status, details). Only queries that are both judged and in the
    run are measured; a judged query without a relevant document (grade below
    ``relevance_level``) gets status ``no_relevant`` and value None; a judged query the
    run does not contain at all is ``excluded`` (trec_eval without ``-c``).
    """
    spec = parse_measure(measure) if isinstance(measure, str) else measure
    judged_qids = set(qrels["qid"].unique().tolist())
    run = run.loc[run["qid"].isin(judged_qids)]
    run_qids = set(run["qid"].unique().tolist())
    if spec.judged_only:
        run = _judged_only(run, qrels)
    if spec.cutoff is not None:
        run = _top_k_trec_eval_order(run, spec.cutoff)
    relevant_qids = set(qrels.loc[qrels["grade"] >= relevance_level, "qid"].unique().tolist())

    qrels_in_run = qrels.loc[qrels["qid"].isin(run_qids)]
    evaluator = pytrec_eval.RelevanceEvaluator(
        _nested(qrels_in_run, "grade"), {spec.pytrec_request}, relevance_level=relevance_level
    )
    results = evaluator.evaluate(_nested(run, "score"))
    retrieved = run.groupby("qid").size().to_dict()

    values: dict[str, float | None] = {}
    status: dict[str, str] = {}
    details: dict[str, dict] = {}
    for qid in sorted(judged_qids):
        if qid not in run_qids:
            values[qid], status[qid] = None, "excluded"
            details[qid] = {"reason": "not in the run"}
        elif qid not in relevant_qids:
            values[qid], status[qid] = None, "no_relevant"
            details[qid] = {"reason": "judged, no relevant passage"}
        else:
            # pytrec_eval leaves out a query none of whose judged documents was retrieved:
            # it retrieved nothing relevant, so it scores 0 (trec_eval's value with -c).
            values[qid] = float(results.get(qid, {}).get(spec.pytrec_key, 0.0))
            status[qid] = "ok"
            details[qid] = {"rows_evaluated": int(retrieved.get(qid, 0))}
    return values, status, details


# --- the reference script's numbers (trectools) ---------------------------------------------

def trectools_ndcg(run: pd.DataFrame, qrels: pd.DataFrame, *, depth: int = 10) -> dict[str, float]:
    """nDCG@depth as trectools' ``get_ndcg(per_query=True, removeUnjudged=True)`` returns it.

    Written from trectools' algorithm (trectools stays the oracle in the tests): run
    restricted to judged queries, sorted by score descending then docid ascending,
    unjudged rows removed, first ``depth`` rows, DCG over relevant rows only, IDCG from
    the qrels. A query with no relevant row in that top ``depth`` gets NaN.
    """
    judged_qids = set(qrels["qid"].unique().tolist())
    run = run.loc[run["qid"].isin(judged_qids)]
    run = run.sort_values(["qid", "score", "docid"], ascending=[True, False, True], kind="mergesort")
    run = _judged_only(run, qrels)
    top = run.groupby("qid", sort=False).head(depth).copy()
    top["rank"] = top.groupby("qid", sort=False).cumcount() + 1
    relevant = qrels.loc[qrels["grade"] > 0, ["qid", "docid", "grade"]]
    sel = top.merge(relevant, on=["qid", "docid"], how="inner")
    sel["gain"] = sel["grade"] / np.log2(sel["rank"] + 1)
    dcg = sel.groupby("qid")["gain"].sum()

    ideal = relevant.sort_values(["qid", "grade"], ascending=[True, False], kind="mergesort")
    ideal = ideal.groupby("qid", sort=False).head(depth).copy()
    ideal["rank"] = ideal.groupby("qid", sort=False).cumcount() + 1
    ideal["gain"] = ideal["grade"] / np.log2(ideal["rank"] + 1)
    idcg = ideal.groupby("qid")["gain"].sum()

    ndcg = dcg / idcg  # aligned on the union: a query without DCG is NaN, as in trectools
    return {str(q): float(v) for q, v in ndcg.items()}


# --- the analysis --------------------------------------------------------------------------

def h2r_analysis(
    run: pd.DataFrame,
    qrels: pd.DataFrame,
    *,
    quantile: float = 0.25,
    measure: MeasureSpec | str = DEFAULT_MEASURE,
    compat: str | None = None,
    relevance_level: int = 1,
) -> HardnessOutcome:
    """Per-query values, threshold and hard queries of a run.

    With ``compat="trectools"`` (judged-only nDCG only) the values are the reference
    script's, and ``details['_compat']['disagreements']`` lists the queries whose value
    or hard label differs from the default computation.
    """
    spec = parse_measure(measure) if isinstance(measure, str) else measure
    values, status, details = per_query_measure(run, qrels, measure=spec, relevance_level=relevance_level)
    default = label_hard(values, quantile=quantile, direction=BELOW, status=status)
    default.details = details
    if not compat:
        return default
    if compat != COMPAT_TRECTOOLS:
        raise ValueError(f"unknown compatibility mode {compat!r}")
    if spec.base != "ndcg_cut" or not spec.judged_only:
        raise ValueError("--compat trectools reproduces judged-only nDCG (ndcg_cut_K_judged) only")
    tt = trectools_ndcg(run, qrels, depth=spec.cutoff or 10)
    compat_values: dict[str, float | None] = {}
    compat_status: dict[str, str] = {}
    compat_details = {q: dict(d) for q, d in details.items()}
    for qid in values:
        if qid in tt and not math.isnan(tt[qid]):
            compat_values[qid], compat_status[qid] = tt[qid], "ok"
        elif qid in tt:
            # NaN: pandas' quantile skips it, so the query is neither counted nor hard
            compat_values[qid], compat_status[qid] = float("nan"), "excluded"
            compat_details[qid]["reason"] = "trectools: NaN (no relevant passage in the judged top k)"
        else:
            compat_values[qid], compat_status[qid] = None, status[qid]
    outcome = label_hard(compat_values, quantile=quantile, direction=BELOW, status=compat_status)
    outcome.details = compat_details
    disagreements = compare_outcomes(default, outcome)
    outcome.details["_compat"] = {"mode": compat, "default_threshold": default.threshold,
                                  "default_hard": default.hard, "disagreements": disagreements}
    nan_q = [q for q, v in compat_values.items() if v is not None and math.isnan(v)]
    if nan_q:
        outcome.notes.append(
            "trectools gives NaN for " + ", ".join(nan_q) + " (no relevant passage in the judged top "
            f"{spec.cutoff}); pandas' quantile drops them, so they are not counted hard"
        )
    return outcome


def compare_outcomes(default: HardnessOutcome, other: HardnessOutcome) -> list[dict]:
    """Queries whose value or hard label differs between two outcomes."""
    out = []
    d_hard, o_hard = set(default.hard), set(other.hard)
    for qid in sorted(set(default.values) | set(other.values)):
        a, b = default.values.get(qid), other.values.get(qid)
        a_nan = a is None or math.isnan(a)
        b_nan = b is None or math.isnan(b)
        differs = (a_nan != b_nan) or (not a_nan and not b_nan and abs(a - b) > 1e-9)
        if differs or ((qid in d_hard) != (qid in o_hard)):
            out.append({
                "qid": qid,
                "default": None if a_nan else a,
                "compat": None if b_nan else b,
                "hard_default": qid in d_hard,
                "hard_compat": qid in o_hard,
            })
    return out


def h2r_from_files(run_file: str | Path, qrels_file: str | Path, **kwargs) -> HardnessOutcome:
    """The ``hardness h2r --run-file F --qrels-file Q`` path: parse both, then analyse."""
    return h2r_analysis(read_run_file(run_file), read_qrels_file(qrels_file), **kwargs)

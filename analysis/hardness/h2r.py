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

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from typing import Any

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


def check_compat(spec: MeasureSpec, compat: str | None) -> None:
    """Refuse a compatibility mode that does not exist or does not apply to the measure."""
    if not compat:
        return
    if compat != COMPAT_TRECTOOLS:
        raise ValueError(f"unknown compatibility mode {compat!r}")
    if spec.base != "ndcg_cut" or not spec.judged_only:
        raise ValueError("--compat trectools reproduces judged-only nDCG (ndcg_cut_K_judged) only")


# --- files -------------------------------------------------------------------------------

def read_run_file(path: str | Path | io.BytesIO) -> pd.DataFrame:
    """A TREC run file (``qid Q0 docid rank score tag``) as columns qid, docid (str), score.

    pandas' C parser does the work; its float parsing gives the same doubles as Python's
    ``float()`` on these files (checked in the tests), so ties are the ties trec_eval sees.
    """
    return pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        usecols=[0, 2, 4],
        names=["qid", "docid", "score"],
        dtype={"qid": str, "docid": str, "score": np.float64},
        engine="c",
    )


def read_qrels_file(path: str | Path | io.BytesIO) -> pd.DataFrame:
    """A qrels file (``qid iter docid grade``) as columns qid, docid (str), grade (int)."""
    return pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        usecols=[0, 2, 3],
        names=["qid", "docid", "grade"],
        dtype={"qid": str, "docid": str, "grade": np.int64},
        engine="c",
    )


def _scan_bytes(buf: bytes) -> tuple[bool, bool]:
    """(ids safe as integers, separated by single spaces) for a whitespace-separated file.

    Safe: no token starts with '+' or with '0' followed by a digit, so reading the ids
    as integers and printing them back loses nothing (no "007" read as 7; a non-integer
    id makes the integer parse fail instead). Single-spaced: no tab, no doubled space,
    no space at a line's start or end, so ``sep=" "`` (twice as fast as ``\\s+``) sees
    the same columns. One vectorised pass in cache-sized pieces: a regular expression
    over 30 MB would cost as much as the parse itself.
    """
    if b"+" in buf:
        return False, False
    single = b"\t" not in buf
    a = np.frombuffer(buf, dtype=np.uint8)
    if a.size < 2:
        return True, single
    if (a[0] == 48 and 48 <= a[1] <= 57) or a[0] == 32:
        return False, False
    chunk = 1 << 20  # the temporaries stay in L2
    for start in range(0, a.size - 1, chunk):
        part = a[start : start + chunk + 2]
        head, tail = part[:-1], part[1:]
        space = head == 32
        newline = head == 10
        if single and ((space & ((tail == 32) | (tail == 10) | (tail == 13))) | (newline & (tail == 32))).any():
            single = False
        sep = space | newline
        sep |= head == 9
        sep &= tail == 48  # a token starting with '0' at i + 1
        after = np.flatnonzero(sep) + 2  # the byte after that '0'
        after = after[after < part.size]
        nxt = part[after]
        if ((nxt >= 48) & (nxt <= 57)).any():
            return False, single
    return True, single


def _read_int_columns(buf: bytes, usecols: list[int], names: list[str], dtypes: dict, single_spaced: bool) -> pd.DataFrame | None:
    """Columns of a whitespace-separated file with integer ids, or None if they are not.

    A float column with NaN (a missing field) falls back too.
    """
    try:
        df = pd.read_csv(
            io.BytesIO(buf), sep=" " if single_spaced else r"\s+", header=None, usecols=usecols, names=names,
            dtype=dtypes, engine="c",
        )
    except (ValueError, OverflowError):
        return None
    if any(df[c].isna().any() for c, t in dtypes.items() if t is np.float64):
        return None
    return df


def _as_strings(codes: np.ndarray, uniques: np.ndarray) -> np.ndarray:
    """Integer ids back to the strings the file held (one str() per distinct id)."""
    return np.array(list(map(str, uniques.tolist())), dtype=object)[codes]


def read_judged_run(run_path: str | Path, qrels_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """The judged rows of a run file (trec_eval -J), the qrels, and the run's judged queries.

    The fast path of ``hardness h2r --run-file``: when neither file holds an id that an
    integer conversion could change, qid and docid are parsed as int64 (no Python string
    per row), filtered against the qrels by integer keys, and only the kept rows get
    their ids back as strings. Anything else takes the string path, same result.
    """
    run_buf, qrels_buf = Path(run_path).read_bytes(), Path(qrels_path).read_bytes()
    run_safe, run_single = _scan_bytes(run_buf)
    if run_safe and _scan_bytes(qrels_buf)[0]:
        q_int = _read_int_columns(qrels_buf, [0, 2, 3], ["qid", "docid", "grade"],
                                  {"qid": np.int64, "docid": np.int64, "grade": np.int64}, single_spaced=False)
        run = None
        if q_int is not None:
            run = _read_int_columns(run_buf, [0, 2, 4], ["qid", "docid", "score"],
                                    {"qid": np.int64, "docid": np.int64, "score": np.float64}, single_spaced=run_single)
        if q_int is not None and run is not None:
            q_codes, q_uniques = pd.factorize(q_int["qid"])
            d_codes, d_uniques = pd.factorize(q_int["docid"])
            q_str = np.array(list(map(str, q_uniques.tolist())), dtype=object)
            d_str = np.array(list(map(str, d_uniques.tolist())), dtype=object)
            # object columns as they are: letting pandas infer its string dtype costs a pass
            qrels = pd.DataFrame({"qid": pd.Series(q_str[q_codes], dtype=object),
                                  "docid": pd.Series(d_str[d_codes], dtype=object), "grade": q_int["grade"].to_numpy()})
            keep, present, rq, rd = _judged_mask_int(run, q_int, q_codes, q_uniques, d_codes, d_uniques)
            judged = pd.DataFrame({"qid": pd.Series(q_str[rq], dtype=object), "docid": pd.Series(d_str[rd], dtype=object),
                                   "score": run["score"].to_numpy()[keep]})
            return judged, qrels, set(q_str[present].tolist())
    qrels = read_qrels_file(io.BytesIO(qrels_buf))
    run = read_run_file(io.BytesIO(run_buf))
    keep, present, _, _ = _judged_mask(run, qrels)
    return run.loc[keep].reset_index(drop=True), qrels, set(pd.Index(qrels["qid"].unique())[present].tolist())


_DENSE_LIMIT = 64_000_000  # at most 64 MB of lookup table for a docid range


def _judged_mask_int(run: pd.DataFrame, q_int: pd.DataFrame, q_codes, q_uniques, d_codes, d_uniques):
    """The judged rows of a run with integer ids.

    When the docids span a moderate range (MS MARCO v1: 8.8M), a byte table indexed by
    docid first drops every row whose docid nobody judged (one gather over the run);
    only the remaining rows are matched by (qid, docid). Returns (row mask, mask over
    ``q_uniques`` present in the run, the kept rows' qid codes into ``q_uniques``,
    their docid codes into ``d_uniques``).
    """
    rqid = run["qid"].to_numpy()
    rdoc = run["docid"].to_numpy()
    q_index = pd.Index(q_uniques)
    d_index = pd.Index(d_uniques)
    present = np.zeros(len(q_index), dtype=bool)
    run_q = q_index.get_indexer(pd.unique(rqid))
    present[run_q[run_q >= 0]] = True

    qdocs = q_int["docid"].to_numpy()
    lo, hi = int(qdocs.min()), int(qdocs.max())
    if hi - lo < _DENSE_LIMIT:
        table = np.zeros(hi - lo + 1, dtype=bool)
        table[qdocs - lo] = True
        inside = (rdoc >= lo) & (rdoc <= hi)
        cand = np.flatnonzero(inside)
        cand = cand[table[rdoc[cand] - lo]]
    else:
        cand = np.flatnonzero(d_index.get_indexer(rdoc) >= 0)
    # exact (qid, docid) match among the candidates, by codes
    cq = q_index.get_indexer(rqid[cand])
    cd = d_index.get_indexer(rdoc[cand])
    n_docs = np.int64(len(d_index))
    pairs = np.unique(q_codes.astype(np.int64) * n_docs + d_codes)
    keys = cq.astype(np.int64) * n_docs + cd
    pos = np.minimum(np.searchsorted(pairs, keys), len(pairs) - 1)
    ok = (cq >= 0) & (cd >= 0) & (pairs[pos] == keys)
    keep = np.zeros(len(run), dtype=bool)
    keep[cand[ok]] = True
    return keep, present, cq[ok], cd[ok]


# --- the default engine: pytrec_eval on the rows that matter --------------------------------

def _judged_mask(run: pd.DataFrame, qrels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which run rows are judged, which judged queries the run holds, and the id codes.

    Hash lookups of qid and docid into the qrels' distinct values (in order of first
    appearance) give integer codes; a (qid, docid) pair is judged when its combined code
    is one of the qrels' codes. Returns (row mask, mask over the qrels' distinct qids
    present in the run, qid codes, docid codes).
    """
    q_index = pd.Index(qrels["qid"].unique())
    d_index = pd.Index(qrels["docid"].unique())
    rq = q_index.get_indexer(run["qid"].to_numpy())
    rd = d_index.get_indexer(run["docid"].to_numpy())
    present = np.zeros(len(q_index), dtype=bool)
    present[rq[rq >= 0]] = True
    both = np.flatnonzero((rq >= 0) & (rd >= 0))
    n_docs = np.int64(len(d_index))
    run_keys = rq[both].astype(np.int64) * n_docs + rd[both]
    qrel_keys = q_index.get_indexer(qrels["qid"].to_numpy()).astype(np.int64) * n_docs + d_index.get_indexer(
        qrels["docid"].to_numpy()
    )
    judged = pd.Index(np.unique(qrel_keys)).get_indexer(run_keys) >= 0
    mask = np.zeros(len(run), dtype=bool)
    mask[both[judged]] = True
    return mask, present, rq, rd


def _judged_only(run: pd.DataFrame, qrels: pd.DataFrame) -> pd.DataFrame:
    """Keep the run rows whose (qid, docid) is judged (trec_eval -J)."""
    return run.loc[_judged_mask(run, qrels)[0]]


def _top_k_with_ties(run: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per query, the rows scoring at least the k-th highest score (ties at the cut kept).

    Whatever order trec_eval gives tied documents, its top k lies within these rows, so
    a cut-off measure computed by pytrec_eval on them equals the one on the whole run.
    Numeric only (no string sort): pytrec_eval still breaks the ties itself.
    """
    if len(run) == 0:
        return run
    codes = pd.factorize(run["qid"])[0]
    score = run["score"].to_numpy()
    order = np.lexsort((-score, codes))
    sc, cd = score[order], codes[order]
    starts = np.flatnonzero(np.r_[True, cd[1:] != cd[:-1]])
    sizes = np.diff(np.r_[starts, len(cd)])
    kth = np.where(sizes >= k, sc[np.minimum(starts + k - 1, len(sc) - 1)], -np.inf)
    keep_sorted = sc >= np.repeat(kth, sizes)
    keep = np.zeros(len(run), dtype=bool)
    keep[order[keep_sorted]] = True
    return run.loc[keep]


def _nested(df: pd.DataFrame, value: str) -> dict[str, dict[str, Any]]:
    """{qid: {docid: value}}: one stable sort by qid, then a dict per contiguous block."""
    qids = df["qid"].to_numpy(dtype=object)
    order = np.argsort(qids, kind="stable")
    qids = qids[order]
    docids = df["docid"].to_numpy(dtype=object)[order].tolist()
    values = df[value].to_numpy()[order].tolist()
    if len(qids) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, qids[1:] != qids[:-1]]).tolist() + [len(qids)]
    return {qids[a]: dict(zip(docids[a:b], values[a:b])) for a, b in zip(starts[:-1], starts[1:])}


def per_query_measure(
    run: pd.DataFrame,
    qrels: pd.DataFrame,
    *,
    measure: MeasureSpec | str = DEFAULT_MEASURE,
    relevance_level: int = 1,
    run_qids: set[str] | None = None,
) -> tuple[dict[str, float | None], dict[str, str], dict[str, dict]]:
    """Per-query values of ``measure`` computed by pytrec_eval.

    Returns (values, status, details). Only queries that are both judged and in the
    run are measured; a judged query without a relevant document (grade below
    ``relevance_level``) gets status ``no_relevant`` and value None; a judged query the
    run does not contain at all is ``excluded`` (trec_eval without ``-c``).
    """
    spec = parse_measure(measure) if isinstance(measure, str) else measure
    judged_qids = set(qrels["qid"].unique().tolist())
    if run_qids is None:
        run = run.loc[run["qid"].isin(judged_qids)]
        run_qids = set(run["qid"].unique().tolist())
        if spec.judged_only:
            run = _judged_only(run, qrels)
    # else: ``run`` is already the judged rows of the judged queries (read_judged_run)
    if spec.cutoff is not None:
        run = _top_k_with_ties(run, spec.cutoff)
    relevant_qids = set(qrels.loc[qrels["grade"] >= relevance_level, "qid"].unique().tolist())

    # every supported measure scores a document by its grade only when the grade is > 0
    # (trec_eval: zero and unjudged both gain nothing), so the zero rows can stay out
    qrels_in_run = qrels.loc[(qrels["grade"] > 0) & qrels["qid"].isin(run_qids)]
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
    run_qids: set[str] | None = None,
) -> HardnessOutcome:
    """Per-query values, threshold and hard queries of a run.

    With ``compat="trectools"`` (judged-only nDCG only) the values are the reference
    script's, and ``details['_compat']['disagreements']`` lists the queries whose value
    or hard label differs from the default computation.
    """
    spec = parse_measure(measure) if isinstance(measure, str) else measure
    if run_qids is not None and compat:
        raise ValueError("the compatibility mode needs the whole run")
    values, status, details = per_query_measure(
        run, qrels, measure=spec, relevance_level=relevance_level, run_qids=run_qids
    )
    default = label_hard(values, quantile=quantile, direction=BELOW, status=status)
    default.details = details
    if not compat:
        return default
    check_compat(spec, compat)
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
        differs = (a_nan != b_nan) or (a is not None and b is not None and not a_nan and not b_nan and abs(a - b) > 1e-9)
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
    """The ``hardness h2r --run-file F [--qrels-file Q]`` path: parse, then analyse.

    For judged-only measures outside the compatibility mode only the judged rows are
    kept while reading (``read_judged_run``); the values are the same by construction.
    """
    measure = kwargs.pop("measure", DEFAULT_MEASURE)
    cutoff = kwargs.pop("cutoff", None)
    spec = measure if isinstance(measure, MeasureSpec) else parse_measure(measure, cutoff)
    if spec.judged_only and not kwargs.get("compat"):
        run, qrels, run_qids = read_judged_run(run_file, qrels_file)
        return h2r_analysis(run, qrels, measure=spec, run_qids=run_qids, **kwargs)
    return h2r_analysis(read_run_file(run_file), read_qrels_file(qrels_file), measure=spec, **kwargs)


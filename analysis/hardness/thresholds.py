"""Quantile thresholds and hard labels shared by the three analyzers."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

BELOW = "below"
ABOVE = "above"


@dataclass
class HardnessOutcome:
    """What an analyzer found: per-query values, threshold and the hard set.

    ``values`` holds every query of the analysis, ``None`` (or NaN) where the query has
    no value; ``status`` says why (``ok``, ``no_relevant``, ``excluded``) and only
    ``ok`` queries with a finite value enter the quantile.
    """

    values: dict[str, float | None]
    status: dict[str, str]
    threshold: float | None
    hard: list[str]
    direction: str
    quantile: float
    details: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def hard_mean(self) -> float | None:
        """Mean value of the hard queries (NaN values are skipped, as pandas does)."""
        vals = [float(v) for q in self.hard if (v := self.values[q]) is not None and _finite(v)]
        return float(sum(vals) / len(vals)) if vals else None

    @property
    def n_queries(self) -> int:
        """Queries that entered the distribution."""
        return sum(1 for q, v in self.values.items() if self.status.get(q) == "ok" and _finite(v))

    def as_dict(self) -> dict:
        """The JSON shape of the command's ``--json`` output."""
        return {
            "threshold": self.threshold,
            "quantile": self.quantile,
            "direction": self.direction,
            "hard": list(self.hard),
            "hard_count": len(self.hard),
            "hard_mean": self.hard_mean,
            "n_queries": self.n_queries,
            "per_query": {q: (v if _finite(v) else None) for q, v in self.values.items()},
            "status": dict(self.status),
            "notes": list(self.notes),
        }


def _finite(v: float | None) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def quantile_threshold(values: pd.Series, q: float) -> float | None:
    """The q-quantile with linear interpolation, exactly as ``pandas.Series.quantile``.

    NaN values are ignored, as pandas ignores them; that is the behaviour the paper's
    figures depend on (see the trectools compatibility mode of H2R).
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], got {q}")
    s = pd.Series(values, dtype="float64")
    t = s.quantile(q)
    return None if pd.isna(t) else float(t)


def label_hard(
    values: Mapping[str, float | None],
    *,
    quantile: float,
    direction: str = BELOW,
    status: dict[str, str] | None = None,
) -> HardnessOutcome:
    """Threshold ``values`` at a quantile and label the hard queries.

    ``direction=BELOW``: hard is strictly below the q-quantile (H2R, H2G).
    ``direction=ABOVE``: hard is strictly above the (1 - q)-quantile (H2J).
    Queries whose status is not ``ok`` stay out of the distribution and are never hard.
    """
    status = dict(status or {})
    for qid in values:
        status.setdefault(qid, "ok")
    counted = pd.Series(
        {qid: (v if v is not None else float("nan")) for qid, v in values.items() if status[qid] == "ok"},
        dtype="float64",
    )
    if direction == BELOW:
        threshold = quantile_threshold(counted, quantile)
        hard_mask = counted < threshold if threshold is not None else counted != counted
    elif direction == ABOVE:
        threshold = quantile_threshold(counted, 1.0 - quantile)
        hard_mask = counted > threshold if threshold is not None else counted != counted
    else:
        raise ValueError(f"unknown direction {direction!r}")
    # hardest first: lowest values below the threshold, highest above it
    sign = -1.0 if direction == ABOVE else 1.0
    hard = sorted(counted.index[hard_mask.to_numpy()], key=lambda q: (sign * float(counted[q]), q))
    return HardnessOutcome(
        values=dict(values), status=status, threshold=threshold, hard=list(hard), direction=direction, quantile=quantile
    )

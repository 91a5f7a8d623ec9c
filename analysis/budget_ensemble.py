"""An ensemble assessor from several judges: per pair the vote shares and one grade.

Pure numpy. The vote shares are the ensemble's grade probabilities (what the budget
methods ``uncertainty`` and ``lara`` read); the grade follows the rule:

* ``majority``: the grade most judges gave, ties to the lower grade (as self-consistency
  does: a tie between "relevant" and "not relevant" is not evidence of relevance);
* ``mean``: the mean of the judges' grades rounded to the nearest grade, halves down
  for the same reason.

A judge that gave no valid grade for a pair does not vote on it; a pair no judge graded
is left out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RULES: tuple[str, ...] = ("majority", "mean")
NO_VOTE = -1


@dataclass(frozen=True)
class EnsembleLabels:
    """Rows of the pairs at least one judge graded: their vote shares and grade."""

    rows: np.ndarray
    probabilities: np.ndarray
    grades: np.ndarray
    votes: np.ndarray


def vote_shares(grades: np.ndarray, *, n_grades: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``grades`` (pairs x judges, ``NO_VOTE`` where a judge did not grade),
    the count of each grade and the number of votes."""
    g = np.asarray(grades, dtype=np.int64)
    if g.ndim != 2:
        raise ValueError("grades must be a (pairs x judges) matrix")
    valid = g != NO_VOTE
    if np.any(valid & ((g < 0) | (g >= n_grades))):
        raise ValueError(f"grades outside 0..{n_grades - 1}")
    counts = np.zeros((g.shape[0], n_grades), dtype=np.int64)
    rows, _ = np.nonzero(valid)
    np.add.at(counts, (rows, g[valid]), 1)
    return counts, valid.sum(axis=1)


def ensemble_labels(grades: np.ndarray, *, n_grades: int, rule: str = "majority") -> EnsembleLabels:
    """The ensemble's vote shares and grade of every pair some judge graded."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r} (one of {', '.join(RULES)})")
    counts, votes = vote_shares(grades, n_grades=n_grades)
    rows = np.flatnonzero(votes > 0)
    counts, votes = counts[rows], votes[rows]
    shares = counts / votes[:, None]
    if rule == "majority":
        grade = shares.argmax(axis=1)  # argmax takes the first maximum: the lower grade on a tie
    else:
        mean = (shares * np.arange(n_grades)).sum(axis=1)
        grade = np.ceil(np.round(mean - 0.5, 12)).astype(np.int64)  # halves go down
    return EnsembleLabels(rows=rows, probabilities=shares, grades=grade.astype(np.int64), votes=votes)


def one_hot(grades: np.ndarray, *, n_grades: int) -> np.ndarray:
    """Certain probabilities for a judge that gave only its grade."""
    g = np.asarray(grades, dtype=np.int64)
    out = np.zeros((g.size, n_grades))
    out[np.arange(g.size), g] = 1.0
    return out

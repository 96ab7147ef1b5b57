"""AUC-ROC and average precision in numpy, defined exactly as scikit-learn defines them.

The operator judges shadow models with these figures, and its install carries no scikit-learn (and no
SciPy behind it); one implementation here serves training, evaluation and the operator alike.
``tests/models/test_ranking.py`` holds it to scikit-learn's values, ties included.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["average_precision", "roc_auc"]


def _both_classes(
    label: npt.ArrayLike, score: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    y = np.asarray(label).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be two vectors of one length")
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        raise ValueError(f"{positives} positive(s) in {len(y)} rows: the figure needs both classes")
    return y, s


def roc_auc(label: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance that a random positive outranks a random negative, ties halved."""
    y, s = _both_classes(label, score)
    order = np.argsort(s, kind="mergesort")
    sorted_scores = s[order]
    # average ranks over ties (1-based), as the Mann-Whitney statistic needs them
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(s), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    n_pos = float(y.sum())
    n_neg = float(len(y)) - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(label: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Sum over distinct thresholds (descending) of the recall gained times the precision there."""
    y, s = _both_classes(label, score)
    order = np.argsort(-s, kind="mergesort")
    sorted_scores, hits = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), len(s) - 1]
    tp = np.cumsum(hits)[last_of_tie].astype(np.float64)
    precision = tp / (last_of_tie + 1.0)
    recall_gain = np.diff(np.r_[0.0, tp]) / tp[-1]
    return float(np.sum(recall_gain * precision))

"""Alert thresholds by budget: the score at which the detector raises about N alerts a day.

Investigators have a budget (alerts a day), not a score in mind, and a raw score threshold means something
else for every model. So training measures, on rows the model did not fit (the combiner's held-out tail),
the score the detector emits and, for each budget of a fixed ladder, the lowest threshold that stays within
it there; the table ships in the FraudModel (``spec.alerting``), and a pipeline that sets
``spec.detector.alertBudget`` gets the threshold of the largest budget in the table that is not above its
own. The table also says how many alerts a day each threshold gave on the evaluation window, so a reader
can see how well the budget held on later data.

A budget is measured on the training data's traffic: a pipeline with twice those events a day gets about
twice the alerts at the same threshold (``eventsPerDay`` is in the table for that reason).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from fraud_models.combiner import Combiner

__all__ = ["BUDGETS", "alerting_table", "budget_threshold", "emitted_scores"]

BUDGETS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
"""Alerts a day the table gives a threshold for (the ladder a pipeline's budget is rounded down to)."""


def budget_threshold(scores: npt.ArrayLike, days: float, per_day: float) -> float | None:
    """The lowest threshold at which ``score >= threshold`` alerts at most ``per_day * days`` of ``scores``
    (the first six-decimal number above the first score over the allowance, so ties never push it over and
    it reads well in ``kubectl get fm``; at most 1, where scores of exactly 1 all alert), or None when the
    allowance covers every row (any threshold keeps within it: the budget says nothing here)."""
    allowed = math.floor(per_day * days)
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if allowed >= len(s):
        return None
    first_over = float(s[allowed])
    threshold = math.ceil(first_over * 1e6) / 1e6
    if not threshold > first_over:  # on the grid already (or rounded onto it): the next step up
        threshold = (round(first_over * 1e6) + 1) / 1e6
    return min(1.0, threshold)


def emitted_scores(
    combiner: Combiner,
    ml_scores: npt.ArrayLike,
    hits: npt.NDArray[np.bool_],
    codes: Sequence[str],
    weights: Sequence[float],
) -> npt.NDArray[np.float64]:
    """The score the detector emits for each row: ``combiner`` over the model's score and the rules that
    fired (column ``j`` of ``hits`` is rule ``codes[j]``, with configured weight ``weights[j]``), in code
    order as the detector lists its hits."""
    p = np.asarray(ml_scores, dtype=np.float64)
    out = np.empty(len(p), dtype=np.float64)
    for i, row in enumerate(hits):
        fired = [(codes[j], weights[j]) for j in np.flatnonzero(row)]
        out[i] = combiner.score(float(p[i]), fired)
    return out


def alerting_table(
    validation: npt.ArrayLike,
    validation_days: float,
    evaluation: npt.ArrayLike | None = None,
    evaluation_days: float | None = None,
) -> dict[str, Any]:
    """``spec.alerting`` of a FraudModel: the validation traffic and, per budget of :data:`BUDGETS` the
    validation rows can tell, the threshold and the alerts a day it gave there and on the evaluation rows."""
    v = np.asarray(validation, dtype=np.float64)
    e = None if evaluation is None else np.asarray(evaluation, dtype=np.float64)
    budgets = []
    for per_day in BUDGETS:
        threshold = budget_threshold(v, validation_days, per_day)
        if threshold is None:
            break
        entry: dict[str, Any] = {
            "alertsPerDay": per_day,
            "threshold": threshold,
            "validationAlertsPerDay": round(float((v >= threshold).sum()) / validation_days, 3),
        }
        if e is not None and evaluation_days:
            entry["evaluationAlertsPerDay"] = round(float((e >= threshold).sum()) / evaluation_days, 3)
        budgets.append(entry)
    return {"eventsPerDay": round(len(v) / validation_days, 1), "budgets": budgets}

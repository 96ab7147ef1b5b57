"""Fraud-detection metrics, with the handbook's definitions so our figures compare to its baselines.

Card precision@k per day (handbook chapter 4): per day, each card's score is its highest transaction
score; among the k highest cards, the share that had a fraud that day; cards found compromised on an
earlier day leave the ranking; the mean over days. Alert-rate metrics answer the operator's question:
if we review the top 0.5% / 1% of transactions, what share are frauds and what share of frauds is that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from fraud_models.ranking import average_precision, roc_auc

if TYPE_CHECKING:
    from fraud_models.data import Transactions

__all__ = [
    "ALERT_RATES",
    "card_precision_at_k",
    "card_precision_ceiling",
    "card_precision_scenario_references",
    "delay_visible_frauds",
    "evaluate_scores",
    "known_compromised_mask",
]

ALERT_RATES = (0.005, 0.01)
_DAY_S = 86_400.0


def card_precision_at_k(
    event_time: npt.NDArray[np.float64],
    customer_id: npt.NDArray[Any],
    label: npt.NDArray[np.int8],
    score: npt.NDArray[np.float64],
    k: int = 100,
) -> float:
    """Mean daily card precision@k, removing cards already detected on earlier days."""
    days = (event_time // _DAY_S).astype(np.int64)
    detected: set[Any] = set()
    per_day: list[float] = []
    for day in np.unique(days):
        sel = days == day
        best: dict[Any, float] = {}
        fraud: dict[Any, int] = {}
        for cust, s, y in zip(
            customer_id[sel].tolist(), score[sel].tolist(), label[sel].tolist(), strict=True
        ):
            if cust in detected:
                continue
            if cust not in best or s > best[cust]:
                best[cust] = s
            if y:
                fraud[cust] = 1
        # The handbook sorts by score descending with pandas' default (quicksort, unstable) after a groupby
        # on the customer id; ties are rare with continuous scores. We break ties by customer id.
        top = sorted(best, key=lambda c: (-best[c], c))[:k]
        hits = [c for c in top if fraud.get(c)]
        per_day.append(len(hits) / k)
        detected.update(hits)
    return float(np.mean(per_day)) if per_day else math.nan


def card_precision_ceiling(
    event_time: npt.NDArray[np.float64],
    customer_id: npt.NDArray[Any],
    label: npt.NDArray[np.int8],
    k: int = 100,
) -> float:
    """The card precision@k a perfect ranking reaches on these rows: the metric's own upper bound.

    With fewer than k not-yet-detected compromised cards on a day, even a perfect model scores below 1
    (the handbook's test weeks have about 25-55 a day), so figures are best read against this bound.
    """
    return card_precision_at_k(event_time, customer_id, label, label.astype(np.float64), k)


def delay_visible_frauds(tx: Transactions, label_delay_s: float) -> npt.NDArray[np.bool_]:
    """Frauds a model that respects the label delay could see, by the simulator's own scenario.

    Large amounts (scenario 1) and a compromised card's inflated amounts (3) show in the transaction
    and the card's history. A compromised terminal (2) shows only through delivered fraud labels: until
    the label of the first fraud of its current compromise (a run of consecutive frauds at the terminal)
    has arrived, its frauds look like any other transaction here, so no delay-respecting feature can
    single them out.
    """
    if tx.label is None or tx.scenario is None:
        from fraud_models.data import DataError

        raise DataError(f"{tx.source}: needs the labels and the simulator's TX_FRAUD_SCENARIO")
    scenario = tx.scenario
    n = len(tx)
    _, terminal = np.unique(tx.terminal_id, return_inverse=True)
    order = np.lexsort((tx.event_time, terminal))
    at_terminal = scenario[order] == 2
    new_terminal = np.r_[True, terminal[order][1:] != terminal[order][:-1]]
    run_starts = at_terminal & (new_terminal | ~np.r_[False, at_terminal[:-1]])
    start_row = np.maximum.accumulate(np.where(run_starts, np.arange(n), 0))
    times = tx.event_time[order]
    seen = ~at_terminal | (times[start_row] <= times - label_delay_s)
    visible = np.empty(n, dtype=np.bool_)
    visible[order] = (tx.label[order] == 1) & seen
    return visible


def card_precision_scenario_references(
    tx: Transactions, row_sets: Sequence[npt.NDArray[np.bool_]], label_delay_s: float, k: int = 100
) -> list[float] | None:
    """Per set of rows, the card precision@k of every delay-visible fraud ranked first; None without the
    simulator's scenarios (a project's own records have none). The visible frauds are found once.

    A reference computed from the simulator's scenario labels, not a bound: a delay-respecting model can
    exceed it (it did on 4 of 10 folds of `model select`), e.g. when invisible frauds reach the top k by
    chance or a scenario leaves traces :func:`delay_visible_frauds` does not count."""
    if tx.scenario is None or tx.label is None:
        return None
    visible = delay_visible_frauds(tx, label_delay_s).astype(np.float64)
    label = tx.label
    return [
        card_precision_at_k(tx.event_time[rows], tx.customer_id[rows], label[rows], visible[rows], k)
        for rows in row_sets
    ]


def known_compromised_mask(
    event_time: npt.NDArray[np.float64],
    customer_id: npt.NDArray[Any],
    label: npt.NDArray[np.int8],
    eval_mask: npt.NDArray[np.bool_],
    known_from: float,
    label_delay_s: float,
) -> npt.NDArray[np.bool_]:
    """Rows of ``eval_mask`` whose card already had a fraud whose label is known by that day.

    The handbook drops them from its test sets (a card known to be compromised is blocked, not scored):
    a test transaction on day D is dropped when its customer had a fraud between ``known_from`` and the
    end of day ``D - ceil(delay) - 1``.
    """
    days = (event_time // _DAY_S).astype(np.int64)
    delay_days = math.ceil(label_delay_s / _DAY_S)
    first_day = int(known_from // _DAY_S)
    fraud_days: dict[Any, list[int]] = {}
    for i in np.flatnonzero((label == 1) & (days >= first_day)):
        fraud_days.setdefault(customer_id[i], []).append(int(days[i]))
    first_fraud = {c: min(d) for c, d in fraud_days.items()}
    out = np.zeros(len(event_time), dtype=bool)
    for i in np.flatnonzero(eval_mask):
        seen = first_fraud.get(customer_id[i])
        if seen is not None and seen <= days[i] - delay_days - 1:
            out[i] = True
    return out


def evaluate_scores(
    event_time: npt.NDArray[np.float64],
    customer_id: npt.NDArray[Any],
    label: npt.NDArray[np.int8],
    score: npt.NDArray[np.float64],
) -> dict[str, float]:
    """AUC-ROC, average precision, card precision@100/day and precision/recall at the alert rates."""
    if len(label) == 0:
        raise ValueError("no rows to evaluate")
    positives = int(label.sum())
    if positives == 0 or positives == len(label):
        raise ValueError(f"evaluation set has {positives} fraud(s) in {len(label)} rows: AUC is undefined")
    out: dict[str, float] = {
        "auc_roc": float(roc_auc(label, score)),
        "average_precision": float(average_precision(label, score)),
        "card_precision_at_100": card_precision_at_k(event_time, customer_id, label, score, 100),
        "rows": float(len(label)),
        "frauds": float(positives),
    }
    order = np.argsort(-score, kind="stable")
    for rate in ALERT_RATES:
        n_alerts = max(1, math.ceil(rate * len(label)))
        hits = int(label[order[:n_alerts]].sum())
        key = f"{rate * 100:g}pct"
        out[f"precision_at_{key}"] = hits / n_alerts
        out[f"recall_at_{key}"] = hits / positives
    return out

"""The handbook's metric definitions, checked on cases small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest
from fraud_models.metrics import (
    card_precision_at_k,
    card_precision_ceiling,
    evaluate_scores,
    known_compromised_mask,
)

DAY = 86_400.0


def test_card_precision_ranks_cards_by_their_best_score_and_forgets_detected_cards() -> None:
    t = np.array([0, 10, 20, 30, DAY, DAY + 10, DAY + 20])
    customer = np.array([1, 1, 2, 3, 1, 2, 3])
    label = np.array([0, 1, 0, 0, 1, 1, 0], dtype=np.int8)
    score = np.array([0.9, 0.1, 0.8, 0.2, 0.99, 0.5, 0.4])
    # Day 0, k=2: cards 1 (max 0.9, has a fraud) and 2 (0.8, none) -> 1/2; card 1 is now detected.
    # Day 1: card 1 is excluded; cards 2 (0.5, fraud) and 3 (0.4, none) -> 1/2.
    assert card_precision_at_k(t, customer, label, score, k=2) == 0.5
    # k=1: day 0 -> card 1 (fraud) = 1; day 1 -> card 2 (0.5, fraud) = 1.
    assert card_precision_at_k(t, customer, label, score, k=1) == 1.0


def test_card_precision_ceiling_is_what_a_perfect_ranking_reaches() -> None:
    t = np.array([0, 10, 20, 30, DAY, DAY + 10, DAY + 20, DAY + 30])
    customer = np.array([1, 2, 3, 4, 1, 2, 3, 4])
    label = np.array([1, 1, 0, 0, 1, 0, 1, 0], dtype=np.int8)
    # k=3. Day 0: cards 1 and 2 have frauds -> 2/3, both detected. Day 1: card 1 is gone; only card 3
    # remains compromised -> 1/3. Mean 1/2, whatever the model.
    assert card_precision_ceiling(t, customer, label, k=3) == pytest.approx(0.5)
    assert card_precision_ceiling(t, customer, label, k=1) == 1.0
    noisy = np.array([0.1, 0.9, 0.8, 0.2, 0.3, 0.7, 0.6, 0.5])
    assert card_precision_at_k(t, customer, label, noisy, k=3) <= card_precision_ceiling(
        t, customer, label, k=3
    )


def test_known_compromised_cards_leave_the_test_days_after_the_delay() -> None:
    days = np.array([0, 3, 8, 9, 9])
    t = days * DAY + 100
    customer = np.array([7, 8, 7, 7, 8])
    label = np.array([1, 1, 0, 0, 0], dtype=np.int8)
    evaluate = days >= 8
    mask = known_compromised_mask(t, customer, label, evaluate, known_from=0.0, label_delay_s=7 * DAY)
    # Card 7's fraud on day 0 is known from day 8 on; card 8's on day 3 only from day 11.
    assert mask.tolist() == [False, False, True, True, False]


def test_alert_rate_metrics() -> None:
    n = 1000
    label = np.zeros(n, dtype=np.int8)
    label[:20] = 1
    score = np.linspace(1.0, 0.0, n)  # the 20 frauds have the top scores
    m = evaluate_scores(np.zeros(n), np.arange(n), label, score)
    assert m["auc_roc"] == 1.0 and m["average_precision"] == 1.0
    assert (m["precision_at_0.5pct"], m["recall_at_0.5pct"]) == (1.0, 0.25)  # 5 alerts
    assert (m["precision_at_1pct"], m["recall_at_1pct"]) == (1.0, 0.5)  # 10 alerts
    with pytest.raises(ValueError, match="AUC is undefined"):
        evaluate_scores(np.zeros(3), np.arange(3), np.zeros(3, dtype=np.int8), np.ones(3))

"""Thresholds by alert budget: within the budget on the rows they were measured on, ties included."""

from __future__ import annotations

import numpy as np
from fraud_models.alerting import BUDGETS, alerting_table, budget_threshold, emitted_scores
from fraud_models.combiner import Combiner


def test_a_threshold_keeps_within_its_budget_even_on_ties() -> None:
    scores = np.array([0.9, 0.8, 0.8, 0.5, 0.032803362447175445, 0.01])
    assert budget_threshold(scores, 1.0, 1) == 0.800001  # one alert: 0.9
    assert budget_threshold(scores, 1.0, 2) == 0.800001  # two allowed, but 0.8 twice would make three
    assert budget_threshold(scores, 1.0, 3) == 0.500001
    assert budget_threshold(scores, 1.0, 4) == 0.032804  # rounded up: still four alerts
    assert budget_threshold(scores, 1.0, 6) is None  # every row may alert: the budget says nothing
    assert budget_threshold(scores, 3.0, 1) == 0.500001  # three days: three alerts
    assert budget_threshold(np.array([1.0, 1.0, 0.2]), 1.0, 1) == 1.0  # never above 1


def test_the_table_is_within_budget_and_monotone_on_random_scores() -> None:
    rng = np.random.default_rng(5)
    days = 4.0
    validation = np.round(rng.beta(0.5, 8.0, 40_000), 3)  # many ties
    evaluation = rng.beta(0.5, 8.0, 70_000)
    table = alerting_table(validation, days, evaluation, 7.0)
    assert table["eventsPerDay"] == 10_000.0
    budgets = table["budgets"]
    assert [b["alertsPerDay"] for b in budgets] == list(BUDGETS[: len(budgets)]) and len(budgets) >= 10
    for b in budgets:
        alerts = float((validation >= b["threshold"]).sum()) / days
        assert alerts == b["validationAlertsPerDay"] <= b["alertsPerDay"]
        assert b["evaluationAlertsPerDay"] == round(float((evaluation >= b["threshold"]).sum()) / 7.0, 3)
    thresholds = [b["threshold"] for b in budgets]
    assert thresholds == sorted(thresholds, reverse=True)


def test_emitted_scores_are_the_combiners_row_by_row() -> None:
    combiner = Combiner(-2.0, 1.0, {"FR-001": 1.5})
    hits = np.array([[False, False], [True, False], [False, True], [True, True]])
    codes, weights = ["FR-001", "FR-005"], [0.6, 1.0]
    p = np.array([0.1, 0.1, 0.1, 0.3])
    got = emitted_scores(combiner, p, hits, codes, weights)
    assert got.tolist() == [
        combiner.score(0.1, []),
        combiner.score(0.1, [("FR-001", 0.6)]),
        1.0,  # the blocklist was not learned: its weight is a floor
        combiner.score(0.3, [("FR-001", 0.6), ("FR-005", 1.0)]),
    ]

"""The learned combiner: what it learns, how it scores, and what an artifact may carry."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from fraud_models.combiner import (
    MIN_RULE_SUPPORT,
    PROBABILITY_EPS,
    Combiner,
    CombinerError,
    fit_combiner,
    logit,
)
from fraud_models.portable_math import sigmoid_array
from fraud_models.scorer import CompiledModel, ModelLoadError

CODES = ["FR-001", "FR-002", "FR-005", "FR-006", "FR-007"]


def _sample(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model scores, hits and labels where FR-001 adds 1.5 log-odds, FR-002 nothing, FR-005 never fires."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-3.0, 1.5, n)
    hits = np.zeros((n, len(CODES)), dtype=bool)
    hits[:, 0] = rng.random(n) < 0.05
    hits[:, 1] = rng.random(n) < 0.05
    hits[:, 3] = z > -1.0  # FR-006: the model's own rule
    hits[:, 4] = rng.random(n) < 0.002  # rare
    truth = z + 1.5 * hits[:, 0]
    labels = rng.random(n) < sigmoid_array(truth)
    return sigmoid_array(z), hits, labels


def test_fit_recovers_the_log_odds_a_rule_adds() -> None:
    p, hits, y = _sample(60_000)
    combiner = fit_combiner(p, hits, CODES, y)
    assert combiner.model_weight == pytest.approx(1.0, abs=0.08)
    assert combiner.rule_weights["FR-001"] == pytest.approx(1.5, abs=0.2)
    assert combiner.rule_weights["FR-002"] < 0.2  # useless here: learned at (about) nothing
    assert "FR-005" not in combiner.rule_weights  # never fired: not learned
    assert "FR-006" not in combiner.rule_weights  # the model's own score is never an input twice


def test_a_rule_below_the_support_is_not_learned_and_negative_weights_are_zero() -> None:
    p, hits, y = _sample(20_000)
    hits[:, 4] = False
    hits[:4, 4] = True
    y = y.copy()
    hits[:, 1] = ~y & (np.arange(len(y)) % 7 == 0)  # FR-002 fires only on genuine transactions
    assert "FR-007" not in fit_combiner(p, hits, CODES, y, min_support=5).rule_weights
    combiner = fit_combiner(p, hits, CODES, y)
    assert MIN_RULE_SUPPORT == 1 and "FR-007" in combiner.rule_weights  # fired at all: learned
    assert combiner.rule_weights["FR-002"] == 0.0


def test_fit_refuses_rows_of_one_class_and_mismatched_hits() -> None:
    p, hits, y = _sample(1_000)
    with pytest.raises(ValueError, match="frauds and genuine"):
        fit_combiner(p, hits, CODES, np.zeros(len(p), dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        fit_combiner(p, hits[:, :2], CODES, y)


def test_score_learned_rules_add_log_odds_and_other_rules_floor_it() -> None:
    combiner = Combiner(-2.0, 1.0, {"FR-001": 1.0})
    base = combiner.score(0.1, [])
    assert base == float(sigmoid_array(-2.0 + logit(0.1))[0])
    with_fr001 = combiner.score(0.1, [("FR-001", 0.6)])
    assert with_fr001 == float(sigmoid_array(-2.0 + logit(0.1) + 1.0)[0]) > base
    # FR-005 was never learned: its configured weight is a floor (a blocklist hit still alerts)
    assert combiner.score(0.1, [("FR-005", 1.0)]) == 1.0
    assert combiner.score(0.1, [("FR-004", 0.3), ("FR-003", 0.4)]) == pytest.approx(0.7)
    # FR-006 is the model's own: neither learned nor a floor
    assert combiner.score(0.1, [("FR-006", 0.9)]) == base


def test_logit_clips_scores_of_zero_and_one() -> None:
    assert logit(0.0) == logit(PROBABILITY_EPS) < -20.0
    assert logit(1.0) == logit(1.0 - PROBABILITY_EPS) > 20.0
    assert logit(0.5) == 0.0
    assert logit(0.2) == pytest.approx(math.log(0.25), abs=1e-15)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ([1.0], "combiner must be an object"),
        ({"bias": 0.0, "model_weight": 1.0, "alpha": 1}, "unknown field(s) alpha"),
        ({"model_weight": 1.0}, "combiner.bias must be a finite number"),
        ({"bias": True, "model_weight": 1.0}, "combiner.bias must be a finite number"),
        ({"bias": 0.0, "model_weight": math.inf}, "combiner.model_weight must be a finite number"),
        ({"bias": 0.0, "model_weight": 10**400}, "combiner.model_weight must be a finite number"),
        ({"bias": 0.0, "model_weight": 1.0, "rule_weights": [1]}, "rule_weights must be an object"),
        ({"bias": 0.0, "model_weight": 1.0, "rule_weights": {"FR-006": 1.0}}, "'FR-006' is not a rule code"),
        ({"bias": 0.0, "model_weight": 1.0, "rule_weights": {"FR-1": 1.0}}, "'FR-1' is not a rule code"),
        ({"bias": 0.0, "model_weight": 1.0, "rule_weights": {"FR-001": "1"}}, "rule_weights.FR-001 must be"),
    ],
)
def test_from_meta_names_the_bad_field(meta: object, message: str) -> None:
    with pytest.raises(CombinerError, match=re.escape(message)):
        Combiner.from_meta(meta)


def test_an_artifact_carries_its_combiner_and_refuses_a_bad_one() -> None:
    linear = CompiledModel(
        {
            "format": "streamflow-compiled-model/1",
            "algorithm": "logistic_regression",
            "version": "lin",
            "feature_schema_id": "x",
            "n_features": 2,
            "offset": 0.0,
        },
        {
            "columns": np.array([0]),
            "mean": np.array([0.0]),
            "scale": np.array([1.0]),
            "coef": np.array([1.0]),
        },
    )
    assert linear.combiner is None
    combiner = Combiner(-1.5, 0.75, {"FR-007": 0.25})
    read = CompiledModel.from_bytes(linear.with_combiner(combiner).to_bytes())
    assert read.combiner == combiner
    assert CompiledModel.from_bytes(read.with_combiner(None).to_bytes()).combiner is None
    bad = CompiledModel.__new__(CompiledModel)
    bad.meta, bad.arrays = {**linear.meta, "combiner": {"bias": "x", "model_weight": 1.0}}, linear.arrays
    with pytest.raises(ModelLoadError, match=re.escape("artifact's combiner.bias must be a finite number")):
        CompiledModel.from_bytes(bad.to_bytes())

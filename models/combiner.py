"""The learned combination of the model's score and the rules' hits, shipped inside the model artifact.

A fixed blend (``(1 - alpha) * rules + alpha * model``) lowered every metric below the model's own: the
rules' weights are guesses, and a rule's hit is worth little where the model already saw what the rule sees.
The combiner is a logistic regression fitted on rows the model did not train on::

    z     = bias + model_weight * logit(model score) + sum(weight of every learned rule that fired)
    score = max(sigmoid(z), min(1, sum(configured weight of every other rule that fired, FR-006 excepted)))

*Learned* rules are those that fired in the combiner's rows (L2-regularised, so a few hits move little);
every other rule (one the data never exercised, such as a blocklist) keeps its configured weight as a
floor of the score, so a hit the data cannot judge is never silenced. FR-006 is never an input: it is the
model's own score.
Terms are added in the order written, left to right, and ``logit`` and ``sigmoid`` are the portable fdlibm
functions, so ``io.streamflow.detector.Combiner`` computes the same bits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "MIN_RULE_SUPPORT",
    "PROBABILITY_EPS",
    "Combiner",
    "CombinerError",
    "fit_combiner",
    "logit",
]

PROBABILITY_EPS = 1e-9
"""Model scores are clipped to [eps, 1 - eps] before the logit (a score of exactly 0 or 1 has none)."""
MIN_RULE_SUPPORT = 1
"""Hits a rule needs in the combiner's rows to be learned; below it, its configured weight is a floor.
Chosen on the ten prequential folds (docs/evaluation.md): 1, 5 and 10 gave the same figures there; 20
left FR-004 (17-21 hits in a two-day tail) as a 0.55 floor that cost every fold average precision."""
MODEL_RULE = "FR-006"
_CODE = re.compile(r"^FR-[0-9]{3}$")


class CombinerError(ValueError):
    """A combiner in an artifact that cannot be used: the message names the field."""


def logit(p: float) -> float:
    """``log(p / (1 - p))`` of ``p`` clipped to [eps, 1 - eps], with the portable fdlibm ``log``."""
    from fraud_models.portable_math import log_array

    q = min(1.0 - PROBABILITY_EPS, max(PROBABILITY_EPS, p))
    return float(log_array(q / (1.0 - q))[0])


@dataclass(frozen=True)
class Combiner:
    """Weights in log-odds: ``rule_weights`` maps each learned rule's code to what its hit adds."""

    bias: float
    model_weight: float
    rule_weights: Mapping[str, float] = field(default_factory=dict)

    def score(self, ml_score: float, hits: Sequence[tuple[str, float]]) -> float:
        """The combined score of a model score and the hits ``(code, configured weight)`` in hit order."""
        from fraud_models.portable_math import sigmoid_array

        z = self.bias
        z += self.model_weight * logit(ml_score)
        floor = 0.0
        for code, weight in hits:
            learned = self.rule_weights.get(code)
            if learned is not None:
                z += learned
            elif code != MODEL_RULE:
                floor += weight
        floor = min(1.0, floor)
        learned_score = float(sigmoid_array(z)[0])
        return max(learned_score, floor)

    def to_meta(self) -> dict[str, Any]:
        return {
            "bias": self.bias,
            "model_weight": self.model_weight,
            "rule_weights": dict(sorted(self.rule_weights.items())),
        }

    @classmethod
    def from_meta(cls, meta: Any) -> Combiner:
        """The combiner of an artifact's metadata; raises :class:`CombinerError` naming the bad field."""
        if not isinstance(meta, dict):
            raise CombinerError("combiner must be an object")
        extra = sorted(set(meta) - {"bias", "model_weight", "rule_weights"})
        if extra:
            raise CombinerError(f"combiner has unknown field(s) {', '.join(extra)}")
        bias = _finite(meta, "bias")
        model_weight = _finite(meta, "model_weight")
        rules = meta.get("rule_weights", {})
        if not isinstance(rules, dict):
            raise CombinerError("combiner.rule_weights must be an object")
        weights: dict[str, float] = {}
        for code in rules:
            if not _CODE.match(code) or code == MODEL_RULE:
                raise CombinerError(f"combiner.rule_weights: {code!r} is not a rule code the combiner takes")
            weights[code] = _finite(rules, code, f"combiner.rule_weights.{code}")
        return cls(bias, model_weight, weights)


def _finite(meta: dict[str, Any], key: str, name: str | None = None) -> float:
    value = meta.get(key)
    shown = name or f"combiner.{key}"
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer beyond a double
        number = math.inf
    if not math.isfinite(number):
        raise CombinerError(f"{shown} must be a finite number")
    return number


def fit_combiner(
    ml_scores: npt.ArrayLike,
    hits: npt.NDArray[np.bool_],
    codes: Sequence[str],
    labels: npt.ArrayLike,
    *,
    min_support: int = MIN_RULE_SUPPORT,
) -> Combiner:
    """A logistic regression of the labels on the model's log-odds and the hits of each rule that fired at
    least ``min_support`` times (column ``j`` of ``hits`` is rule ``codes[j]``; FR-006 is skipped).

    A rule whose fitted weight is negative is learned with weight 0: a hit never lowers the score an
    analyst sees, and a rule the data finds useless simply adds nothing.
    """
    import numpy as np
    from fraud_models.portable_math import log_array
    from sklearn.linear_model import LogisticRegression

    p = np.asarray(ml_scores, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    if hits.shape != (len(p), len(codes)):
        raise ValueError(f"hits has shape {hits.shape}, expected ({len(p)}, {len(codes)})")
    if y.min(initial=1) == y.max(initial=0):
        raise ValueError("the combiner's rows need frauds and genuine transactions")
    q = np.clip(p, PROBABILITY_EPS, 1.0 - PROBABILITY_EPS)
    columns = [log_array(q / (1.0 - q))]
    learned = [
        code for j, code in enumerate(codes) if code != MODEL_RULE and int(hits[:, j].sum()) >= min_support
    ]
    columns += [hits[:, list(codes).index(code)].astype(np.float64) for code in learned]
    fitted = LogisticRegression(C=1.0, max_iter=5000).fit(np.column_stack(columns), y)
    coef = fitted.coef_[0].tolist()
    weights = {code: max(0.0, float(w)) for code, w in zip(learned, coef[1:], strict=True)}
    return Combiner(float(fitted.intercept_[0]), float(coef[0]), weights)

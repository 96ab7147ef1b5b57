"""The fraud rules as domain objects: each rule carries its thresholds and weight *and* its predicate.

This is the Ververica fraud-demo style: the object that travels through the control stream (broadcast state)
is the same object that evaluates a transaction, so a threshold change can never be applied to one place and
forgotten in another. Predicates take plain numbers (already computed from keyed state) and return a
:class:`RuleHit` with a stable code and a sentence an analyst can read, or ``None``.

Combination (:func:`combine`), exactly::

    rule_score = min(1, sum(weight of every rule that fired))          # FR-006 included when it fired
    score      = rule_score                                             # no model configured
    score      = clip((1 - alpha) * rule_score + alpha * ml_score, 0, 1)  # with a model
    score      = combiner.score(ml_score, hits)    # with a model whose artifact carries a learned combiner
    alert      = score >= alert_threshold

The learned combiner (``fraud_models.combiner``) replaces the fixed blend for the models trained with one:
``alpha`` is then unused, and a rule's configured weight counts only for rules the combiner did not learn.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

from fraud_jobs.schemas import RuleHit
from fraud_models.combiner import Combiner
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "RULES",
    "AnomalyRule",
    "BlocklistRule",
    "HighValueRule",
    "ImpossibleTravelRule",
    "Rule",
    "TerminalRiskRule",
    "UnusualHourRule",
    "VelocityRule",
    "combine",
]

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""A customer or terminal id on a blocklist."""
_WEIGHT = (
    "Weight of a hit in the rule score; with a model's learned combiner, the floor of the score when the "
    "combiner did not learn this rule."
)


class Rule(BaseModel):
    """Common fields of every rule; ``code`` is the stable reason code on alerts and metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    code: ClassVar[str]
    name: ClassVar[str]

    enabled: bool = Field(default=True, description="Whether the rule runs.")
    weight: float = Field(ge=0.0, le=1.0, description="Contribution of a hit to the rule score, in [0, 1].")

    def _hit(self, reason: str) -> RuleHit:
        return RuleHit(code=self.code, reason=reason, weight=self.weight)


class HighValueRule(Rule):
    """FR-001: the amount is far above the customer's own history (z-score against running mean and std)."""

    code: ClassVar[str] = "FR-001"
    name: ClassVar[str] = "high_value"
    weight: float = Field(default=0.6, ge=0.0, le=1.0, description=_WEIGHT)
    min_history: int = Field(
        default=5, ge=2, le=10_000, description="Past transactions of the customer needed to fire."
    )
    z_threshold: float = Field(
        default=4.0, gt=0.0, le=1000.0, description="Standard deviations above the customer's mean amount."
    )
    min_std_ratio: float = Field(
        default=0.25,
        ge=0.0,
        le=10.0,
        description="Floor of the std as a fraction of the mean (steady spenders are not flagged for cents).",
    )
    min_amount: float = Field(default=0.0, ge=0.0, description="Amounts below this never fire the rule.")

    def check(self, amount: float, n: int, mean: float, std: float) -> RuleHit | None:
        if not self.enabled or n < self.min_history or amount < self.min_amount:
            return None
        spread = max(std, self.min_std_ratio * mean, 1e-9)
        z = (amount - mean) / spread
        if z <= self.z_threshold:
            return None
        return self._hit(
            f"amount {amount:.2f} is {z:.1f} std above this customer's mean {mean:.2f} "
            f"(std {std:.2f}, {n} past transactions; threshold {self.z_threshold:g})"
        )


class VelocityRule(Rule):
    """FR-002: more transactions of one customer within a sliding window than allowed."""

    code: ClassVar[str] = "FR-002"
    name: ClassVar[str] = "velocity"
    weight: float = Field(default=0.6, ge=0.0, le=1.0, description=_WEIGHT)
    max_count: int = Field(
        default=5,
        ge=1,
        le=31,
        description="Transactions allowed within the window (at most 31: the state keeps 32 timestamps).",
    )
    window_s: float = Field(
        default=600.0, gt=0.0, le=7 * 86400.0, description="Length of the sliding window in seconds."
    )

    def check(self, count_in_window: int) -> RuleHit | None:
        """``count_in_window`` includes the current transaction."""
        if not self.enabled or count_in_window <= self.max_count:
            return None
        return self._hit(
            f"{count_in_window} transactions within {self.window_s / 60:g} min "
            f"(more than {self.max_count} allowed)"
        )


class ImpossibleTravelRule(Rule):
    """FR-003: the card moved between two geo-located transactions faster than a plane (needs v2 geo)."""

    code: ClassVar[str] = "FR-003"
    name: ClassVar[str] = "impossible_travel"
    weight: float = Field(default=0.8, ge=0.0, le=1.0, description=_WEIGHT)
    max_speed_kmh: float = Field(
        default=900.0, gt=0.0, le=100_000.0, description="Travel speed in km/h above which the rule fires."
    )
    min_distance_km: float = Field(
        default=100.0, ge=0.0, description="Shorter distances never fire (GPS noise, neighbouring terminals)."
    )

    def check(self, distance_km: float, hours: float) -> RuleHit | None:
        if not self.enabled or distance_km < self.min_distance_km:
            return None
        speed = distance_km / hours if hours > 0.0 else math.inf
        if speed <= self.max_speed_kmh:
            return None
        shown = "instantly" if math.isinf(speed) else f"at {speed:.0f} km/h"
        return self._hit(
            f"moved {distance_km:.0f} km in {hours * 60:.0f} min since the previous transaction ({shown}; "
            f"max {self.max_speed_kmh:g} km/h)"
        )


class UnusualHourRule(Rule):
    """FR-004: the customer rarely pays at this hour of day (UTC), judged from their own hour histogram."""

    code: ClassVar[str] = "FR-004"
    name: ClassVar[str] = "unusual_hour"
    weight: float = Field(default=0.55, ge=0.0, le=1.0, description=_WEIGHT)
    min_history: int = Field(
        default=30, ge=1, le=100_000, description="Past transactions of the customer needed to fire."
    )
    max_share: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Fire when the share of past transactions within two hours of this hour is below this.",
    )

    def check(self, hour: int, share: float, n: int) -> RuleHit | None:
        if not self.enabled or n < self.min_history or share >= self.max_share:
            return None
        return self._hit(
            f"{hour:02d}:00 UTC is unusual for this customer: {share:.1%} of {n} past transactions "
            f"fall within two hours of it (below {self.max_share:.1%})"
        )


class BlocklistRule(Rule):
    """FR-005: the customer or the terminal is on the blocklist (managed through control messages)."""

    code: ClassVar[str] = "FR-005"
    name: ClassVar[str] = "blocklist"
    weight: float = Field(default=1.0, ge=0.0, le=1.0, description=_WEIGHT)
    customers: frozenset[Id] = Field(default=frozenset(), description="Customer ids blocked from the start.")
    terminals: frozenset[Id] = Field(default=frozenset(), description="Terminal ids blocked from the start.")

    def check(self, customer_id: str, terminal_id: str) -> RuleHit | None:
        if not self.enabled:
            return None
        if customer_id in self.customers:
            return self._hit(f"customer {customer_id} is blocklisted")
        if terminal_id in self.terminals:
            return self._hit(f"terminal {terminal_id} is blocklisted")
        return None


class AnomalyRule(Rule):
    """FR-006: the ML model scores the transaction as anomalous (score from the pluggable scorer)."""

    code: ClassVar[str] = "FR-006"
    name: ClassVar[str] = "ml_anomaly"
    weight: float = Field(default=0.6, ge=0.0, le=1.0, description=_WEIGHT)
    threshold: float = Field(default=0.8, ge=0.0, le=1.0, description="Model score that fires it.")

    def check(self, ml_score: float | None, model_version: str | None) -> RuleHit | None:
        if not self.enabled or ml_score is None or ml_score < self.threshold:
            return None
        return self._hit(f"model {model_version or '?'} anomaly score {ml_score:.3f} >= {self.threshold:g}")


class TerminalRiskRule(Rule):
    """FR-007: frauds at this terminal were confirmed recently (labels, counted only once delivered).

    Not in the original rule list: it is how late labels feed back into detection (a compromised terminal
    keeps being used). Its default weight is below the alert threshold, so it only tips other evidence over.
    """

    code: ClassVar[str] = "FR-007"
    name: ClassVar[str] = "terminal_risk"
    weight: float = Field(default=0.3, ge=0.0, le=1.0, description=_WEIGHT)
    min_frauds: int = Field(default=1, ge=1, le=8, description="Confirmed frauds in the window that fire.")
    window_s: float = Field(
        default=28 * 86400.0, gt=0.0, le=365 * 86400.0, description="Window of confirmed frauds (s)."
    )

    def check(self, confirmed_frauds: int) -> RuleHit | None:
        if not self.enabled or confirmed_frauds < self.min_frauds:
            return None
        return self._hit(
            f"{confirmed_frauds} confirmed fraud(s) at this terminal within {self.window_s / 86400:g} days"
        )


RULES: tuple[type[Rule], ...] = (
    HighValueRule,
    VelocityRule,
    ImpossibleTravelRule,
    UnusualHourRule,
    BlocklistRule,
    AnomalyRule,
    TerminalRiskRule,
)
"""Every rule, in code order: the one definition of their parameters, bounds, defaults and descriptions.
The FraudPipeline API (``fraud_operator.api.detector``) is generated from these classes."""


def combine(
    hits: list[RuleHit], ml_score: float | None, alpha: float, combiner: Combiner | None = None
) -> tuple[float, float]:
    """(score, rule_score) as documented in the module docstring."""
    rule_score = 0.0
    for hit in hits:
        rule_score += hit.weight
    rule_score = min(1.0, rule_score)
    if ml_score is None:
        return rule_score, rule_score
    if combiner is not None:
        return combiner.score(ml_score, [(hit.code, hit.weight) for hit in hits]), rule_score
    score = (1.0 - alpha) * rule_score + alpha * ml_score
    return min(1.0, max(0.0, score)), rule_score

"""Detector part of the FraudPipeline API: parallelism, alpha, alert threshold and the rules FR-001 to FR-007.

Field names and defaults mirror ``fraud_jobs.config.DetectorConfig`` (tests/operator/test_render_config.py
checks that the rendered section loads there and that the defaults are equal).
"""

from __future__ import annotations

from typing import Annotated

from fraud_operator.api.common import ApiModel, cel
from pydantic import Field, StringConstraints, model_validator

__all__ = [
    "BlocklistRule",
    "DetectorRules",
    "DetectorSpec",
    "HighValueRule",
    "ImpossibleTravelRule",
    "MlAnomalyRule",
    "RuleBase",
    "TerminalRiskRule",
    "UnusualHourRule",
    "VelocityRule",
]

Weight = Annotated[float, Field(ge=0.0, le=1.0)]


class RuleBase(ApiModel):
    """Fields every rule has; the detector adds a hit's weight to the rule score."""

    enabled: bool = Field(default=True, description="Whether the rule runs.")
    weight: Weight = Field(description="Contribution of a hit to the rule score, in [0, 1].")


class HighValueRule(RuleBase):
    """FR-001: the amount is far above the customer's own history (z-score against running mean and std)."""

    weight: Weight = Field(default=0.6, description="Weight of a hit in the rule score.")
    min_history: int = Field(
        default=5,
        ge=2,
        le=10000,
        description="Past transactions of the customer needed to fire.",
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


class VelocityRule(RuleBase):
    """FR-002: more than maxCount transactions of one customer within windowSeconds."""

    weight: Weight = Field(default=0.6, description="Weight of a hit in the rule score.")
    max_count: int = Field(
        default=5,
        ge=1,
        le=31,
        description="Transactions allowed within the window (at most 31: the state keeps 32 timestamps).",
    )
    window_seconds: float = Field(
        default=600.0, gt=0.0, le=604800.0, description="Length of the sliding window in seconds."
    )


class ImpossibleTravelRule(RuleBase):
    """FR-003: consecutive geo-located transactions too far apart for the time between them."""

    weight: Weight = Field(default=0.8, description="Weight of a hit in the rule score.")
    max_speed_kmh: float = Field(
        default=900.0, gt=0.0, le=100000.0, description="Travel speed in km/h above which the rule fires."
    )
    min_distance_km: float = Field(
        default=100.0, ge=0.0, description="Shorter distances never fire (GPS noise, neighbouring terminals)."
    )


class UnusualHourRule(RuleBase):
    """FR-004: the customer rarely pays at this hour of day (UTC)."""

    weight: Weight = Field(default=0.55, description="Weight of a hit in the rule score.")
    min_history: int = Field(
        default=30,
        ge=1,
        le=100000,
        description="Past transactions of the customer needed to fire.",
    )
    max_share: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Fire when the share of past transactions within two hours of this hour is below this.",
    )


class BlocklistRule(RuleBase):
    """FR-005: customers or terminals on a blocklist (control messages add and remove entries at run time)."""

    weight: Weight = Field(default=1.0, description="Weight of a hit in the rule score.")
    customers: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list,
        max_length=1000,
        description="Customer ids blocked from the start.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    terminals: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list,
        max_length=1000,
        description="Terminal ids blocked from the start.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class MlAnomalyRule(RuleBase):
    """FR-006: the model scores the transaction as anomalous (a rule hit with a reason, besides alpha)."""

    weight: Weight = Field(default=0.6, description="Weight of a hit in the rule score.")
    threshold: float = Field(default=0.8, ge=0.0, le=1.0, description="Model score that fires it.")


class TerminalRiskRule(RuleBase):
    """FR-007: frauds at the terminal were confirmed recently (labels count only once delivered)."""

    weight: Weight = Field(default=0.3, description="Weight of a hit in the rule score.")
    min_frauds: int = Field(default=1, ge=1, le=8, description="Confirmed frauds in the window that fire.")
    window_seconds: float = Field(
        default=2419200.0,
        gt=0.0,
        le=31536000.0,
        description="Window of confirmed frauds (s).",
    )


class DetectorRules(ApiModel):
    """Thresholds and weights of the rules FR-001 to FR-007 (the detector's documented defaults)."""

    high_value: HighValueRule = Field(default_factory=HighValueRule, description="FR-001 high value.")
    velocity: VelocityRule = Field(default_factory=VelocityRule, description="FR-002 velocity.")
    impossible_travel: ImpossibleTravelRule = Field(
        default_factory=ImpossibleTravelRule, description="FR-003 impossible travel."
    )
    unusual_hour: UnusualHourRule = Field(default_factory=UnusualHourRule, description="FR-004 unusual hour.")
    blocklist: BlocklistRule = Field(default_factory=BlocklistRule, description="FR-005 blocklist.")
    ml_anomaly: MlAnomalyRule = Field(default_factory=MlAnomalyRule, description="FR-006 ML anomaly.")
    terminal_risk: TerminalRiskRule = Field(
        default_factory=TerminalRiskRule, description="FR-007 terminal risk (labels)."
    )


class DetectorSpec(ApiModel):
    """How the detector job scores transactions and how wide it runs."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.parallelism <= self.maxParallelism",
                "parallelism must not exceed maxParallelism (keyed state cannot be rescaled beyond it)",
                ".parallelism",
            ),
        )
    }

    parallelism: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="Parallelism of the Flink job; `kubectl scale fp/<name> --replicas=N` sets this field.",
    )
    max_parallelism: int = Field(
        default=128,
        ge=1,
        le=32768,
        description="Flink max parallelism (key groups); the upper bound for later rescaling with state.",
    )
    alpha: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Share of the ML score: score = (1 - alpha) * ruleScore + alpha * modelScore.",
    )
    alert_threshold: float = Field(
        default=0.4, ge=0.0, le=1.0, description="Combined score at or above which an alert is raised."
    )
    state_ttl_seconds: int = Field(
        default=7776000,
        ge=3600,
        description="Keyed state of a key inactive this long is dropped.",
    )
    label_delay_seconds: int = Field(
        default=604800,
        ge=0,
        description="How long after a transaction its label becomes known.",
    )
    rules: DetectorRules = Field(default_factory=DetectorRules, description="Rule thresholds and weights.")

    @model_validator(mode="after")
    def _check(self) -> DetectorSpec:
        if self.parallelism > self.max_parallelism:
            raise ValueError(
                f"parallelism: {self.parallelism} exceeds maxParallelism {self.max_parallelism} "
                "(keyed state cannot be rescaled beyond it)"
            )
        return self

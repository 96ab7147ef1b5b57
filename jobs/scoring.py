"""The pluggable ML scorer behind FR-006.

Any object with ``score(features) -> float``, ``version`` and ``feature_schema_id`` is a scorer;
``fraud_models.scorer.CompiledModel`` is the production one. The detector only depends on this protocol, so
rules keep working (and tests run) without a trained model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID

__all__ = ["ConstantScorer", "Scorer", "ScorerMismatchError", "check_scorer"]


@runtime_checkable
class Scorer(Protocol):
    """Scores one feature vector (FEATURE_NAMES order) into [0, 1]; higher means more likely fraud."""

    @property
    def version(self) -> str: ...

    @property
    def feature_schema_id(self) -> str: ...

    def score(self, x: Sequence[float]) -> float: ...


class ScorerMismatchError(ValueError):
    """The scorer was trained on other features than the detector computes: refuse, never mis-score."""


def check_scorer(scorer: Scorer) -> Scorer:
    """Return ``scorer`` if it expects the detector's feature schema, else raise ScorerMismatchError."""
    if scorer.feature_schema_id != FEATURE_SCHEMA_ID:
        raise ScorerMismatchError(
            f"scorer {scorer.version} expects feature schema {scorer.feature_schema_id}, "
            f"the detector computes {FEATURE_SCHEMA_ID} ({len(FEATURE_NAMES)} features)"
        )
    return scorer


class ConstantScorer:
    """A scorer that always answers the same score: a real (trivial) model for tests and smoke runs."""

    def __init__(self, value: float, version: str = "constant") -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"constant score must be in [0, 1], got {value}")
        self._value = value
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    @property
    def feature_schema_id(self) -> str:
        return FEATURE_SCHEMA_ID

    def score(self, x: Sequence[float]) -> float:
        if len(x) != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} features, got {len(x)}")
        return self._value

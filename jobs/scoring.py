"""The pluggable ML scorer behind FR-006.

Any object with ``score(features) -> float``, ``version`` and ``feature_schema_id`` is a scorer;
``fraud_models.scorer.CompiledModel`` is the production one. The detector only depends on this protocol, so
rules keep working (and tests run) without a trained model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fraud_models.combiner import Combiner
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["ConstantScorer", "Scorer", "ScorerMismatchError", "check_scorer", "combiner_of", "score_rows"]


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


def combiner_of(scorer: Scorer | None) -> Combiner | None:
    """The learned combiner a scorer's artifact carries (``CompiledModel.combiner``), or None."""
    combiner = getattr(scorer, "combiner", None)
    return combiner if isinstance(combiner, Combiner) else None


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


def score_rows(
    scorer: Scorer, rows: Sequence[Sequence[float]] | npt.NDArray[np.float64]
) -> list[float | str]:
    """Each row's raw score, or the text of the error that row raised (``Type: message``).

    The rows are scored as one batch (``score_batch`` when the scorer has it): replay calls this, and the
    stream's JVM scorer equals ``score_batch`` bit for bit, so both see the same bits (a tree ensemble summed
    row by row in ``score`` differs from its batch form in the last bits). A batch that raises is
    scored again row by row, to find the rows at fault.
    """
    score_batch: Any = getattr(scorer, "score_batch", None)
    try:
        if score_batch is not None:
            import numpy as np

            return [float(v) for v in score_batch(np.asarray(rows, dtype=np.float64))]
        return [float(scorer.score(row)) for row in rows]
    except Exception:
        pass
    out: list[float | str] = []
    for row in rows:
        try:
            if score_batch is not None:
                import numpy as np

                out.append(float(score_batch(np.asarray([row], dtype=np.float64))[0]))
            else:
                out.append(float(scorer.score(row)))
        except Exception as exc:
            out.append(f"{type(exc).__name__}: {exc}")
    return out

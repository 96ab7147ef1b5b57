"""The shadow comparison step: active vs shadow model on the events both scored, read from gold.model_scores.

The job writes every score of both models to gold.model_scores; :func:`fraud_models.compare.compare_database`
turns the paired rows (plus the labels known so far) into side-by-side figures. This module connects as the
pipeline's app user (the same Secret and host override as the migration step), runs that comparison in a
read-only transaction with a statement timeout, and returns one :class:`ShadowOutcome`. Like the migration
step it never raises for database trouble and every message it returns is scrubbed of the password.

:func:`pipeline_summary` and :func:`model_comparison` (pure) shape an outcome into the pipeline's
``status.shadow`` and the shadow FraudModel's ``status.comparison``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.database import DatabaseOutcome, app_connection

__all__ = [
    "COMPARED",
    "COMPARISON_FAILED",
    "WAITING_FOR_DATABASE",
    "WAITING_FOR_SCORES",
    "ShadowOutcome",
    "compare_shadow",
    "model_comparison",
    "pipeline_summary",
    "same_figures",
]

log = logging.getLogger(__name__)

COMPARED = "Compared"
WAITING_FOR_SCORES = "WaitingForScores"
WAITING_FOR_DATABASE = "WaitingForDatabase"
COMPARISON_FAILED = "ComparisonFailed"
_NO_PAIRS = "no events scored by both"
_CONNECT_TIMEOUT_S = 10
_STATEMENT_TIMEOUT_MS = 60_000
_MAX_MESSAGE = 2000
# Fields that change on every computation without the figures changing: ignored when deciding to write.
_VOLATILE = frozenset({"computedAt"})


@dataclass(frozen=True)
class ShadowOutcome:
    """What one comparison attempt found; ``comparison`` is ``Comparison.to_status()`` when Compared."""

    reason: str
    message: str
    comparison: Mapping[str, Any] | None = field(default=None)

    @property
    def failed(self) -> bool:
        """Trying again later may help, and someone should hear about it (a Warning Event)."""
        return self.reason == COMPARISON_FAILED


def compare_shadow(
    api_client: Any,
    namespace: str,
    pipeline: FraudPipeline,
    *,
    active_version: str,
    shadow_version: str,
    threshold: float | None = None,
) -> ShadowOutcome:
    """Compare the two model versions on the pipeline's database at ``threshold`` (default: the spec's
    alertThreshold); never raises for database trouble."""
    # numpy comes with the comparison: an operator with no shadow models never imports it.
    from fraud_models.compare import compare_database

    found = app_connection(api_client, namespace, pipeline)
    if isinstance(found, DatabaseOutcome):
        return ShadowOutcome(WAITING_FOR_DATABASE, found.message)
    if threshold is None:
        threshold = pipeline.spec.detector.alert_threshold
    try:
        with psycopg.connect(
            found.dsn,
            connect_timeout=_CONNECT_TIMEOUT_S,
            options=f"-c statement_timeout={_STATEMENT_TIMEOUT_MS} -c default_transaction_read_only=on",
        ) as conn:
            comparison = compare_database(conn, active_version, shadow_version, threshold=threshold)
    except ValueError as exc:
        message = found.scrub(str(exc))
        if _NO_PAIRS in message:
            return ShadowOutcome(WAITING_FOR_SCORES, f"waiting for scores: {message}")
        return ShadowOutcome(COMPARISON_FAILED, f"the scores in {found.target} cannot be compared: {message}")
    except psycopg.Error as exc:
        message = found.scrub(f"reading gold.model_scores from {found.target} failed: {exc}")
        log.warning("shadow comparison of pipeline %s/%s: %s", namespace, pipeline.metadata.name, message)
        return ShadowOutcome(COMPARISON_FAILED, message)
    status = comparison.to_status()
    message = (
        f"{status.get('pairedEvents')} events scored by both {active_version} and {shadow_version}, "
        f"{status.get('labeledEvents')} labeled; same alert decision on "
        f"{_percent(status.get('agreementAtThreshold'))} at threshold {threshold:g}"
    )
    return ShadowOutcome(COMPARED, message, status)


def _percent(value: Any) -> str:
    return f"{100.0 * float(value):.1f}%" if isinstance(value, (int, float)) else "?"


def _auc(comparison: Mapping[str, Any], side: str) -> Any:
    return (comparison.get(side) or {}).get("auc")


def pipeline_summary(
    outcome: ShadowOutcome,
    *,
    shadow_model: str,
    active_model: str | None,
    previous: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The pipeline's ``status.shadow``; a failed attempt keeps the last figures of the same two models."""
    summary: dict[str, Any] = {
        "model": shadow_model,
        "activeModel": active_model,
        "reason": outcome.reason,
        "message": outcome.message[:_MAX_MESSAGE],
    }
    figures = (
        "pairedEvents",
        "labeledEvents",
        "agreementAtThreshold",
        "activeAuc",
        "shadowAuc",
        "meanScoreDelta",
        "computedAt",
    )
    comparison = outcome.comparison
    if comparison is not None:
        summary.update(
            {
                "pairedEvents": comparison.get("pairedEvents"),
                "labeledEvents": comparison.get("labeledEvents"),
                "agreementAtThreshold": comparison.get("agreementAtThreshold"),
                "activeAuc": _auc(comparison, "active"),
                "shadowAuc": _auc(comparison, "shadow"),
                "meanScoreDelta": comparison.get("meanScoreDelta"),
                "computedAt": comparison.get("computedAt"),
            }
        )
    else:
        same_models = (
            previous is not None
            and previous.get("model") == shadow_model
            and previous.get("activeModel") == active_model
        )
        keep = outcome.failed and same_models
        summary.update({key: (previous or {}).get(key) if keep else None for key in figures})
    return summary


def model_comparison(outcome: ShadowOutcome, *, pipeline: str, active_model: str) -> dict[str, Any] | None:
    """The shadow FraudModel's ``status.comparison`` (None: nothing to write)."""
    if outcome.comparison is None:
        return None
    return {"pipeline": pipeline, "activeModel": active_model, **outcome.comparison}


def same_figures(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether ``new`` says what ``old`` says, apart from when it was computed (then nothing is written)."""
    if old is None:
        return False

    return bool(_stable(old) == _stable(new))


def _stable(value: Any) -> Any:
    """Without volatile keys and None values, recursively (a merge patch stores null as absent)."""
    if isinstance(value, Mapping):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE and v is not None}
    return value

"""FraudModel validation (phase Pending -> Ready or Rejected) and its usedBy list."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fraud_operator.api.common import API_VERSION
from fraud_operator.api.conditions import set_condition
from fraud_operator.apply import Applier, is_subset
from fraud_operator.handlers import events
from fraud_operator.handlers.artifacts import CONDITION_TYPE as ARTIFACT_CONDITION
from fraud_operator.handlers.artifacts import artifact_verdict
from fraud_operator.handlers.context import clients
from fraud_operator.handlers.resolve import describe_error, model_problem, parse_model
from fraud_operator.metrics import RECONCILE_SECONDS, RECONCILES
from pydantic import ValidationError

__all__ = ["KIND", "model_status", "pipelines_using", "reconcile_model"]

KIND = "FraudModel"
_MAX_MESSAGE = 2000


def pipelines_using(pipelines: Iterable[Mapping[str, Any]], model: str) -> list[str]:
    """Names of the pipelines whose modelRef or shadowModelRef names ``model`` (sorted, unique)."""
    users = set()
    for item in pipelines:
        spec = item.get("spec") or {}
        refs = (spec.get("modelRef") or {}, spec.get("shadowModelRef") or {})
        if any(ref.get("name") == model for ref in refs):
            users.add(str(item["metadata"]["name"]))
    return sorted(users)


def model_status(body: Mapping[str, Any], used_by: list[str], now: datetime) -> dict[str, Any]:
    """phase, reason, message, usedBy, observedGeneration and the ArtifactVerified condition of a model.

    Pure unless artifact verification is on (the default): then the artifact is loaded and checked like the
    job will, and an artifact the operator cannot see is reported, not rejected.
    """
    generation = (body.get("metadata") or {}).get("generation")
    conditions = list((body.get("status") or {}).get("conditions") or [])
    try:
        model = parse_model(body)
    except ValidationError as exc:
        phase, reason, message = "Rejected", "InvalidSpec", describe_error(exc)
    else:
        problem = model_problem(model, now)
        verdict = artifact_verdict(model) if problem is None else None
        if verdict is not None:
            conditions = set_condition(
                conditions,
                ARTIFACT_CONDITION,
                verdict.status,
                verdict.reason,
                verdict.message[:_MAX_MESSAGE],
                observed_generation=generation,
                now=now,
            )
            if verdict.rejected:
                problem = (verdict.reason, verdict.message)
        if problem is not None:
            phase, (reason, message) = "Rejected", problem
        else:
            phase, reason = "Ready", "Validated"
            message = f"{model.spec.algorithm} {model.spec.version}, AUC {model.spec.metrics.auc}"
            if verdict is not None and verdict.status == "Unknown":
                message += f"; artifact not verified by the operator: {verdict.message}"
    status: dict[str, Any] = {
        "phase": phase,
        "reason": reason,
        "message": message[:_MAX_MESSAGE],
        "usedBy": used_by,
        "observedGeneration": generation,
    }
    if conditions:
        status["conditions"] = conditions
    return status


def _changed_users(live: Mapping[str, Any], uses: Mapping[str, bool]) -> list[str]:
    users = set((live.get("status") or {}).get("usedBy") or [])
    users |= {pipeline for pipeline, uses_it in uses.items() if uses_it}
    users -= {pipeline for pipeline, uses_it in uses.items() if not uses_it}
    return sorted(users)


def refresh_model(
    applier: Applier, namespace: str, name: str, uses: Mapping[str, bool] | None = None
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Validate one model and write its status if it changed; returns (old, new) status.

    ``uses``: what the operator's pipeline events changed since the last refresh ({pipeline: True when it
    now references the model, False when it no longer does}), applied to the live usedBy; without it (a
    model's create, update or resume) the pipelines are listed, which an operator start does once per model.
    """
    listed = (
        pipelines_using(applier.each(API_VERSION, "FraudPipeline", namespace), name) if uses is None else None
    )
    seen: dict[str, Any] = {}

    def compute(live: dict[str, Any]) -> dict[str, Any]:
        used_by = listed if listed is not None else _changed_users(live, uses or {})
        seen["old"] = live.get("status") or {}
        seen["new"] = model_status(live, used_by, datetime.now(UTC))
        return dict(seen["new"])

    live = applier.update_status(API_VERSION, KIND, namespace, name, compute)
    if live is None:
        return None, {}
    return seen.get("old"), seen.get("new", {})


def reconcile_model(body: Mapping[str, Any], uses: Mapping[str, bool] | None = None) -> None:
    """Validate the model, update usedBy (``uses``: see :func:`refresh_model`), and post an event when the
    phase changes."""
    meta = body.get("metadata") or {}
    started = time.monotonic()
    result = "error"
    try:
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        old, new = refresh_model(clients().applier, namespace, name, uses)
        changed = old is not None and new and old.get("phase") != new.get("phase")
        if changed and new.get("phase") == "Rejected":
            events.warn(body, reason=str(new["reason"]), message=str(new["message"]))
        elif changed:
            events.info(body, reason=str(new["reason"]), message=str(new["message"]))
        result = "unchanged" if is_subset(new, old or {}) else "applied"
    finally:
        RECONCILES.labels(kind=KIND, result=result).inc()
        RECONCILE_SECONDS.labels(kind=KIND).observe(time.monotonic() - started)

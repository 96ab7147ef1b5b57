"""The periodic shadow comparison of a FraudPipeline with ``spec.shadowModelRef`` (scheduled by the
operator's background queue, not a kopf timer: a timer makes kopf keep every pipeline's whole body).

Thin like the other handlers: read the pipeline and both models, run the comparison step
(:mod:`fraud_operator.shadow`), write ``status.shadow`` on the pipeline and ``status.comparison`` on the
shadow FraudModel, post Events on transitions. Writes happen only when the figures change, so a quiet
pipeline costs one read-only query per interval and no API writes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fraud_operator.api.common import API_VERSION
from fraud_operator.apply import Applier
from fraud_operator.handlers import events
from fraud_operator.handlers.context import clients
from fraud_operator.handlers.resolve import parse_pipeline
from fraud_operator.handlers.status import condition
from fraud_operator.shadow import (
    COMPARED,
    WAITING_FOR_DATABASE,
    WAITING_FOR_SCORES,
    ShadowOutcome,
    compare_shadow,
    model_comparison,
    pipeline_summary,
    same_figures,
)
from pydantic import ValidationError

__all__ = ["EVENT_AVAILABLE", "EVENT_FAILED", "compare_pipeline"]

EVENT_AVAILABLE = "ShadowComparisonAvailable"
EVENT_FAILED = "ShadowComparisonFailed"
logger = logging.getLogger(__name__)


def _ref(api_version: str, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {key: meta.get(key) for key in ("name", "namespace", "uid")},
    }


def _version(applier: Applier, namespace: str, name: str) -> str | None:
    body = applier.get(API_VERSION, "FraudModel", namespace, name)
    version = ((body or {}).get("spec") or {}).get("version")
    return str(version) if version else None


def _outcome(
    applier: Applier, api_client: Any, live: Mapping[str, Any], shadow: str, active: str | None
) -> ShadowOutcome:
    status = live.get("status") or {}
    migrated = condition(status.get("conditions") or [], "SchemaMigrated") or {}
    if migrated.get("status") != "True":
        why = migrated.get("message") or "not reported yet"
        return ShadowOutcome(WAITING_FOR_DATABASE, f"waiting for the database schema (SchemaMigrated: {why})")
    if not active:
        return ShadowOutcome(WAITING_FOR_SCORES, "waiting for scores: no active model runs yet")
    namespace = str(live["metadata"]["namespace"])
    active_version, shadow_version = (
        _version(applier, namespace, active),
        _version(applier, namespace, shadow),
    )
    if active_version is None or shadow_version is None:
        missing = active if active_version is None else shadow
        return ShadowOutcome(WAITING_FOR_SCORES, f"waiting for scores: FraudModel {missing} not found")
    pipeline = parse_pipeline(live)
    threshold = status.get("alertThreshold")  # the threshold the job runs with (alertBudget resolved)
    return compare_shadow(
        api_client,
        namespace,
        pipeline,
        active_version=active_version,
        shadow_version=shadow_version,
        threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
    )


def compare_pipeline(body: Mapping[str, Any]) -> ShadowOutcome | None:
    """Compare the pipeline's active and shadow model now; None when there is nothing to compare."""
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    try:
        pipeline = parse_pipeline(body)
    except ValidationError:
        return None  # the reconcile reports the invalid spec
    ref = pipeline.spec.shadow_model_ref
    if ref is None:
        return None
    namespace, name = pipeline.metadata.namespace, pipeline.metadata.name
    ctx = clients()
    applier = ctx.applier
    live = applier.get(API_VERSION, "FraudPipeline", namespace, name)
    if live is None:
        return None
    active = (live.get("status") or {}).get("activeModel")
    outcome = _outcome(applier, ctx.api_client, live, ref.name, active)

    seen: dict[str, Any] = {}

    def summarize(current: dict[str, Any]) -> dict[str, Any] | None:
        if current["metadata"].get("uid") != pipeline.metadata.uid:
            return None
        previous = (current.get("status") or {}).get("shadow")
        summary = pipeline_summary(outcome, shadow_model=ref.name, active_model=active, previous=previous)
        seen["previous"] = previous or {}
        return None if same_figures(previous, summary) else {"shadow": summary}

    written = applier.update_status(API_VERSION, "FraudPipeline", namespace, name, summarize)
    if written is not None:
        _announce_pipeline(written, seen.get("previous") or {}, outcome)
    comparison = model_comparison(outcome, pipeline=name, active_model=str(active))
    if comparison is not None:
        _write_model(applier, namespace, ref.name, comparison, outcome)
    return outcome


def _announce_pipeline(body: Mapping[str, Any], previous: Mapping[str, Any], outcome: ShadowOutcome) -> None:
    ref = _ref(API_VERSION, "FraudPipeline", body)
    if outcome.reason == COMPARED and previous.get("reason") != COMPARED:
        events.info(ref, reason=EVENT_AVAILABLE, message=outcome.message)
    elif outcome.failed and (previous.get("reason"), previous.get("message")) != (
        outcome.reason,
        outcome.message,
    ):
        events.warn(ref, reason=EVENT_FAILED, message=outcome.message)


def _write_model(
    applier: Applier, namespace: str, name: str, comparison: dict[str, Any], outcome: ShadowOutcome
) -> None:
    seen: dict[str, Any] = {}

    def compute(live: dict[str, Any]) -> dict[str, Any] | None:
        old = (live.get("status") or {}).get("comparison")
        seen["first"] = not old or (old.get("pipeline"), old.get("activeModel")) != (
            comparison["pipeline"],
            comparison["activeModel"],
        )
        seen["changed"] = not same_figures(old, comparison)
        return {"comparison": comparison} if seen["changed"] else None

    live = applier.update_status(API_VERSION, "FraudModel", namespace, name, compute)
    if live is not None and seen.get("changed") and seen.get("first"):
        events.info(
            _ref(API_VERSION, "FraudModel", live),
            reason=EVENT_AVAILABLE,
            message=f"compared with {comparison['activeModel']} in pipeline {comparison['pipeline']}: "
            + outcome.message[:800],
        )

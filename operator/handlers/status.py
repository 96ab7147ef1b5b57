"""Pure derivation of a FraudPipeline's status from what a reconcile found and what Flink reports.

The specific conditions (Reconciled, ModelResolved, TopicsReady) are written by the reconcile; JobRunning
and the summary conditions (Ready, Progressing, Degraded) are always derived from them plus the mirrored
FlinkDeployment status. Because the derivation reads the stored specific conditions, the FlinkDeployment
watch can recompute the summary without re-running the reconcile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fraud_operator.api.common import ConditionStatus
from fraud_operator.api.conditions import set_condition
from fraud_operator.render.naming import CONFIG_HASH_ANNOTATION

__all__ = [
    "SPECIFIC_CONDITIONS",
    "WAITING_REASONS",
    "Finding",
    "FlinkObservation",
    "ReconcileFacts",
    "condition",
    "observe_flink",
    "pipeline_status",
]

SPECIFIC_CONDITIONS = ("Reconciled", "ModelResolved", "TopicsReady", "SchemaMigrated")
# False for one of these reasons means "not yet", not "broken": Progressing rather than Degraded.
WAITING_REASONS = frozenset({"ModelNotReady", "ClusterNotReady"})
_MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Finding:
    """One specific condition as the reconcile determined it."""

    type: str
    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True)
class ReconcileFacts:
    """What one reconcile of a given generation found, plus the plain status fields it determined."""

    generation: int | None
    findings: Sequence[Finding]
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlinkObservation:
    """The parts of a FlinkDeployment's status that the pipeline mirrors."""

    exists: bool
    job_state: str | None = None
    lifecycle_state: str | None = None
    error: str | None = None
    in_sync: bool = True  # the Flink operator has observed the FlinkDeployment's current generation
    reconciled_config_hash: str | None = None  # config hash of the spec the Flink operator last reconciled


def _error_message(raw: Any) -> str | None:
    """The Flink operator stores errors as JSON ({"type", "message", ...}); keep the human part."""
    if not raw:
        return None
    text = str(raw)
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:_MAX_MESSAGE]
    if isinstance(parsed, dict) and parsed.get("message"):
        kind = str(parsed.get("type") or "").rsplit(".", 1)[-1]
        message = str(parsed["message"])
        return (f"{kind}: {message}" if kind else message)[:_MAX_MESSAGE]
    return text[:_MAX_MESSAGE]


def _reconciled_hash(status: Mapping[str, Any]) -> str | None:
    """Our config-hash annotation in the spec the Flink operator last reconciled (a JSON string)."""
    raw = (status.get("reconciliationStatus") or {}).get("lastReconciledSpec")
    try:
        spec = (json.loads(raw) or {}).get("spec") or {} if raw else {}
        annotations = ((spec.get("podTemplate") or {}).get("metadata") or {}).get("annotations") or {}
    except (ValueError, AttributeError):
        return None
    value = annotations.get(CONFIG_HASH_ANNOTATION)
    return str(value) if value else None


def observe_flink(deployment: Mapping[str, Any] | None) -> FlinkObservation:
    """Read lifecycleState, jobStatus.state and error from a FlinkDeployment (None: it does not exist)."""
    if deployment is None:
        return FlinkObservation(exists=False)
    status = deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    in_sync = observed is None or generation is None or int(observed) >= int(generation)
    return FlinkObservation(
        exists=True,
        job_state=(status.get("jobStatus") or {}).get("state"),
        lifecycle_state=status.get("lifecycleState"),
        error=_error_message(status.get("error")),
        in_sync=in_sync,
        reconciled_config_hash=_reconciled_hash(status),
    )


def condition(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    """The condition of ``type_`` or None."""
    for item in conditions:
        if item.get("type") == type_:
            return item
    return None


def _job_running(flink: FlinkObservation, suspended: bool) -> Finding:
    state, lifecycle = flink.job_state, flink.lifecycle_state
    described = f"job state {state or 'unknown'}, lifecycle state {lifecycle or 'unknown'}"
    if not flink.exists:
        return Finding("JobRunning", "False", "NotDeployed", "the FlinkDeployment does not exist yet")
    if state == "FAILED" or lifecycle == "FAILED":
        return Finding(
            "JobRunning", "False", "JobFailed", flink.error or f"the Flink operator reports {described}"
        )
    if suspended:
        return Finding("JobRunning", "False", "Suspended", f"spec.suspend is true; {described}")
    if state is None and lifecycle is None:
        return Finding(
            "JobRunning",
            "Unknown",
            "WaitingForFlinkOperator",
            "the Flink operator has not reported a status yet",
        )
    if state == "RUNNING":
        return Finding("JobRunning", "True", "JobRunning", described)
    return Finding("JobRunning", "False", "JobNotRunning", described)


def pipeline_status(
    current: Mapping[str, Any],
    *,
    facts: ReconcileFacts | None,
    flink: FlinkObservation,
    suspended: bool,
    now: datetime,
    rolling: tuple[str | None, str] | None = None,
) -> dict[str, Any]:
    """The pipeline's new status fields, computed from the ``current`` status.

    ``facts`` None keeps the specific conditions of the last reconcile (the FlinkDeployment watch).
    ``rolling`` (from, to) names the model roll in flight: the pipeline is not Ready until it completes.
    """
    conditions: list[dict[str, Any]] = [dict(c) for c in current.get("conditions") or []]
    result: dict[str, Any] = {}
    generation = current.get("observedGeneration")

    def put(finding: Finding) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions,
            finding.type,
            finding.status,
            finding.reason,
            finding.message[:_MAX_MESSAGE],
            observed_generation=generation,
            now=now,
        )

    if facts is not None:
        generation = facts.generation
        result.update(facts.fields)
        result["observedGeneration"] = facts.generation
        for finding in facts.findings:
            put(finding)
    result["jobState"] = flink.job_state
    result["lifecycleState"] = flink.lifecycle_state

    job = _job_running(flink, suspended)
    put(job)

    problems: list[tuple[str, str]] = []
    waiting: list[tuple[str, str]] = []
    for type_ in SPECIFIC_CONDITIONS:
        item = condition(conditions, type_)
        if item is not None and item.get("status") == "False":
            entry = (str(item.get("reason") or type_), str(item.get("message") or ""))
            (waiting if entry[0] in WAITING_REASONS else problems).append(entry)
    if job.reason == "JobFailed":
        problems.append((job.reason, job.message))

    ready = (
        not problems
        and not suspended
        and flink.in_sync
        and flink.job_state == "RUNNING"
        and flink.lifecycle_state == "STABLE"
        and rolling is None
    )
    if problems:
        reason = problems[0][0]
        message = "; ".join(msg for _, msg in problems)
        put(Finding("Degraded", "True", reason, message))
        put(Finding("Ready", "False", reason, message))
        put(Finding("Progressing", "False", reason, "blocked until the problem is fixed: " + message))
        return {**result, "conditions": conditions}
    put(Finding("Degraded", "False", "AsExpected", "no problem found"))
    if ready:
        put(Finding("Ready", "True", "PipelineReady", f"job RUNNING and STABLE ({job.message})"))
        put(Finding("Progressing", "False", "PipelineReady", "the pipeline is running its current spec"))
    elif suspended:
        put(Finding("Ready", "False", "Suspended", job.message))
        put(Finding("Progressing", "False", "Suspended", job.message))
    else:
        if waiting:
            reason, message = waiting[0]
        elif rolling is not None and rolling[0]:
            reason = "ModelRolling"
            message = (
                f"rolling from FraudModel {rolling[0]} to {rolling[1]} (savepoint upgrade); waiting for the "
                f"Flink operator to report the job RUNNING and STABLE on the new config ({job.message})"
            )
        elif flink.exists and not flink.in_sync:
            reason = "FlinkDeploymentUpdating"
            message = "the Flink operator has not yet observed the latest FlinkDeployment"
        else:
            reason, message = "WaitingForJob", job.message
        put(Finding("Ready", "False", reason, message))
        put(Finding("Progressing", "True", reason, message))
    return {**result, "conditions": conditions}

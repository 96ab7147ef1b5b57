"""Model rolls tracked in ``status.modelHistory`` (pure): start, completion, failure and rollback.

The status has no separate field for a roll in flight, so the newest modelHistory entry with result
InProgress *is* the roll in flight. ``activeModel`` changes only when the Flink operator reports the job
RUNNING/STABLE on the rendered config (its lastReconciledSpec carries our config-hash annotation), so it
always names the model the running job really uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fraud_operator.handlers.status import Finding, FlinkObservation

__all__ = [
    "IN_PROGRESS",
    "RollPlan",
    "advance_rolls",
    "apply_plan",
    "in_flight",
    "plan_roll",
    "roll_deadline",
    "roll_events",
    "roll_timeout",
]

IN_PROGRESS, SUCCEEDED, FAILED, ROLLED_BACK = "InProgress", "Succeeded", "Failed", "RolledBack"


@dataclass(frozen=True)
class RollPlan:
    """What one reconcile does about the model: which one to render and how the history moves."""

    render: str | None  # model rendered into the ConfigMap and FlinkDeployment (None: leave them alone)
    start: str | None = None  # start a roll to this model
    rollback: str | None = None  # the failed roll to this model is rolled back
    supersede: str | None = None  # a roll in flight to another model gives way to this spec.modelRef
    finding: Finding | None = None  # replaces the ModelResolved finding while the roll state overrides it


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(raw: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def roll_timeout(spec: Mapping[str, Any]) -> float:
    """spec.modelPolicy.rollTimeoutSeconds of a pipeline spec (the CRD default when absent)."""
    return float((spec.get("modelPolicy") or {}).get("rollTimeoutSeconds") or 600)


def roll_deadline(entry: Mapping[str, Any], spec: Mapping[str, Any]) -> float:
    """When (epoch seconds) the roll ``entry`` runs out of time; now when its start is unreadable."""
    started = _parse(entry.get("at"))
    if started is None:
        return datetime.now(UTC).timestamp()
    return started.timestamp() + roll_timeout(spec)


def in_flight(history: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The roll in flight (the newest entry, when it is InProgress)."""
    return history[-1] if history and history[-1].get("result") == IN_PROGRESS else None


def plan_roll(
    status: Mapping[str, Any], *, target: str | None, generation: int | None, auto_rollback: bool
) -> RollPlan:
    """Decide from the live status which model to render, given the resolved ``target`` (None: unusable).

    A roll that failed or was rolled back is not retried for the same spec generation: any later change of
    the pipeline's spec (e.g. pointing modelRef elsewhere and back) retries it.
    """
    active = status.get("activeModel")
    history = list(status.get("modelHistory") or [])
    last = history[-1] if history else None
    flying = in_flight(history)
    if target is None:
        # The spec's model cannot be used: the job keeps the model it runs (or whatever is deployed).
        return RollPlan(render=active, supersede="" if flying is not None and active else None)
    same_generation = generation is not None and status.get("observedGeneration") == generation
    if last is not None and last.get("toModel") == target and same_generation:
        reason = str(last.get("reason") or "")
        if last.get("result") == ROLLED_BACK:
            return RollPlan(
                render=active,
                finding=Finding(
                    "ModelResolved",
                    "False",
                    "ModelRolledBack",
                    f"the roll to FraudModel {target} failed and was rolled back to {active}: {reason}; "
                    "change the pipeline's spec to try again",
                ),
            )
        if last.get("result") == FAILED:
            if auto_rollback and active and active != target:
                return RollPlan(
                    render=active,
                    rollback=target,
                    finding=Finding(
                        "ModelResolved",
                        "False",
                        "ModelRolledBack",
                        f"the roll to FraudModel {target} failed ({reason}); rolling back to {active}",
                    ),
                )
            return RollPlan(
                render=target,
                finding=Finding(
                    "ModelResolved",
                    "False",
                    "ModelRollFailed",
                    f"the roll to FraudModel {target} failed: {reason}"
                    + ("" if auto_rollback else " (modelPolicy.autoRollback is off)"),
                ),
            )
    if target == active:
        return RollPlan(render=target, supersede=target if flying is not None else None)
    if flying is not None and flying.get("toModel") == target:
        return RollPlan(render=target)
    return RollPlan(render=target, start=target, supersede=target if flying is not None else None)


def apply_plan(
    history: Sequence[Mapping[str, Any]], active: str | None, plan: RollPlan | None, now: datetime
) -> list[dict[str, Any]]:
    """The history after the plan's start/supersede/rollback, applied to the *live* status."""
    entries = [dict(entry) for entry in history]
    if plan is None:
        return entries
    flying = in_flight(entries)
    if plan.supersede is not None and flying is not None and flying.get("toModel") != plan.start:
        why = f"spec.modelRef now names {plan.supersede}" if plan.supersede else "spec.modelRef is unusable"
        entries[-1] = {**entries[-1], "result": FAILED, "reason": f"superseded: {why}"}
        flying = None
    if plan.start is not None and flying is None:
        entry: dict[str, Any] = {
            "toModel": plan.start,
            "at": _iso(now),
            "result": IN_PROGRESS,
            "reason": "savepoint upgrade of the FlinkDeployment",
        }
        if active:
            entry["fromModel"] = active
        entries.append(entry)
    if plan.rollback is not None and entries:
        last = entries[-1]
        if last.get("result") == FAILED and last.get("toModel") == plan.rollback:
            entries[-1] = {
                **last,
                "result": ROLLED_BACK,
                "reason": f"{last.get('reason', '')}; rolled back to {active}",
            }
    return entries


def advance_rolls(
    history: Sequence[Mapping[str, Any]],
    active: str | None,
    *,
    flink: FlinkObservation,
    config_hash: str | None,
    timeout_seconds: float,
    now: datetime,
) -> tuple[list[dict[str, Any]], str | None]:
    """Finish the roll in flight from what the Flink operator reports: Succeeded or Failed."""
    entries = [dict(entry) for entry in history]
    flying = in_flight(entries)
    if flying is None:
        return entries, active
    target = str(flying.get("toModel"))
    running = flink.job_state == "RUNNING" and flink.lifecycle_state == "STABLE"
    on_new_spec = flink.in_sync and config_hash is not None and flink.reconciled_config_hash == config_hash
    started = _parse(flying.get("at"))
    if flink.exists and running and on_new_spec:
        entries[-1] = {
            **flying,
            "result": SUCCEEDED,
            "reason": "the Flink operator reports the job RUNNING and STABLE on the new config",
        }
        return entries, target
    if flink.exists and flink.in_sync and "FAILED" in (flink.job_state, flink.lifecycle_state):
        why = flink.error or f"job state {flink.job_state}, lifecycle state {flink.lifecycle_state}"
        entries[-1] = {**flying, "result": FAILED, "reason": f"the Flink operator reports FAILED: {why}"}
    elif started is not None and (now - started).total_seconds() > timeout_seconds:
        entries[-1] = {
            **flying,
            "result": FAILED,
            "reason": (
                f"the job was not RUNNING within modelPolicy.rollTimeoutSeconds ({timeout_seconds:.0f}s)"
            ),
        }
    return entries, active


def roll_events(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events for entries that appeared or changed result.

    A roll that appears already finished (the Flink operator answered before its start was written) still
    gets its ModelRolling Event first, so every roll's Events read the same.
    """
    before = {(e.get("toModel"), e.get("at")): e.get("result") for e in old}
    events = []
    for entry in new:
        result = entry.get("result")
        key = (entry.get("toModel"), entry.get("at"))
        if before.get(key) == result:
            continue
        source, target, why = entry.get("fromModel"), entry.get("toModel"), entry.get("reason", "")
        move = f"{source} -> {target}" if source else f"-> {target}"
        if source and key not in before:
            events.append(("Normal", "ModelRolling", f"rolling {move} with a savepoint upgrade"))
        if result == SUCCEEDED:
            events.append(("Normal", "ModelRolled", f"{move}: {why}"))
        elif result == FAILED:
            events.append(("Warning", "ModelRollFailed", f"{move}: {why}"))
        elif result == ROLLED_BACK:
            events.append(("Warning", "ModelRolledBack", f"{move}: {why}"))
    return events

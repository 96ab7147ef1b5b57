"""Observe and validate one FraudPipeline, ending in a complete plan, before anything is written.

:func:`plan_pipeline` only reads: it parses the spec, resolves the models, renders every child and has the
API server judge each child that would change (a server-side dry run, which persists nothing). Whatever
can refuse a spec refuses it here, as :class:`SpecRefused` naming the field, so that a spec that fails any
check never reaches Kafka, the database or the children; only an accepted plan is acted on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fraud_operator.api.common import API_VERSION
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.apply import Applier, ChildRejected
from fraud_operator.handlers import child_index, verdicts
from fraud_operator.handlers.model_cache import model_body
from fraud_operator.handlers.resolve import describe_error, parse_model, parse_pipeline, resolve_model
from fraud_operator.handlers.rolls import RollPlan, plan_roll
from fraud_operator.handlers.status import Finding, FlinkObservation, observe_flink
from fraud_operator.render import AlertBudgetUnavailable, ScheduleError, render_all
from fraud_operator.render.monitoring import PODMONITOR_API_VERSION
from pydantic import ValidationError

__all__ = ["KIND", "MODEL_KINDS", "PipelinePlan", "SpecRefused", "owned_by", "owner_body", "plan_pipeline"]

KIND = "FraudPipeline"
# Children that exist only with a usable model; never pruned: a missing model must not stop a job.
MODEL_KINDS = ("ConfigMap", "FlinkDeployment")


class SpecRefused(Exception):
    """A spec that fails a check; ``reason`` and ``message`` (naming the field) make its Reconciled."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class PipelinePlan:
    """Everything one reconcile will do, decided before its first write."""

    pipeline: FraudPipeline
    live_status: Mapping[str, Any]  # the live status (the event's body may be seconds old)
    roll: RollPlan
    model: FraudModel | None  # the model rendered (None: the ConfigMap and FlinkDeployment stay as they are)
    shadow: FraudModel | None
    model_finding: Finding
    monitored: Finding
    desired: list[dict[str, Any]]  # every child of the spec, in apply order
    # those that differ from the live objects, adopted (as sent); the API server accepted them
    changed: list[dict[str, Any]]
    new: bool = False  # never reconciled (no status): no child can carry its uid yet, none to prune
    # What the FlinkDeployment's status said when the plan compared it, and the monotonic time by which
    # that was current (its read, or its watch event's arrival); not compared: no entry.
    read: Mapping[str, tuple[FlinkObservation, float]] = field(default_factory=dict)


def owned_by(obj: Mapping[str, Any], uid: str | None) -> bool:
    """Whether ``obj`` has an owner reference to the object with ``uid``."""
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def owner_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline as the owner its children are adopted by."""
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": dict(body.get("metadata") or {})}


def _models(
    applier: Applier, pipeline: FraudPipeline, now: datetime
) -> tuple[FraudModel | None, FraudModel | None, Finding]:
    """The resolved modelRef, the resolved shadowModelRef and the ModelResolved finding.

    The shadow model is resolved even when the main one is unusable, so that keeping the running model
    renders exactly the config the job already has.
    """
    namespace = pipeline.metadata.namespace
    body = model_body(applier, namespace, pipeline.spec.model_ref.name)
    model, finding = resolve_model(pipeline, body, now)
    shadow: FraudModel | None = None
    ref = pipeline.spec.shadow_model_ref
    if ref is not None:
        shadow_body = model_body(applier, namespace, ref.name)
        shadow_pipeline = pipeline.model_copy(
            update={"spec": pipeline.spec.model_copy(update={"model_ref": ref})}
        )
        shadow, shadow_finding = resolve_model(shadow_pipeline, shadow_body, now, "spec.shadowModelRef")
        if model is not None and shadow is None:
            finding = Finding(
                "ModelResolved",
                "True",
                "ShadowModelUnavailable",
                f"{finding.message}; shadow scoring is off: {shadow_finding.message}",
            )
        elif model is not None:
            finding = Finding(
                "ModelResolved", "True", finding.reason, f"{finding.message}; shadow {ref.name}"
            )
    return model, shadow, finding


def _rendered_model(
    applier: Applier, pipeline: FraudPipeline, target: FraudModel | None, name: str | None
) -> FraudModel | None:
    """The model to render: the resolved target, or the running one (its gates were passed when it rolled)."""
    if name is None:
        return None
    if target is not None and target.metadata.name == name:
        return target
    body = model_body(applier, pipeline.metadata.namespace, name)
    if body is None:
        return None
    try:
        return parse_model(body)
    except ValidationError:
        return None


def _monitoring(
    applier: Applier, pipeline: FraudPipeline, children: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Finding]:
    """The children without the PodMonitor where its kind is not served, and the Monitored finding.

    A cluster without the Prometheus Operator is a supported setup, not an error: the pipeline runs, and
    the condition (which Ready does not depend on) says that nothing scrapes its metrics.
    """
    monitors = [c for c in children if c["kind"] == "PodMonitor"]
    if not pipeline.spec.monitoring.enabled:
        return children, Finding("Monitored", "False", "Disabled", "spec.monitoring.enabled is false")
    if not applier.serves(PODMONITOR_API_VERSION, "PodMonitor"):
        kept = [c for c in children if c["kind"] != "PodMonitor"]
        message = (
            f"{PODMONITOR_API_VERSION} PodMonitor is not served here (the Prometheus Operator is not "
            "installed): nothing scrapes the detector's metrics"
        )
        return kept, Finding("Monitored", "False", "PodMonitorNotServed", message)
    names = ", ".join(c["metadata"]["name"] for c in monitors)
    return children, Finding(
        "Monitored", "True", "PodMonitorApplied", f"PodMonitor {names} selects the metrics port"
    )


def _judged(
    applier: Applier,
    desired: list[dict[str, Any]],
    owner: Mapping[str, Any],
    *,
    shape: str,
    new: bool,
    read: dict[str, tuple[FlinkObservation, float]] | None = None,
) -> list[dict[str, Any]]:
    """The children that would change, adopted by ``owner`` (as they are sent), each accepted by a dry run;
    raises SpecRefused on the first refusal.

    A RoleBinding to a Role that this plan creates or changes is not dry-run: the API server judges a
    binding against the Role as stored (its escalation check reads the Role's rules, and an account
    without ``bind`` gets NotFound for a Role that does not exist yet), and a dry run stores no Role.
    The binding is applied after its Role, where that check runs for real.

    ``new``: the pipeline was never reconciled (no status yet), so its children are not read first: all
    of them are applied (a server-side apply of an object that is already so writes nothing).
    A child the watches report as applied with the same hash, and written by no one else since, is not
    read (:mod:`.child_index`); every other one is read and compared.
    Creations are judged once per ``shape`` (:mod:`.verdicts`). What the FlinkDeployment's status said
    is kept in ``read`` (it is mirrored after the act).
    """
    adopted = [applier.adopted(child, owner) for child in desired]
    states = ["absent"] * len(desired)
    uid = (owner.get("metadata") or {}).get("uid")
    if not new:
        for i, obj in enumerate(adopted):
            flink = obj["kind"] == "FlinkDeployment"
            if child_index.unchanged(obj, uid):
                states[i] = "unchanged"
                meta = obj["metadata"]
                known = child_index.flink_state(meta["namespace"], meta["name"]) if flink else None
                if read is not None and known is not None and known.flink is not None:
                    read["FlinkDeployment"] = (known.flink, known.seen_at)
                continue
            seen_at = time.monotonic()
            states[i], live = applier.observe(obj)
            if read is not None and flink:
                owned = live if live is not None and owned_by(live, uid) else None
                read["FlinkDeployment"] = (observe_flink(owned), seen_at)
    created = tuple(desired[i]["kind"] for i, state in enumerate(states) if state == "absent")
    creations_only = all(state != "changed" for state in states)
    if creations_only and verdicts.claim(shape, created):
        return [obj for obj, state in zip(adopted, states, strict=True) if state != "unchanged"]
    try:
        changed = _dry_run(applier, adopted, states)
        if creations_only:
            verdicts.accept(shape, created)
    finally:
        if creations_only:
            verdicts.release(shape, created)
    return changed


def _dry_run(applier: Applier, adopted: list[dict[str, Any]], states: list[str]) -> list[dict[str, Any]]:
    """Dry-run each child that is not unchanged; the children to apply, or SpecRefused on a refusal."""
    changed: list[dict[str, Any]] = []
    for obj, state in zip(adopted, states, strict=True):
        if state == "unchanged":
            continue
        if obj["kind"] == "RoleBinding" and _binds_a_changed_role(obj, changed):
            changed.append(obj)
            continue
        try:
            applier.send(obj, dry_run=True)
        except ChildRejected as exc:
            raise SpecRefused("ApplyRejected", str(exc)) from exc
        changed.append(obj)
    return changed


def _binds_a_changed_role(binding: Mapping[str, Any], changed: list[dict[str, Any]]) -> bool:
    ref = binding.get("roleRef") or {}
    return ref.get("kind") == "Role" and any(
        c["kind"] == "Role" and c["metadata"]["name"] == ref.get("name") for c in changed
    )


def plan_pipeline(applier: Applier, body: Mapping[str, Any]) -> PipelinePlan:
    """Observe and validate: the complete plan for ``body``, or SpecRefused. Sends no write."""
    try:
        pipeline = parse_pipeline(body)
    except ValidationError as exc:
        raise SpecRefused("InvalidSpec", describe_error(exc)) from exc
    target, shadow, model_finding = _models(applier, pipeline, datetime.now(UTC))
    live_status = body.get("status") or {}  # the caller's body is the live pipeline, read under its lock
    roll = plan_roll(
        live_status,
        target=target.metadata.name if target is not None else None,
        generation=(body.get("metadata") or {}).get("generation"),
        auto_rollback=pipeline.spec.model_policy.auto_rollback,
    )
    model = _rendered_model(applier, pipeline, target, roll.render)
    try:
        children = render_all(pipeline, model, shadow)
    except ScheduleError as exc:
        raise SpecRefused("InvalidSpec", str(exc)) from exc
    except AlertBudgetUnavailable as exc:  # the model may change: not final for this generation
        raise SpecRefused("AlertBudgetUnavailable", str(exc)) from exc
    children, monitored = _monitoring(applier, pipeline, children)
    desired = [child for child in children if model is not None or child["kind"] not in MODEL_KINDS]
    read: dict[str, tuple[FlinkObservation, float]] = {}
    return PipelinePlan(
        pipeline=pipeline,
        live_status=live_status,
        roll=roll,
        model=model,
        shadow=shadow,
        model_finding=roll.finding if roll.finding is not None else model_finding,
        monitored=monitored,
        desired=desired,
        changed=_judged(
            applier,
            desired,
            owner_body(body),
            shape=verdicts.shape(pipeline, model, shadow),
            new=not live_status,
            read=read,
        ),
        new=not live_status,
        read=read,
    )

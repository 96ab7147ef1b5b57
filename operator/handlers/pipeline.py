"""Reconciliation of one FraudPipeline: observe -> validate -> render -> act -> status.

Every trigger (create, spec update, resume, the resync timer, a change of a referenced FraudModel) calls
:func:`reconcile`, which is level-based: it computes the whole desired state each time, and the apply layer
turns an unchanged desired state into zero writes. Everything that can refuse a spec runs first
(:mod:`fraud_operator.handlers.plan`), so a refused spec writes nothing to Kafka, the database or children.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from fraud_operator.api.common import API_VERSION
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.apply import Applier, ChildRejected
from fraud_operator.database import DatabaseOutcome, reconcile_database
from fraud_operator.handlers import child_index, events
from fraud_operator.handlers.cleanup import ensure_finalizer
from fraud_operator.handlers.context import clients, pipeline_lock
from fraud_operator.handlers.plan import KIND, PipelinePlan, SpecRefused, owned_by, plan_pipeline
from fraud_operator.handlers.rolls import (
    RollPlan,
    advance_rolls,
    apply_plan,
    in_flight,
    roll_events,
    roll_timeout,
)
from fraud_operator.handlers.status import (
    Finding,
    FlinkObservation,
    ReconcileFacts,
    condition,
    observe_flink,
    pipeline_status,
)
from fraud_operator.metrics import RECONCILE_SECONDS, RECONCILES, record_pipeline_conditions
from fraud_operator.render import alert_threshold, config_hash, detector_config, topic_specs
from fraud_operator.render.monitoring import PODMONITOR_API_VERSION
from fraud_operator.render.naming import MANAGED_BY, PIPELINE_LABEL, flinkdeployment_name, scale_selector
from fraud_operator.settings import KAFKA_TIMEOUT_SECONDS

__all__ = [
    "FLINK_API_VERSION",
    "KIND",
    "PRUNABLE",
    "ReconcileResult",
    "forget_reconciled",
    "mirrored",
    "mirrored_since",
    "reconcile",
    "reconciled_since",
    "roll_just_failed",
    "write_pipeline_status",
]

FLINK_API_VERSION = "flink.apache.org/v1beta1"
STRIMZI_API_VERSION = "kafka.strimzi.io/v1"
# Kinds whose objects disappear from the desired state when a toggle is switched off; removed by the
# reconcile. The ConfigMap and the FlinkDeployment are never pruned: a missing model must not stop a job.
PRUNABLE = (
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    (STRIMZI_API_VERSION, "KafkaTopic"),
    ("batch/v1", "CronJob"),
    (PODMONITOR_API_VERSION, "PodMonitor"),
)

logger = logging.getLogger(__name__)
# Retry delay while Kafka is unreachable; the database step brings its own per-reason backoff.
KAFKA_RETRY_SECONDS = 10.0
# A database schema found current this recently (by another pipeline's reconcile or a level check) is not
# checked again; the level checks keep verifying it once per interval.
_SCHEMA_FRESH_SECONDS = 30.0


@dataclass
class ReconcileResult:
    """What a reconcile did; ``result`` is the metric label (applied, unchanged, invalid, degraded, deleting,
    gone)."""

    result: str
    written: list[str] = field(default_factory=list)
    retry: str | None = None
    retry_after_s: float = KAFKA_RETRY_SECONDS
    roll_failed: bool = False  # this reconcile's status write ended the roll in flight as Failed


def _now() -> datetime:
    return datetime.now(UTC)


def _policy(spec: Mapping[str, Any]) -> tuple[float, int]:
    """rollTimeoutSeconds and historyLimit of the live spec (CRD defaults when absent)."""
    policy = spec.get("modelPolicy") or {}
    return roll_timeout(spec), int(policy.get("historyLimit") or 10)


def _roll_fields(
    old: Mapping[str, Any],
    spec: Mapping[str, Any],
    *,
    facts: ReconcileFacts | None,
    flink: FlinkObservation,
    plan: RollPlan | None,
    now: datetime,
) -> tuple[dict[str, Any], tuple[str | None, str] | None]:
    """modelHistory and activeModel after applying ``plan`` and what Flink reports; and the roll in flight."""
    timeout, limit = _policy(spec)
    active = old.get("activeModel")
    history = apply_plan(old.get("modelHistory") or [], active, plan, now)
    config = (facts.fields.get("configHash") if facts is not None else None) or old.get("configHash")
    history, active = advance_rolls(
        history, active, flink=flink, config_hash=config, timeout_seconds=timeout, now=now
    )
    history = history[-limit:]
    fields: dict[str, Any] = {}
    if history != list(old.get("modelHistory") or []):
        fields["modelHistory"] = history
    if active and active != old.get("activeModel"):
        fields["activeModel"] = active
    flying = in_flight(history)
    rolling = (flying.get("fromModel"), str(flying.get("toModel"))) if flying is not None else None
    return fields, rolling


def write_pipeline_status(
    applier: Applier,
    namespace: str,
    name: str,
    *,
    facts: ReconcileFacts | None,
    flink: FlinkObservation,
    flink_seen_at: float,
    only_uid: str | None = None,
    plan: RollPlan | None = None,
    known: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Recompute and write the pipeline's status; returns (old status, new status) for event decisions.

    Model rolls advance here, against the live status, so the FlinkDeployment watch and the reconcile
    never overwrite each other's bookkeeping. ``known``: the pipeline as read under its lock by the caller
    (see :meth:`Applier.update_status`). ``flink_seen_at``: the monotonic time by which ``flink`` was
    current (before the read it comes from, or the watch event's arrival): see :func:`mirrored_since`.
    """
    seen: dict[str, Any] = {}

    def compute(live: dict[str, Any]) -> dict[str, Any] | None:
        if only_uid is not None and live["metadata"].get("uid") != only_uid:
            return None
        if live["metadata"].get("deletionTimestamp"):
            return None  # kopf is about to release its finalizer; a write now would race with it
        old = live.get("status") or {}
        spec = live.get("spec") or {}
        now = _now()
        rolls, rolling = _roll_fields(old, spec, facts=facts, flink=flink, plan=plan, now=now)
        new: dict[str, Any] = pipeline_status(
            old, facts=facts, flink=flink, suspended=bool(spec.get("suspend")), now=now, rolling=rolling
        )
        new.update(rolls)
        seen["old"], seen["new"] = old, new
        return new

    live = applier.update_status(API_VERSION, KIND, namespace, name, compute, known=known)
    if live is None or "new" not in seen:
        return None, {}
    _mirrored[(namespace, name)] = (flink, flink_seen_at)
    new = seen["new"]
    record_pipeline_conditions(namespace, name, {c["type"]: c["status"] for c in new.get("conditions", [])})
    return seen["old"], new


def roll_just_failed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether a status write moved the newest roll to Failed (a timeout, or Flink reported FAILED).

    Its rollback (modelPolicy.autoRollback) is planned by the next reconcile, which must follow at once:
    no event would bring it.
    """
    history = new.get("modelHistory") if new else None
    if not history or old is None or history[-1].get("result") != "Failed":
        return False
    return bool(list(old.get("modelHistory") or []) != list(history))


def announce(body: Mapping[str, Any], old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
    """Events for transitions of Ready, Degraded and model rolls only, so a steady pipeline posts nothing."""
    if old is None or not new:
        return
    if "modelHistory" in new:
        for type_, reason, message in roll_events(old.get("modelHistory") or [], new["modelHistory"]):
            events.post(body, type_, reason, message)
    before = {c.get("type"): c for c in old.get("conditions") or []}
    for type_ in ("Degraded", "Ready"):
        after = condition(new.get("conditions") or [], type_)
        if after is None:
            continue
        previous = before.get(type_) or {}
        if previous.get("status") == after.get("status") and previous.get("reason") == after.get("reason"):
            continue
        reason, message = str(after.get("reason")), str(after.get("message"))
        if type_ == "Degraded" and after.get("status") == "True":
            events.warn(body, reason=reason, message=message)
        elif type_ == "Ready" and after.get("status") == "True":
            events.info(body, reason="Ready", message=message)


def _topics_finding(
    applier: Applier, pipeline: FraudPipeline, core: Any
) -> tuple[Finding, list[str], str | None]:
    """TopicsReady: admin-API mode talks to Kafka here; Strimzi mode only checks the named cluster.

    Returns the finding, the changes made (admin mode) and a retry hint for transient trouble.
    """
    kafka = pipeline.spec.kafka
    names = [spec.name for spec in topic_specs(pipeline)]
    cluster = kafka.strimzi_cluster
    if cluster is not None:
        if applier.serves(STRIMZI_API_VERSION, "Kafka"):
            if applier.get(STRIMZI_API_VERSION, "Kafka", pipeline.metadata.namespace, cluster) is None:
                return (
                    Finding(
                        "TopicsReady",
                        "False",
                        "StrimziClusterNotFound",
                        f"spec.kafka.strimziCluster: Kafka {cluster} not found in namespace "
                        f"{pipeline.metadata.namespace}",
                    ),
                    [],
                    None,
                )
            note = ""
        else:
            note = f"; the Strimzi Kafka kind is not served here, so cluster {cluster} was not checked"
        return (
            Finding("TopicsReady", "True", "KafkaTopicsApplied", f"KafkaTopics for {', '.join(names)}{note}"),
            [],
            None,
        )
    # Admin-API mode only: the Kafka client (librdkafka, 13 MB resident) is not loaded in Strimzi mode.
    from fraud_operator.topics import CredentialsError, KafkaUnavailable, admin_config, reconcile_topics

    try:
        conf = admin_config(pipeline, core)
        outcome = reconcile_topics(conf, topic_specs(pipeline), timeout=KAFKA_TIMEOUT_SECONDS.value())
    except CredentialsError as exc:
        return (
            Finding("TopicsReady", "False", "CredentialsNotFound", f"spec.kafka.credentialsSecretRef: {exc}"),
            [],
            None,
        )
    except KafkaUnavailable as exc:
        message = f"spec.kafka.bootstrapServers: Kafka at {kafka.bootstrap_servers} unreachable: {exc}"
        return Finding("TopicsReady", "False", "KafkaUnreachable", message), [], message
    # What Kafka refused (partitions, replication factor, configs) follows from spec.kafka.topics/Overrides.
    message = outcome.message if outcome.ready else f"spec.kafka.topics: {outcome.message}"
    return (
        Finding("TopicsReady", "True" if outcome.ready else "False", outcome.reason, message),
        outcome.changes,
        None,
    )


def _prune(applier: Applier, pipeline: FraudPipeline, desired: list[dict[str, Any]]) -> list[str]:
    """Delete the children of the prunable kinds the spec no longer renders.

    They are found in the watches' index (:mod:`.child_index`); a kind whose watch has not listed yet (a
    start-up) is listed by its labels, as is every kind in the index's absence.
    """
    keep = {(d["kind"], d["metadata"]["name"]) for d in desired}
    namespace, uid = pipeline.metadata.namespace, pipeline.metadata.uid
    selector = f"{PIPELINE_LABEL}={pipeline.metadata.name},app.kubernetes.io/managed-by={MANAGED_BY}"
    removed = []
    for api_version, kind in PRUNABLE:
        names = child_index.owned(kind, namespace, uid)
        if names is None:
            if not applier.serves(api_version, kind):
                continue
            names = [
                obj["metadata"]["name"]
                for obj in applier.list(api_version, kind, namespace, selector)
                if owned_by(obj, uid)
            ]
        for name in names:
            if (kind, name) not in keep:
                applier.delete(api_version, kind, namespace, name)
                removed.append(f"deleted {kind} {name}")
    return removed


def _database_finding(
    api_client: Any, pipeline: FraudPipeline, attempt: int
) -> tuple[Finding, dict[str, Any], DatabaseOutcome]:
    """Run the database step (wait for CNPG, migrate as the app user) and express it as SchemaMigrated.

    Level-based like the rest: with nothing pending, migrate() takes its lock, finds the history complete
    and writes nothing. ``attempt`` (kopf's ``retry``) lengthens the outcome's ``retry_after_s``.
    """
    outcome = reconcile_database(
        api_client, pipeline.metadata.namespace, pipeline, attempt=attempt, fresh_within=_SCHEMA_FRESH_SECONDS
    )
    # A cluster CNPG reports as stuck is a problem to fix (Degraded), not something to wait for.
    reason = (
        "ClusterUnhealthy" if outcome.degraded and outcome.reason == "ClusterNotReady" else outcome.reason
    )
    message = outcome.message
    if not outcome.migrated and "spec." not in message:
        message = f"spec.database: {message}"  # e.g. the database named there does not exist
    finding = Finding(outcome.type, outcome.status, reason, message)
    fields = {"schemaVersion": outcome.schema_version} if outcome.migrated else {}
    return finding, fields, outcome


def _migrations_applied(outcome: DatabaseOutcome) -> list[str]:
    """The migrations this reconcile applied, for the Applied Event (the condition only names the version)."""
    if not outcome.applied:
        return []
    versions = ", ".join(f"{v:03d}" for v in outcome.applied)
    return [f"schema migrations {versions} applied (now at version {outcome.schema_version})"]


def _refuse(body: Mapping[str, Any], refused: SpecRefused) -> ReconcileResult:
    """A spec that fails a check: Degraded naming the field, and nothing written but the status.

    InvalidSpec is final for this generation (kopf.PermanentError: fix the spec); a child the API server
    refused is reported the same way and tried again on the next trigger.
    """
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    facts = ReconcileFacts(
        generation=meta.get("generation"),
        findings=[Finding("Reconciled", "False", refused.reason, refused.message)],
    )
    applier = clients().applier
    seen_at = time.monotonic()
    deployment = applier.get(FLINK_API_VERSION, "FlinkDeployment", namespace, name)
    owned = deployment if deployment is not None and owned_by(deployment, meta.get("uid")) else None
    old, new = write_pipeline_status(
        applier,
        namespace,
        name,
        facts=facts,
        flink=observe_flink(owned),
        flink_seen_at=seen_at,
        only_uid=meta.get("uid"),
    )
    announce(body, old, new)
    if refused.reason == "InvalidSpec":
        raise kopf.PermanentError(f"invalid spec: {refused.message}")
    return ReconcileResult("degraded")


def _act(applier: Applier, plan: PipelinePlan) -> tuple[list[str], list[str]]:
    """Apply the children the plan found changed and prune the ones the spec dropped: (written, rejected).

    The plan compared each of them with its live object moments ago (its dry run), so they are not read again.
    A pipeline never reconciled before has nothing to prune (only objects owned by its uid are), so its
    five label-selected lists, each scanning every object of its kind in the namespace, are not sent. (An
    operator stopped between a first apply and its status write can leave some; the next reconcile of the
    pipeline, a restart's at the latest, prunes them.)
    """
    written: list[str] = []
    rejected: list[str] = []
    for child in plan.changed:  # adopted by the plan already
        try:
            if applier.send(child):
                written.append(f"{child['kind']} {child['metadata']['name']}")
        except ChildRejected as exc:  # accepted by the dry run moments ago; e.g. a concurrent change
            rejected.append(str(exc))
    if not plan.new:
        written.extend(_prune(applier, plan.pipeline, plan.desired))
    return written, rejected


def _applies_flink(plan: PipelinePlan) -> bool:
    """Whether the plan applies the FlinkDeployment (creates it, or changes it)."""
    return any(child["kind"] == "FlinkDeployment" for child in plan.changed)


def _flink_deployment(
    applier: Applier, plan: PipelinePlan, acted_at: float
) -> tuple[FlinkObservation, float]:
    """What the status of the FlinkDeployment this reconcile writes says, and the time by which that was
    current: what this reconcile observed (:func:`_observed_flink`), unless the watch or an earlier status
    write knows a newer state.

    A reconcile may wait long between its plan's reads and its status write (for another one's verdict on
    a new shape, for the API server under load). A newer event of the FlinkDeployment that arrived
    meanwhile was either mirrored already, by the status write of a reconcile that read it (its event then
    matched the status and queued nothing), or is still in the index: writing the older observation then
    would put an older state back, for good (seen at a cold start of 1,000 pipelines with 8 workers: a job
    reported RUNNING, shown as waiting for the Flink operator until the next restart).
    """
    flink, seen_at = _observed_flink(applier, plan, acted_at)
    pipeline = plan.pipeline
    namespace, uid = pipeline.metadata.namespace, pipeline.metadata.uid
    newest = [(flink, seen_at)]
    written = _mirrored.get((namespace, pipeline.metadata.name))
    if written is not None:
        newest.append(written)
    # Not after an update of an existing one: an event of its older spec may still be on its way (it was
    # read after the apply instead).
    updated = not plan.new and _applies_flink(plan)
    known = None if updated else child_index.flink_state(namespace, flinkdeployment_name(pipeline))
    if known is not None and known.flink is not None and known.owner_uid == uid:
        newest.append((known.flink, known.seen_at))
    return max(newest, key=lambda observed: observed[1])


def _observed_flink(applier: Applier, plan: PipelinePlan, acted_at: float) -> tuple[FlinkObservation, float]:
    """The FlinkDeployment's status as this reconcile observed it: as the plan found it when it was not
    applied since; for one this reconcile created (a new pipeline's), its latest watch event if that
    arrived after the act began (``acted_at``), as every event of it does; else read now (after the other
    children's applies: by then a new one may have a status).

    A status change after that is a watch event of its own, mirrored after this reconcile's status
    write (:func:`mirrored_since` then says its arrival came later).
    """
    applied = _applies_flink(plan)
    if "FlinkDeployment" in plan.read and not applied:
        return plan.read["FlinkDeployment"]
    pipeline = plan.pipeline
    namespace, name, uid = pipeline.metadata.namespace, flinkdeployment_name(pipeline), pipeline.metadata.uid
    if plan.new:
        known = child_index.flink_state(namespace, name)
        if (
            known is not None
            and known.flink is not None
            and known.owner_uid == uid
            and known.seen_at > acted_at
        ):
            return known.flink, known.seen_at
    seen_at = time.monotonic()
    deployment = applier.get(FLINK_API_VERSION, "FlinkDeployment", namespace, name)
    owned = deployment if deployment is not None and owned_by(deployment, uid) else None
    return observe_flink(owned), seen_at


def _status_fields(
    plan: PipelinePlan, flink: FlinkObservation, rejected: list[str], db_fields: Mapping[str, Any]
) -> dict[str, Any]:
    pipeline, model, shadow = plan.pipeline, plan.model, plan.shadow
    fields: dict[str, Any] = {
        "selector": scale_selector(pipeline),
        "topics": [spec.name for spec in topic_specs(pipeline)],
        **db_fields,
    }
    if model is not None and not any("FlinkDeployment" in r for r in rejected):
        fields.update(
            {
                "shadowModel": shadow.metadata.name if shadow is not None else None,
                "parallelism": pipeline.spec.detector.parallelism,
                "flinkDeployment": flinkdeployment_name(pipeline),
                "configHash": config_hash(detector_config(pipeline, model, shadow)),
                "alertThreshold": alert_threshold(pipeline.spec.detector, model),
            }
        )
    elif flink.exists:
        fields["flinkDeployment"] = flinkdeployment_name(pipeline)
    summary = plan.live_status.get("shadow") or {}
    ref = pipeline.spec.shadow_model_ref
    if summary and (ref is None or summary.get("model") != ref.name):
        fields["shadow"] = None  # the comparison was of a shadow model the pipeline no longer scores
    return fields


def _reconcile_locked(body: Mapping[str, Any], attempt: int) -> ReconcileResult:
    """observe -> validate -> render (:func:`plan_pipeline`, no writes) -> act -> status."""
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return ReconcileResult("deleting")  # children go with the garbage collector
    ctx = clients()
    applier = ctx.applier
    try:
        plan = plan_pipeline(applier, body)
    except SpecRefused as refused:
        return _refuse(body, refused)
    pipeline = plan.pipeline
    namespace, name = pipeline.metadata.namespace, pipeline.metadata.name

    # Before any topic exists: a pipeline deleted from now on keeps its finalizer until they are gone.
    current = ensure_finalizer(applier, body)
    if current is None:
        return ReconcileResult("gone")
    body = current
    topics_finding, topic_changes, retry = _topics_finding(applier, pipeline, ctx.core)
    db_finding, db_fields, db_outcome = _database_finding(ctx.api_client, pipeline, attempt)
    acted_at = time.monotonic()
    written, rejected = _act(applier, plan)

    flink, seen_at = _flink_deployment(applier, plan, acted_at)
    reconciled = (
        Finding("Reconciled", "False", "ApplyRejected", "; ".join(rejected))
        if rejected
        else Finding("Reconciled", "True", "Applied", f"{len(plan.desired)} children match the spec")
    )
    facts = ReconcileFacts(
        generation=meta.get("generation"),
        findings=[reconciled, plan.model_finding, topics_finding, db_finding, plan.monitored],
        fields=_status_fields(plan, flink, rejected, db_fields),
    )
    # The pipeline was read under its lock at the start, and only writers holding the lock write its
    # status: that read serves as the status write's first attempt (a spec edit since makes it a 409).
    old, new = write_pipeline_status(
        applier,
        namespace,
        name,
        facts=facts,
        flink=flink,
        flink_seen_at=seen_at,
        only_uid=pipeline.metadata.uid,
        plan=plan.roll,
        known=dict(body),
    )
    changes = written + topic_changes + _migrations_applied(db_outcome)
    if changes:
        events.info(body, reason="Applied", message="; ".join(changes))
    announce(body, old, new)
    degraded = condition(new.get("conditions") or [], "Degraded") if new else None
    outcome = "applied" if changes else "unchanged"
    if degraded is not None and degraded.get("status") == "True":
        outcome = "degraded"
    delays = [KAFKA_RETRY_SECONDS] if retry is not None else []
    if not db_outcome.migrated and db_outcome.retry_after_s is not None:
        retry = retry or db_outcome.message
        delays.append(db_outcome.retry_after_s)
    return ReconcileResult(
        outcome,
        changes,
        retry,
        min(delays, default=KAFKA_RETRY_SECONDS),
        roll_failed=roll_just_failed(old, new),
    )


def _live(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pipeline as the API server holds it now, or None when it is gone (or replaced by another with its
    name). A caller's body can be older: a model event reconciles every pipeline from one listing, and any
    event may have waited for the lock; reconciling that body would re-apply an older spec over a newer
    edit (and on a cluster, roll the job twice)."""
    meta = body.get("metadata") or {}
    live = clients().applier.get(API_VERSION, KIND, str(meta.get("namespace")), str(meta.get("name")))
    if live is None or (live.get("metadata") or {}).get("uid") != meta.get("uid"):
        return None
    return live


# (namespace, name) -> monotonic time the latest reconcile of the pipeline took its lock (and read it)
_reconciled_at: dict[tuple[str, str], float] = {}
# (namespace, name) -> the FlinkDeployment as the pipeline's latest status write observed it
# (namespace, name) -> the FlinkDeployment as the pipeline's latest status write observed it, and the
# monotonic time by which that observation was current
_mirrored: dict[tuple[str, str], tuple[FlinkObservation, float]] = {}


def mirrored(namespace: str, name: str) -> FlinkObservation | None:
    """What the pipeline's status last said of its FlinkDeployment (None: not written by this process)."""
    entry = _mirrored.get((namespace, name))
    return entry[0] if entry is not None else None


def mirrored_since(namespace: str, name: str, arrived: float) -> bool:
    """Whether the pipeline's latest status write observed its FlinkDeployment as it was after ``arrived``
    (a watch event's monotonic arrival): the event's state is then as old as what the status says, or
    older, and mirroring it would put an older state back (a job reported RUNNING shown as pending)."""
    entry = _mirrored.get((namespace, name))
    return entry is not None and entry[1] >= arrived


def reconciled_since(namespace: str, name: str, since: float) -> bool:
    """Whether a reconcile of the pipeline read it (and its models and children) after ``since``
    (time.monotonic()): a trigger from before then needs no reconcile of its own."""
    return _reconciled_at.get((namespace, name), float("-inf")) > since


def forget_reconciled(namespace: str, name: str) -> None:
    """Drop a deleted pipeline's entries."""
    _reconciled_at.pop((namespace, name), None)
    _mirrored.pop((namespace, name), None)


def reconcile(
    body: Mapping[str, Any], *, attempt: int = 0, new: Mapping[str, Any] | None = None
) -> ReconcileResult:
    """Reconcile one pipeline as it is now (:func:`_live`); raises kopf.TemporaryError (retry later) or
    kopf.PermanentError (bad spec).

    ``attempt`` is kopf's ``retry`` of the calling handler (0 on the first try): the database step's
    backoff grows with it, and the TemporaryError asks kopf to wait that long. ``new``: the latest watch
    event of a pipeline that has no status yet, reconciled instead of a read (nothing but its creation and
    its spec's edits, which each bring a newer event, has happened to it; its status write carries the
    event's resourceVersion, so a change the event lacks makes it a conflict, read and recomputed).
    """
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    started = time.monotonic()
    result = "error"
    try:
        with pipeline_lock(namespace, name):
            _reconciled_at[(namespace, name)] = time.monotonic()
            fresh = new is not None and (new.get("metadata") or {}).get("uid") == meta.get("uid")
            live = new if fresh else _live(body)
            outcome = ReconcileResult("gone") if live is None else _reconcile_locked(live, attempt)
            if outcome.roll_failed:
                # The roll just failed: roll back now, from the status just written.
                live = _live(body)
                outcome = ReconcileResult("gone") if live is None else _reconcile_locked(live, attempt)
        result = outcome.result
    except kopf.PermanentError:
        result = "invalid"
        raise
    finally:
        RECONCILES.labels(kind=KIND, result=result).inc()
        RECONCILE_SECONDS.labels(kind=KIND).observe(time.monotonic() - started)
    if outcome.retry is not None:
        raise kopf.TemporaryError(outcome.retry, delay=outcome.retry_after_s)
    return outcome

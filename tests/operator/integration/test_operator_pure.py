"""The pure decisions under the handlers: when the apply layer skips, and how conditions are derived."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.apply import applied_hash, is_subset, owner_of
from fraud_operator.handlers.models import model_status, pipelines_using
from fraud_operator.handlers.resolve import resolve_model
from fraud_operator.handlers.status import (
    Finding,
    FlinkObservation,
    ReconcileFacts,
    observe_flink,
    pipeline_status,
)
from streamflow_dev.standins.flink_operator import flink_error

from tests.operator.integration.conftest import sample

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OK = [
    Finding("Reconciled", "True", "Applied", "17 children match the spec"),
    Finding("ModelResolved", "True", "ModelReady", "iforest-v1"),
    Finding("TopicsReady", "True", "KafkaTopicsApplied", "5 topics"),
]


def _types(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_subset_ignores_server_defaults_but_not_changed_or_removed_items() -> None:
    live = {"spec": {"ports": [{"port": 80, "protocol": "TCP"}], "x": 1.0}, "status": {"a": 1}}
    assert is_subset({"spec": {"ports": [{"port": 80}], "x": 1}}, live)
    assert not is_subset({"spec": {"ports": [{"port": 81}]}}, live)
    assert not is_subset({"spec": {"ports": []}}, live), "a list that lost an item is a change"
    assert not is_subset({"spec": {"y": 2}}, live)
    assert is_subset({"status": {"b": None}}, live), "null means absent, as in a merge patch"
    assert not is_subset({"spec": {"x": True}}, {"spec": {"x": 1}}), "booleans are not numbers"


def test_applied_hash_changes_with_any_field_and_owner_drops_labels() -> None:
    obj = {"kind": "ConfigMap", "data": {"a": "1"}}
    assert applied_hash(obj) == applied_hash({"data": {"a": "1"}, "kind": "ConfigMap"})
    assert applied_hash(obj) != applied_hash({"kind": "ConfigMap", "data": {}})
    owner = {"apiVersion": "v", "kind": "K", "metadata": {"name": "n", "uid": "u", "labels": {"argocd": "x"}}}
    assert "labels" not in owner_of(owner)["metadata"]


def test_ready_needs_running_stable_and_an_observed_generation() -> None:
    facts = ReconcileFacts(generation=3, findings=OK, fields={"parallelism": 2})
    running = FlinkObservation(exists=True, job_state="RUNNING", lifecycle_state="STABLE")
    status = pipeline_status({}, facts=facts, flink=running, suspended=False, now=NOW)
    assert _types(status)["Ready"] == ("True", "PipelineReady")
    assert status["observedGeneration"] == 3 and status["parallelism"] == 2
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])

    stale = FlinkObservation(exists=True, job_state="RUNNING", lifecycle_state="STABLE", in_sync=False)
    later = pipeline_status(status, facts=None, flink=stale, suspended=False, now=NOW)
    assert _types(later)["Ready"] == ("False", "FlinkDeploymentUpdating")
    assert _types(later)["Progressing"] == ("True", "FlinkDeploymentUpdating")
    ready = next(c for c in status["conditions"] if c["type"] == "Degraded")
    again = next(c for c in later["conditions"] if c["type"] == "Degraded")
    assert ready["lastTransitionTime"] == again["lastTransitionTime"], "unchanged status keeps its time"


def test_failed_job_and_missing_model_degrade_with_reason() -> None:
    deployment = {
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 2,
            "lifecycleState": "FAILED",
            "jobStatus": {"state": "FAILED"},
            "error": flink_error("Task failed"),
        },
    }
    failed = observe_flink(deployment)
    status = pipeline_status({}, facts=ReconcileFacts(2, OK), flink=failed, suspended=False, now=NOW)
    assert _types(status)["Degraded"] == ("True", "JobFailed")
    assert (
        next(c for c in status["conditions"] if c["type"] == "Degraded")["message"]
        == "JobException: Task failed"
    )

    missing = [*OK[:1], Finding("ModelResolved", "False", "ModelNotFound", "FraudModel m not found"), OK[2]]
    status = pipeline_status(
        {}, facts=ReconcileFacts(1, missing), flink=FlinkObservation(False), suspended=False, now=NOW
    )
    assert _types(status)["Degraded"] == ("True", "ModelNotFound")
    assert _types(status)["Ready"] == ("False", "ModelNotFound")
    assert _types(status)["JobRunning"] == ("False", "NotDeployed")

    pending = [*OK[:1], Finding("ModelResolved", "False", "ModelNotReady", "not validated yet"), OK[2]]
    status = pipeline_status(
        {}, facts=ReconcileFacts(1, pending), flink=FlinkObservation(False), suspended=False, now=NOW
    )
    assert _types(status)["Degraded"] == ("False", "AsExpected"), "waiting for validation is not a failure"
    assert _types(status)["Progressing"] == ("True", "ModelNotReady")


def test_model_gates_and_used_by() -> None:
    doc = sample("fraudpipeline-payments")
    doc["spec"]["modelPolicy"]["minAuc"] = 0.9
    pipeline = FraudPipeline.model_validate(doc)
    model = sample("fraudmodel-iforest-v1") | {"status": {"phase": "Ready"}}
    resolved, finding = resolve_model(pipeline, model, NOW)
    assert resolved is None and finding.reason == "ModelPolicyViolation" and "minAuc 0.9" in finding.message
    assert resolve_model(pipeline, None, NOW)[1].reason == "ModelNotFound"
    assert resolve_model(pipeline, sample("fraudmodel-iforest-v1"), NOW)[1].reason == "ModelNotReady"

    status = model_status(sample("fraudmodel-iforest-v1"), ["payments"], NOW)
    assert (status["phase"], status["reason"], status["usedBy"]) == ("Ready", "Validated", ["payments"])
    future = sample("fraudmodel-iforest-v1")
    future["spec"]["trainingWindow"]["end"] = "2027-01-01T00:00:00Z"
    assert model_status(future, [], NOW)["reason"] == "TrainingWindowInFuture"
    pipelines = [
        sample("fraudpipeline-payments"),
        {"metadata": {"name": "b"}, "spec": {"modelRef": {"name": "x"}}},
    ]
    assert pipelines_using(pipelines, "hgb-v2") == ["payments"]

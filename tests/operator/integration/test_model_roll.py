"""Model rolls on the real API server: validation, savepoint roll, automatic rollback, shadow scoring.

Artifacts are real compiled models (fraud_models) written as file:// URIs; the Flink operator's status is
written by ``write_flink_operator_status`` in the order the Flink operator uses (upgrade, then RUNNING or
FAILED on the new spec).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fraud_operator.handlers.rolls import advance_rolls, plan_roll
from fraud_operator.handlers.status import FlinkObservation, ReconcileFacts, pipeline_status
from fraud_operator.render.naming import CONFIG_HASH_ANNOTATION
from kopf.testing import KopfRunner
from streamflow_dev.standins.flink_operator import (
    write_flink_job_failed,
    write_flink_operator_status,
)

from tests.conftest import wait_for
from tests.operator.handlers.model_artifacts import compiled_artifact, model_doc
from tests.operator.integration.conftest import Cluster, sample

FLINK = "flink.apache.org/v1beta1"
MODELS = "streamflow.io/v1alpha1"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _artifact(directory: Path, version: str, seed: int) -> tuple[str, str]:
    """A tiny real compiled IsolationForest; (file URI, sha256)."""
    path = directory / f"{version}.npz"
    return path.as_uri(), compiled_artifact(path, version, seed)


def _pipeline(model: str, shadow: str | None = None, auto_rollback: bool = True) -> dict[str, Any]:
    doc = sample("fraudpipeline-payments")
    doc["spec"]["modelRef"] = {"name": model}
    doc["spec"].pop("shadowModelRef")
    if shadow is not None:
        doc["spec"]["shadowModelRef"] = {"name": shadow}
    doc["spec"]["modelPolicy"]["autoRollback"] = auto_rollback
    return doc


def _phase(cluster: Cluster, name: str) -> tuple[str | None, str | None]:
    status = (cluster.get(MODELS, "FraudModel", name) or {}).get("status") or {}
    return status.get("phase"), status.get("reason")


def _deployment(cluster: Cluster) -> dict[str, Any]:
    found = cluster.get(FLINK, "FlinkDeployment", "payments")
    assert found is not None
    return found


def _config(cluster: Cluster) -> dict[str, Any]:
    cm = cluster.get("v1", "ConfigMap", "payments-detector-config")
    assert cm is not None
    return dict(json.loads(cm["data"]["detector.json"]))


def _ready_on(cluster: Cluster, pipeline: dict[str, Any], *models: dict[str, Any]) -> dict[str, Any]:
    """Apply models and pipeline, play the Flink operator's first deployment; the pipeline is Ready."""
    cluster.apply(*models)
    for doc in models:
        wait_for(lambda doc=doc: _phase(cluster, doc["metadata"]["name"])[0], what="model validated")
    cluster.apply(pipeline)
    wait_for(lambda: cluster.get(FLINK, "FlinkDeployment", "payments"), what="the FlinkDeployment")
    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    cluster.wait_condition("payments", "Ready", "True")
    return _deployment(cluster)


def _patch_model(cluster: Cluster, name: str) -> None:
    cluster.kubectl(
        "patch", "fp/payments", "--type=merge", "-p", json.dumps({"spec": {"modelRef": {"name": name}}})
    )


@pytest.mark.cluster
def test_roll_succeeds_with_one_savepoint_upgrade(
    operator: KopfRunner, cluster: Cluster, tmp_path: Path
) -> None:
    a, b = _artifact(tmp_path, "a", 1), _artifact(tmp_path, "b", 2)
    before = _ready_on(cluster, _pipeline("model-a"), model_doc("model-a", *a), model_doc("model-b", *b))
    status = cluster.pipeline("payments")["status"]
    assert status["activeModel"] == "model-a"
    assert [(e.get("fromModel"), e["toModel"], e["result"]) for e in status["modelHistory"]] == [
        (None, "model-a", "Succeeded")
    ]
    generation = before["metadata"]["generation"]

    _patch_model(cluster, "model-b")
    rolling = cluster.wait_condition("payments", "Progressing", "True", "ModelRolling")
    assert "model-a" in rolling["message"] and "model-b" in rolling["message"]
    after = wait_for(
        lambda: (d := _deployment(cluster))["metadata"]["generation"] > generation and d, what="the upgrade"
    )
    assert after["metadata"]["generation"] == generation + 1
    assert after["spec"]["job"]["upgradeMode"] == "savepoint"
    annotations = after["spec"]["podTemplate"]["metadata"]["annotations"]
    assert (
        annotations[CONFIG_HASH_ANNOTATION]
        != before["spec"]["podTemplate"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
    )
    assert _config(cluster)["model"]["name"] == "model-b"
    rolling_status = cluster.pipeline("payments")["status"]
    assert rolling_status["activeModel"] == "model-a", "not active before Flink reports the new job"
    assert rolling_status["modelHistory"][-1]["result"] == "InProgress"
    assert cluster.condition("payments", "Ready")["status"] == "False"

    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    cluster.wait_condition("payments", "Ready", "True")
    status = cluster.pipeline("payments")["status"]
    assert status["activeModel"] == "model-b"
    last = status["modelHistory"][-1]
    assert (last["fromModel"], last["toModel"], last["result"]) == ("model-a", "model-b", "Succeeded")
    events = wait_for(
        lambda: [e for e in cluster.events("ModelRolled") if "model-a -> model-b" in e["message"]],
        what="a ModelRolled event",
    )
    assert events[0]["type"] == "Normal"
    assert _deployment(cluster)["metadata"]["generation"] == generation + 1, "the spec changed exactly once"


@pytest.mark.cluster
def test_invalid_models_are_rejected_and_the_job_untouched_shadow_in_config(
    operator: KopfRunner, cluster: Cluster, tmp_path: Path
) -> None:
    a, b = _artifact(tmp_path, "a", 1), _artifact(tmp_path, "b", 2)
    bad = {
        "bad-digest": (model_doc("bad-digest", b[0], a[1]), "ArtifactDigestMismatch"),
        "bad-schema": (
            model_doc("bad-schema", *b, featureSchemaId="0123456789abcdef"),
            "FeatureSchemaMismatch",
        ),
    }
    low = model_doc("low-auc", *b)
    low["spec"]["metrics"]["auc"] = 0.5
    _ready_on(
        cluster, _pipeline("model-a", shadow="model-b"), model_doc("model-a", *a), model_doc("model-b", *b)
    )
    config = _config(cluster)
    assert (config["model"]["name"], config["model"]["sha256"]) == ("model-a", a[1])
    assert (config["shadow_model"]["name"], config["shadow_model"]["sha256"]) == ("model-b", b[1])
    assert cluster.pipeline("payments")["status"]["shadowModel"] == "model-b"

    cluster.apply(*(doc for doc, _ in bad.values()), low)
    for name, (_, reason) in bad.items():
        assert wait_for(lambda name=name: _phase(cluster, name)[0] == "Rejected" and _phase(cluster, name)[1])
        assert _phase(cluster, name) == ("Rejected", reason)
    wait_for(lambda: _phase(cluster, "low-auc")[0] == "Ready", what="low-auc valid as such")
    deployment = _deployment(cluster)["metadata"]["resourceVersion"]
    configmap = (cluster.get("v1", "ConfigMap", "payments-detector-config") or {})["metadata"][
        "resourceVersion"
    ]

    for name, reason in (
        ("bad-digest", "ModelRejected"),
        ("bad-schema", "ModelRejected"),
        ("low-auc", "ModelPolicyViolation"),
    ):
        _patch_model(cluster, name)
        found = wait_for(
            lambda name=name, reason=reason: (
                (c := cluster.condition("payments", "ModelResolved")).get("reason") == reason
                and name in c.get("message", "")
                and c
            ),
            what=f"ModelResolved False for {name}",
        )
        assert found["status"] == "False"
        assert cluster.condition("payments", "Degraded")["status"] == "True"
    assert "below spec.modelPolicy.minAuc" in cluster.condition("payments", "ModelResolved")["message"]
    assert _deployment(cluster)["metadata"]["resourceVersion"] == deployment
    assert (cluster.get("v1", "ConfigMap", "payments-detector-config") or {})["metadata"][
        "resourceVersion"
    ] == configmap
    status = cluster.pipeline("payments")["status"]
    assert status["activeModel"] == "model-a"
    assert [e["toModel"] for e in status["modelHistory"]] == ["model-a"], "no roll was started"


@pytest.mark.cluster
def test_failed_roll_rolls_back_automatically(operator: KopfRunner, cluster: Cluster, tmp_path: Path) -> None:
    a, b = _artifact(tmp_path, "a", 1), _artifact(tmp_path, "b", 2)
    before = _ready_on(cluster, _pipeline("model-a"), model_doc("model-a", *a), model_doc("model-b", *b))
    hash_a = before["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
    generation = before["metadata"]["generation"]

    _patch_model(cluster, "model-b")
    wait_for(lambda: _deployment(cluster)["metadata"]["generation"] > generation, what="the upgrade")
    write_flink_job_failed(
        cluster.kube.api_client,
        cluster.namespace,
        "payments",
        "Job failed during initialization: savepoint restore failed",
    )
    rolled = cluster.wait_condition("payments", "ModelResolved", "False", "ModelRolledBack")
    assert "model-b" in rolled["message"] and "model-a" in rolled["message"]
    wait_for(
        lambda: _deployment(cluster)["metadata"]["annotations"][CONFIG_HASH_ANNOTATION] == hash_a,
        what="the FlinkDeployment back on model-a",
    )
    assert _deployment(cluster)["spec"]["job"]["upgradeMode"] == "savepoint"
    assert _config(cluster)["model"]["name"] == "model-a"
    status = cluster.pipeline("payments")["status"]
    last = status["modelHistory"][-1]
    assert (last["fromModel"], last["toModel"], last["result"]) == ("model-a", "model-b", "RolledBack")
    assert "savepoint restore failed" in last["reason"]
    assert status["activeModel"] == "model-a"
    warnings = wait_for(lambda: cluster.events("ModelRolledBack"), what="a ModelRolledBack event")
    assert {e["type"] for e in warnings} == {"Warning"}
    assert cluster.condition("payments", "Degraded")["reason"] == "ModelRolledBack"

    # The Flink operator redeploys model-a from the savepoint: the job runs again, still rolled back.
    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    cluster.wait_condition("payments", "JobRunning", "True")
    assert cluster.pipeline("payments")["status"]["modelHistory"][-1]["result"] == "RolledBack"


def _rolling_status() -> dict[str, Any]:
    return {
        "activeModel": "model-a",
        "observedGeneration": 3,
        "configHash": "b" * 16,
        "modelHistory": [
            {
                "fromModel": "model-a",
                "toModel": "model-b",
                "at": "2026-11-30T11:00:00Z",
                "result": "InProgress",
            }
        ],
    }


def test_roll_not_running_within_the_timeout_fails() -> None:
    history = _rolling_status()["modelHistory"]

    def advance(flink: FlinkObservation, timeout_seconds: int) -> tuple[str, str | None, str]:
        """The last roll's result, the active model and the roll's reason after one step."""
        rolled, active = advance_rolls(
            history, "model-a", flink=flink, config_hash="b" * 16, timeout_seconds=timeout_seconds, now=NOW
        )
        return str(rolled[-1]["result"]), active, str(rolled[-1].get("reason", ""))

    running_old = FlinkObservation(
        exists=True, job_state="RUNNING", lifecycle_state="STABLE", reconciled_config_hash="a" * 16
    )
    assert advance(running_old, 7200)[:2] == ("InProgress", "model-a"), "still within the timeout"
    result, active, reason = advance(running_old, 600)
    assert (result, active) == ("Failed", "model-a")
    assert "rollTimeoutSeconds (600s)" in reason
    on_new = FlinkObservation(
        exists=True, job_state="RUNNING", lifecycle_state="STABLE", reconciled_config_hash="b" * 16
    )
    assert advance(on_new, 7200)[:2] == ("Succeeded", "model-b")


def test_failed_roll_without_auto_rollback_is_degraded_and_retried_on_a_new_generation() -> None:
    status = _rolling_status()
    status["modelHistory"][-1] |= {"result": "Failed", "reason": "the Flink operator reports FAILED: boom"}
    kept = plan_roll(status, target="model-b", generation=3, auto_rollback=False)
    assert kept.render == "model-b" and kept.rollback is None and kept.finding is not None
    assert (kept.finding.status, kept.finding.reason) == ("False", "ModelRollFailed")
    back = plan_roll(status, target="model-b", generation=3, auto_rollback=True)
    assert (back.render, back.rollback) == ("model-a", "model-b")
    retried = plan_roll(status, target="model-b", generation=4, auto_rollback=True)
    assert (retried.render, retried.start, retried.finding) == ("model-b", "model-b", None)

    facts = ReconcileFacts(3, [], {"configHash": "b" * 16})
    running = FlinkObservation(exists=True, job_state="RUNNING", lifecycle_state="STABLE")
    derived = pipeline_status(
        {}, facts=facts, flink=running, suspended=False, now=NOW + timedelta(seconds=1), rolling=("a", "b")
    )
    kinds = {c["type"]: (c["status"], c["reason"]) for c in derived["conditions"]}
    assert kinds["Ready"] == ("False", "ModelRolling") and kinds["Progressing"] == ("True", "ModelRolling")


@pytest.mark.cluster
def test_history_is_bounded_and_every_roll_step_is_a_named_event(
    operator: KopfRunner, cluster: Cluster, tmp_path: Path
) -> None:
    a, b, c = (_artifact(tmp_path, name, seed) for name, seed in (("a", 1), ("b", 2), ("c", 3)))
    pipeline = _pipeline("model-a")
    pipeline["spec"]["modelPolicy"]["historyLimit"] = 2
    docs = (model_doc("model-a", *a), model_doc("model-b", *b), model_doc("model-c", *c))
    deployment = _ready_on(cluster, pipeline, *docs)

    _patch_model(cluster, "model-b")
    wait_for(lambda: _deployment(cluster)["metadata"]["generation"] > deployment["metadata"]["generation"])
    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    wait_for(lambda: cluster.pipeline("payments")["status"].get("activeModel") == "model-b", what="on b")
    generation = _deployment(cluster)["metadata"]["generation"]

    _patch_model(cluster, "model-c")
    wait_for(lambda: _deployment(cluster)["metadata"]["generation"] > generation, what="the upgrade to c")
    write_flink_job_failed(
        cluster.kube.api_client, cluster.namespace, "payments", "checkpoint coordinator failure"
    )
    cluster.wait_condition("payments", "ModelResolved", "False", "ModelRolledBack")
    history = cluster.pipeline("payments")["status"]["modelHistory"]
    assert [(e.get("fromModel"), e["toModel"], e["result"]) for e in history] == [
        ("model-a", "model-b", "Succeeded"),
        ("model-b", "model-c", "RolledBack"),
    ], "historyLimit 2 keeps the two newest rolls"

    expected = {
        ("ModelRolling", "Normal", "model-a -> model-b"),
        ("ModelRolled", "Normal", "model-a -> model-b"),
        ("ModelRolling", "Normal", "model-b -> model-c"),
        ("ModelRolledBack", "Warning", "model-b -> model-c"),
    }

    def seen() -> set[tuple[str, str, str]]:
        found = set()
        for reason, type_, move in expected:
            if any(e["type"] == type_ and move in e["message"] for e in cluster.events(reason)):
                found.add((reason, type_, move))
        return found

    try:
        wait_for(lambda: seen() == expected, what="every roll event")
    except AssertionError:
        posted = [(e["reason"], e["message"]) for e in cluster.items("v1", "Event")]
        raise AssertionError(f"missing events: {expected - seen()}; posted: {posted}") from None


@pytest.mark.cluster
def test_roll_not_running_within_the_timeout_rolls_back(
    operator: KopfRunner, cluster: Cluster, tmp_path: Path
) -> None:
    a, b = _artifact(tmp_path, "a", 1), _artifact(tmp_path, "b", 2)
    pipeline = _pipeline("model-a")
    pipeline["spec"]["modelPolicy"]["rollTimeoutSeconds"] = 30  # the smallest the CRD allows
    before = _ready_on(cluster, pipeline, model_doc("model-a", *a), model_doc("model-b", *b))
    hash_a = before["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]

    _patch_model(cluster, "model-b")  # the Flink operator never reports the upgraded job
    rolled = cluster.wait_condition("payments", "ModelResolved", "False", "ModelRolledBack", timeout=120)
    assert "rollTimeoutSeconds (30s)" in rolled["message"]
    last = cluster.pipeline("payments")["status"]["modelHistory"][-1]
    assert (last["fromModel"], last["toModel"], last["result"]) == ("model-a", "model-b", "RolledBack")
    wait_for(
        lambda: _deployment(cluster)["metadata"]["annotations"][CONFIG_HASH_ANNOTATION] == hash_a,
        what="the FlinkDeployment back on model-a",
    )
    assert _config(cluster)["model"]["name"] == "model-a"
    assert cluster.pipeline("payments")["status"]["activeModel"] == "model-a"

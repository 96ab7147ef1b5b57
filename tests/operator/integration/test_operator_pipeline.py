"""A FraudPipeline with Strimzi topics through the whole life cycle, with the operator under KopfRunner.

Children are checked as the real API server stored them (so the upstream Flink and Strimzi schemas accepted
them), the Flink operator's status is written by ``write_flink_operator_status``, and deletion is left to the
real garbage collector.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.apply import FIELD_MANAGER
from fraud_operator.metrics import LEVEL_CHECKS, writes_total
from fraud_operator.render import render_flinkdeployment
from fraud_operator.render.naming import CONFIG_HASH_ANNOTATION
from kopf.testing import KopfRunner
from streamflow_dev.standins.flink_operator import (
    write_flink_job_failed,
    write_flink_operator_status,
)

from tests.conftest import wait_for
from tests.operator.integration.conftest import SAMPLES, Cluster, sample

pytestmark = pytest.mark.cluster

FLINK = "flink.apache.org/v1beta1"
MODELS = "streamflow.io/v1alpha1"
CHILD_KINDS = (
    ("v1", "ConfigMap", 1),
    (FLINK, "FlinkDeployment", 1),
    ("kafka.strimzi.io/v1", "KafkaTopic", 5),
    ("networking.k8s.io/v1", "NetworkPolicy", 1),
    ("policy/v1", "PodDisruptionBudget", 2),
)
SELECTOR = "streamflow.io/pipeline=payments"
HASH = CONFIG_HASH_ANNOTATION


def _children(cluster: Cluster) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for api_version, kind, _count in CHILD_KINDS:
        for obj in cluster.items(api_version, kind, SELECTOR):
            found[(kind, obj["metadata"]["name"])] = obj
    return found


def _all_children_exist(cluster: Cluster) -> dict[tuple[str, str], dict[str, Any]] | None:
    children = _children(cluster)
    counts = {kind: sum(1 for k, _ in children if k == kind) for _, kind, _ in CHILD_KINDS}
    return children if all(counts[kind] == n for _, kind, n in CHILD_KINDS) else None


def _level_checks() -> float:
    """Database checks of the level check (every 2 s here; Strimzi topics need none)."""
    return float(LEVEL_CHECKS.labels(what="database")._value.get())


def _create_ready_pipeline(cluster: Cluster) -> dict[tuple[str, str], dict[str, Any]]:
    cluster.apply(sample("fraudmodel-iforest-v1"), sample("fraudmodel-hgb-v2"))
    wait_for(
        lambda: (
            [m.get("status", {}).get("phase") for m in cluster.items(MODELS, "FraudModel")] == ["Ready"] * 2
        ),
        what="both FraudModels Ready",
    )
    cluster.apply(sample("fraudpipeline-payments"))
    children = wait_for(lambda: _all_children_exist(cluster), timeout=60, what="all children of payments")
    cluster.wait_condition("payments", "Progressing", "True", "WaitingForJob")
    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    result = cluster.kubectl("wait", "--for=condition=Ready", "fp/payments", "--timeout=60s", check=False)
    assert result.returncode == 0, result.stderr
    assert isinstance(children, dict)
    return children


def test_create_renders_children_turns_ready_and_resyncs_without_writes(
    operator: KopfRunner, cluster: Cluster
) -> None:
    children = _create_ready_pipeline(cluster)
    uid = cluster.pipeline("payments")["metadata"]["uid"]
    for (kind, name), obj in children.items():
        refs = obj["metadata"].get("ownerReferences") or []
        assert [(r["kind"], r["uid"], r.get("controller")) for r in refs] == [("FraudPipeline", uid, True)], (
            kind,
            name,
        )
        managers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
        assert (FIELD_MANAGER, "Apply") in managers, (kind, name, managers)

    # The API server stored the FlinkDeployment under the upstream schema without pruning anything.
    pipeline = FraudPipeline.model_validate(cluster.pipeline("payments"))
    deployment = children[("FlinkDeployment", "payments")]
    assert deployment["spec"] == render_flinkdeployment(pipeline, None)["spec"] | {
        "podTemplate": deployment["spec"]["podTemplate"],
    }
    assert deployment["spec"]["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert deployment["spec"]["job"]["upgradeMode"] == "savepoint"
    assert deployment["spec"]["flinkConfiguration"]["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    config = json.loads(children[("ConfigMap", "payments-detector-config")]["data"]["detector.json"])
    assert config["model"]["name"] == "iforest-v1" and config["shadow_model"]["name"] == "hgb-v2"

    status = cluster.pipeline("payments")["status"]
    assert status["jobState"] == "RUNNING" and status["lifecycleState"] == "STABLE"
    assert status["observedGeneration"] == cluster.pipeline("payments")["metadata"]["generation"]
    assert status["activeModel"] == "iforest-v1" and status["parallelism"] == 2
    assert status["flinkDeployment"] == "payments"
    assert status["schemaVersion"] == len(
        list((SAMPLES.parents[1] / "operator" / "sql" / "migrations").glob("*.sql"))
    )
    assert status["selector"] == "streamflow.io/pipeline=payments,component=taskmanager"
    assert status["topics"] == [
        f"payments.{r}" for r in ("transactions", "alerts", "dlq", "labels", "control")
    ]
    kinds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert kinds == {
        "Reconciled": ("True", "Applied"),
        "ModelResolved": ("True", "ModelReady"),
        "TopicsReady": ("True", "KafkaTopicsApplied"),
        "SchemaMigrated": ("True", "Migrated"),
        "Monitored": ("True", "PodMonitorApplied"),  # the Prometheus Operator's CRDs are installed here
        "JobRunning": ("True", "JobRunning"),
        "Degraded": ("False", "AsExpected"),
        "Ready": ("True", "PipelineReady"),
        "Progressing": ("False", "PipelineReady"),
    }
    assert all(c["observedGeneration"] == 1 and c["lastTransitionTime"] for c in status["conditions"])

    table = cluster.kubectl("get", "fp").stdout.splitlines()
    print("\n".join(["$ kubectl get fp", *table]))
    assert table[1].split()[:5] == ["payments", "True", "iforest-v1", "RUNNING", "2"]
    models = cluster.kubectl("get", "fm").stdout.splitlines()
    print("\n".join(["$ kubectl get fm", *models]))
    assert models[0].split()[3:9] == [  # an unset metric prints blank
        "AUC",
        "AP",
        "CP@100",
        "THRESHOLD@100/DAY",
        "ALERTS/DAY",
        "PHASE",
    ]
    assert (
        cluster.kubectl("get", "fm", "-o", "jsonpath={.items[*].status.phase}").stdout.split()
        == ["Ready"] * 2
    )
    # usedBy of both models (modelRef and shadowModelRef) follows the pipeline's event a moment later.
    wait_for(
        lambda: all(
            (m.get("status") or {}).get("usedBy") == ["payments"] for m in cluster.items(MODELS, "FraudModel")
        ),
        timeout=30,
        what="iforest-v1 and hgb-v2 to list payments in usedBy",
    )
    assert cluster.events("Ready"), "a Normal event announces Ready"
    applied = " ".join(e.get("message", "") for e in cluster.events("Applied"))
    assert "schema migrations 001, 002" in applied, "the Applied event names the migrations it ran"

    # A level check with nothing changed sends no write at all: counter and resourceVersions stay put.
    settled = _level_checks()
    wait_for(lambda: _level_checks() > settled, timeout=30, what="a first level check")
    before_writes = writes_total()
    before_versions = {key: obj["metadata"]["resourceVersion"] for key, obj in _children(cluster).items()}
    before_pipeline = cluster.pipeline("payments")["metadata"]["resourceVersion"]
    model_versions = [m["metadata"]["resourceVersion"] for m in cluster.items(MODELS, "FraudModel")]
    ticks = _level_checks()
    wait_for(lambda: _level_checks() >= ticks + 3, timeout=30, what="three more level checks")

    assert writes_total() - before_writes == 0
    assert {
        key: obj["metadata"]["resourceVersion"] for key, obj in _children(cluster).items()
    } == before_versions
    assert cluster.pipeline("payments")["metadata"]["resourceVersion"] == before_pipeline, json.dumps(
        cluster.pipeline("payments")["metadata"], indent=1
    )
    assert [m["metadata"]["resourceVersion"] for m in cluster.items(MODELS, "FraudModel")] == (model_versions)


def test_scale_rules_failure_and_deletion(operator: KopfRunner, cluster: Cluster) -> None:
    _create_ready_pipeline(cluster)
    before = cluster.get(FLINK, "FlinkDeployment", "payments")
    assert before is not None
    old_hash = before["metadata"]["annotations"][HASH]

    cluster.kubectl("scale", "fp/payments", "--replicas=4")
    wait_for(
        lambda: (cluster.get(FLINK, "FlinkDeployment", "payments") or {})["spec"]["job"]["parallelism"] == 4,
        timeout=30,
        what="FlinkDeployment parallelism 4",
    )
    wait_for(
        lambda: cluster.pipeline("payments")["status"].get("parallelism") == 4, what="status.parallelism 4"
    )
    # The Flink operator has not seen the new generation yet: not Ready until it reports again.
    cluster.wait_condition("payments", "Ready", "False", "FlinkDeploymentUpdating")
    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    cluster.wait_condition("payments", "Ready", "True")
    scale = json.loads(cluster.kubectl("get", "fp/payments", "--subresource=scale", "-o", "json").stdout)
    assert scale["spec"]["replicas"] == 4 and scale["status"]["replicas"] == 4

    # An operator before the single NetworkPolicy rendered one per allow; the next reconcile prunes them.
    (merged,) = cluster.items("networking.k8s.io/v1", "NetworkPolicy", SELECTOR)
    leftover = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "payments-allow-kafka",
            "labels": merged["metadata"]["labels"],
            "ownerReferences": merged["metadata"]["ownerReferences"],
        },
        "spec": {"podSelector": merged["spec"]["podSelector"], "policyTypes": ["Egress"], "egress": [{}]},
    }
    cluster.apply(leftover)

    patch = {"spec": {"detector": {"alertThreshold": 0.7, "rules": {"highValue": {"zThreshold": 5.5}}}}}
    cluster.kubectl("patch", "fp/payments", "--type=merge", "-p", json.dumps(patch))
    wait_for(
        lambda: (
            [p["metadata"]["name"] for p in cluster.items("networking.k8s.io/v1", "NetworkPolicy")]
            == ["payments-network"]
        ),
        what="the older NetworkPolicy pruned, the pipeline's one kept",
    )

    def config() -> dict[str, Any]:
        cm = cluster.get("v1", "ConfigMap", "payments-detector-config") or {}
        return dict(json.loads(cm["data"]["detector.json"]))

    wait_for(
        lambda: config()["detector"]["high_value"]["z_threshold"] == 5.5, what="new zThreshold in config"
    )
    assert config()["detector"]["alert_threshold"] == 0.7

    def deployment_hash() -> str:
        return str((cluster.get(FLINK, "FlinkDeployment", "payments") or {})["metadata"]["annotations"][HASH])

    new_hash = wait_for(
        lambda: deployment_hash() != old_hash and deployment_hash(), what="FlinkDeployment rolled"
    )
    after = cluster.get(FLINK, "FlinkDeployment", "payments")
    assert after is not None
    assert after["spec"]["podTemplate"]["metadata"]["annotations"][HASH] == new_hash
    wait_for(
        lambda: cluster.pipeline("payments")["status"]["configHash"] == new_hash, what="status.configHash"
    )
    assert cluster.pipeline("payments")["status"]["observedGeneration"] == 3

    # The Flink operator reports the job FAILED: Degraded with its error, and back to Ready on recovery.
    write_flink_job_failed(
        cluster.kube.api_client,
        cluster.namespace,
        "payments",
        "Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy",
    )
    degraded = cluster.wait_condition("payments", "Degraded", "True", "JobFailed")
    assert "JobException: Recovery is suppressed" in degraded["message"]
    assert cluster.condition("payments", "Ready")["status"] == "False"
    assert cluster.condition("payments", "JobRunning")["reason"] == "JobFailed"
    assert cluster.pipeline("payments")["status"]["jobState"] == "FAILED"
    wait_for(lambda: cluster.events("JobFailed"), what="a Warning event JobFailed")

    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    cluster.wait_condition("payments", "Ready", "True")
    assert cluster.condition("payments", "Degraded")["status"] == "False"

    cluster.kubectl("delete", "fp/payments", "--wait=true", "--timeout=60s")
    wait_for(lambda: not _children(cluster), timeout=60, what="the garbage collector to delete every child")

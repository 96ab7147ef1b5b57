"""Admin-API topics on the real broker, model resolution and bad input, with the operator under KopfRunner."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render import render_flinkdeployment
from kopf.testing import KopfRunner
from kubernetes import client
from streamflow_dev.standins.flink_operator import write_flink_operator_status

from tests.conftest import wait_for
from tests.operator.integration.conftest import Cluster, sample

pytestmark = pytest.mark.cluster

ROLES = ("transactions", "alerts", "dlq", "labels", "control")


def _models(cluster: Cluster) -> None:
    cluster.apply(sample("fraudmodel-iforest-v1"), sample("fraudmodel-hgb-v2"))


def _admin_pipeline(name: str, bootstrap: str, prefix: str) -> dict[str, Any]:
    doc = sample("fraudpipeline-payments")
    doc["metadata"]["name"] = name
    doc["spec"]["kafka"] = {
        "bootstrapServers": bootstrap,
        "topicPrefix": prefix,
        "topics": {"partitions": 2, "replicas": 1, "retentionMs": 3600000},
    }
    doc["spec"]["topicDeletionPolicy"] = "Delete"
    return doc


def _partitions(admin: AdminClient, names: list[str]) -> dict[str, int]:
    topics = admin.list_topics(timeout=10).topics
    return {name: len(topics[name].partitions) for name in names if name in topics}


def _retention(admin: AdminClient, topic: str) -> str:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    return str(entries["retention.ms"].value)


def test_admin_topics_are_created_grown_corrected_and_deleted(
    operator: KopfRunner, cluster: Cluster, kafka_bootstrap: str
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    prefix = f"{cluster.namespace}.fraud"
    names = [f"{prefix}.{role}" for role in ROLES]
    _models(cluster)
    cluster.apply(_admin_pipeline("cards", kafka_bootstrap, prefix))

    cluster.wait_condition("cards", "TopicsReady", "True", "TopicsReconciled")
    # The names carry the test's namespace, so they did not exist before: the broker now has them, as
    # specified (the condition's message describes the latest resync, which may already be a no-op).
    assert _partitions(admin, names) == dict.fromkeys(names, 2)
    assert {_retention(admin, name) for name in names} == {"3600000"}
    # The operator's finalizer (added before the first topic), nothing of kopf's on the object.
    meta = (cluster.get("streamflow.io/v1alpha1", "FraudPipeline", "cards") or {})["metadata"]
    assert meta.get("finalizers") == ["streamflow.io/topic-cleanup"]
    assert not [key for key in meta.get("annotations") or {} if key.startswith("streamflow.io/")]
    assert not cluster.items("kafka.strimzi.io/v1", "KafkaTopic"), "admin mode renders no KafkaTopic objects"

    # Someone changes a topic's config by hand: the resync puts the spec's value back.
    drifted = ConfigResource(
        ResourceType.TOPIC,
        names[1],
        incremental_configs=[
            ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin.incremental_alter_configs([drifted])[drifted].result(timeout=10)
    # The level check (every 2 s here) may put it back before a read here could see the drift: the
    # operator's Event says that it found and corrected it.
    corrected = f"corrected retention.ms of {names[1]}"
    wait_for(
        lambda: any(corrected in str(e.get("message")) for e in cluster.events("Applied")),
        timeout=30,
        what="retention.ms drift corrected",
    )
    assert _retention(admin, names[1]) == "3600000"

    cluster.kubectl(
        "patch", "fp/cards", "--type=merge", "-p", '{"spec":{"kafka":{"topics":{"partitions":3}}}}'
    )
    wait_for(
        lambda: _partitions(admin, names) == dict.fromkeys(names, 3), timeout=30, what="3 partitions each"
    )

    # Fewer partitions cannot be done in place: reported, nothing changed, never recreated.
    override = '{"spec":{"kafka":{"topicOverrides":[{"role":"control","partitions":1}]}}}'
    cluster.kubectl("patch", "fp/cards", "--type=merge", "-p", override)
    refused = cluster.wait_condition("cards", "TopicsReady", "False", "PartitionDecreaseRefused")
    assert names[4] in refused["message"] and "nothing was changed" in refused["message"]
    assert cluster.condition("cards", "Degraded")["reason"] == "PartitionDecreaseRefused"
    assert _partitions(admin, [names[4]]) == {names[4]: 3}

    cluster.kubectl("delete", "fp/cards", "--wait=true", "--timeout=60s")
    wait_for(
        lambda: not _partitions(admin, names), timeout=30, what="topics deleted (topicDeletionPolicy Delete)"
    )
    assert cluster.events("TopicsDeleted")


def test_deletion_gives_up_on_unreachable_kafka_with_a_warning(
    operator: KopfRunner, cluster: Cluster
) -> None:
    cluster.apply(_admin_pipeline("lost", "127.0.0.1:1", f"{cluster.namespace}.lost"))
    unreachable = cluster.wait_condition("lost", "TopicsReady", "False", "KafkaUnreachable")
    assert "127.0.0.1:1" in unreachable["message"]
    assert cluster.condition("lost", "Degraded")["status"] == "True"

    # STREAMFLOW_TOPIC_DELETE_TIMEOUT_SECONDS=4 in the fixture: the finalizer is released, with a Warning.
    cluster.kubectl("delete", "fp/lost", "--wait=true", "--timeout=60s")
    assert cluster.get("streamflow.io/v1alpha1", "FraudPipeline", "lost") is None
    events = wait_for(lambda: cluster.events("TopicDeletionAbandoned"), what="TopicDeletionAbandoned event")
    assert events[0]["type"] == "Warning"
    assert "gave up deleting topics" in events[0]["message"]


def test_missing_model_degrades_until_it_appears(operator: KopfRunner, cluster: Cluster) -> None:
    cluster.apply(sample("fraudpipeline-payments"))
    missing = cluster.wait_condition("payments", "ModelResolved", "False", "ModelNotFound")
    assert "iforest-v1" in missing["message"]
    assert cluster.condition("payments", "Degraded")["reason"] == "ModelNotFound"
    assert cluster.condition("payments", "Ready")["status"] == "False"
    assert cluster.get("flink.apache.org/v1beta1", "FlinkDeployment", "payments") is None
    assert len(cluster.items("networking.k8s.io/v1", "NetworkPolicy")) == 1, (
        "model-independent children exist"
    )
    assert cluster.events("ModelNotFound")

    _models(cluster)
    cluster.wait_condition("payments", "ModelResolved", "True", "ModelReady")
    wait_for(
        lambda: cluster.get("flink.apache.org/v1beta1", "FlinkDeployment", "payments"),
        what="the FlinkDeployment once the model exists",
    )
    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    cluster.wait_condition("payments", "Ready", "True")
    assert cluster.pipeline("payments")["status"]["activeModel"] == "iforest-v1"
    used_by = cluster.get("streamflow.io/v1alpha1", "FraudModel", "iforest-v1")
    assert used_by is not None and used_by["status"]["usedBy"] == ["payments"]


def test_invalid_spec_is_degraded_while_other_pipelines_proceed(
    imported_operator: KopfRunner, cluster: Cluster
) -> None:
    # The registry `import fraud_operator` filled (what `kopf run -m fraud_operator` uses).
    _models(cluster)
    bad = sample("fraudpipeline-payments")
    bad["metadata"]["name"] = "9lives"  # a valid Kubernetes name, but no DNS-1035 label for child Services
    cluster.apply(bad, sample("fraudpipeline-payments"))

    invalid = cluster.wait_condition("9lives", "Degraded", "True", "InvalidSpec")
    assert invalid["message"].startswith("metadata.name:") or "metadata.name" in invalid["message"]
    assert cluster.condition("9lives", "Reconciled")["reason"] == "InvalidSpec"
    assert not cluster.items("v1", "ConfigMap", "streamflow.io/pipeline=9lives")
    wait_for(lambda: cluster.events("InvalidSpec"), what="a Warning event InvalidSpec")

    cluster.wait_condition("payments", "Progressing", "True", "WaitingForJob")
    assert cluster.get("flink.apache.org/v1beta1", "FlinkDeployment", "payments") is not None


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("detector", "parallelism"), -1, "spec.detector.parallelism"),
        (("detector", "alpha"), 1.5, "spec.detector.alpha"),
        (("flink", "upgradeMode"), "hot-swap", "spec.flink.upgradeMode"),
        (("shadowModelRef", "name"), "iforest-v1", "spec.shadowModelRef.name"),
        (("kafka", "topicOverrides"), [{"role": "dlq"}, {"role": "dlq"}], "spec.kafka.topicOverrides"),
    ],
)
def test_invalid_pipelines_are_refused_naming_the_field(
    cluster: Cluster, path: tuple[str, str], value: Any, field: str
) -> None:
    doc = sample("fraudpipeline-payments")
    doc["spec"][path[0]][path[1]] = value
    result = cluster.kubectl("apply", "-f", "-", check=False, input=_yaml(doc))
    assert result.returncode != 0
    assert field in result.stderr, result.stderr
    assert cluster.get("streamflow.io/v1alpha1", "FraudPipeline", "payments") is None


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(doc))


def test_rendered_pod_templates_are_admitted_under_restricted(cluster: Cluster) -> None:
    core = client.CoreV1Api(cluster.kube.api_client)
    label = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    core.patch_namespace(cluster.namespace, label)
    pipeline = FraudPipeline.model_validate(sample("fraudpipeline-payments"))
    deployment = render_flinkdeployment(pipeline, None)
    for component in ("jobmanager", "taskmanager"):
        pod = copy.deepcopy(deployment["spec"]["podTemplate"])
        pod["metadata"]["name"] = f"payments-{component}"
        pod["metadata"]["labels"]["component"] = component
        pod["spec"]["containers"][0]["image"] = deployment["spec"]["image"]  # the Flink operator adds these
        pod["spec"]["serviceAccountName"] = deployment["spec"]["serviceAccount"]
        admitted = core.create_namespaced_pod(cluster.namespace, pod, dry_run="All")
        assert admitted.metadata.name == f"payments-{component}"

    # Control: the same namespace refuses a pod without the hardening, so the check above really ran.
    naked = copy.deepcopy(deployment["spec"]["podTemplate"])
    naked["metadata"]["name"] = "naked"
    naked["spec"].pop("securityContext")
    naked["spec"]["containers"][0].pop("securityContext")
    naked["spec"]["containers"][0]["image"] = deployment["spec"]["image"]
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_pod(cluster.namespace, naked, dry_run="All")
    assert refused.value.status == 403 and "restricted" in str(refused.value.body)

"""FraudPipeline spec validation: good input gets the documented defaults; bad input names the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fraud_operator.api.pipeline import FLINK_VERSIONS, FraudPipeline
from fraud_operator.api.structural import crd_schema
from pydantic import ValidationError

Mutation = Callable[[dict[str, Any]], None]


def _refusal(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        FraudPipeline.model_validate(doc)
    return " | ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in info.value.errors())


def test_sample_parses_with_defaults(pipeline: FraudPipeline) -> None:
    spec = pipeline.spec
    assert spec.flink.flink_version == "v2_2"
    assert spec.flink.state_backend == "rocksdb"
    assert spec.flink.upgrade_mode == "savepoint"
    assert spec.detector.parallelism == 2
    assert spec.model_ref.name == "iforest-v1"
    assert spec.topic_deletion_policy == "Retain"
    assert pipeline.metadata.namespace == "default"


def test_minimal_spec_gets_defaults() -> None:
    doc = {
        "apiVersion": "streamflow.io/v1alpha1",
        "kind": "FraudPipeline",
        "metadata": {"name": "mini", "namespace": "fraud"},
        "spec": {
            "kafka": {"bootstrapServers": "kafka:9092"},
            "database": {"cnpgCluster": "pg"},
            "modelRef": {"name": "m1"},
            "flink": {"image": "img:1", "stateVolumeClaim": "flink-state"},
        },
    }
    spec = FraudPipeline.model_validate(doc).spec
    assert spec.flink.high_availability and not spec.flink.allow_state_loss and spec.flink.durable
    assert spec.flink.service_account is None and spec.monitoring.enabled
    assert (spec.flink.flink_version, spec.flink.upgrade_mode, spec.flink.state_backend) == (
        "v2_2",
        "savepoint",
        "rocksdb",
    )
    assert spec.detector.parallelism == 1
    assert spec.detector.alpha == 0.2
    assert spec.detector.alert_threshold == 0.4
    assert spec.kafka.topics.partitions == 3
    assert spec.network_policy.enabled and spec.disruption_budget.enabled
    assert spec.suspend is False


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        del node[leaf]

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(doc)

    return mutate


BAD_SPECS: list[tuple[str, Mutation, str]] = [
    ("negative parallelism", _set("spec.detector.parallelism", -1), "spec.detector.parallelism"),
    ("alpha above 1", _set("spec.detector.alpha", 1.5), "spec.detector.alpha"),
    ("alert threshold below 0", _set("spec.detector.alertThreshold", -0.1), "spec.detector.alertThreshold"),
    ("unknown upgrade mode", _set("spec.flink.upgradeMode", "rolling"), "spec.flink.upgradeMode"),
    ("unsupported flink version", _set("spec.flink.flinkVersion", "v2_3"), "spec.flink.flinkVersion"),
    ("unknown state backend", _set("spec.flink.stateBackend", "memory"), "spec.flink.stateBackend"),
    ("zero partitions", _set("spec.kafka.topics.partitions", 0), "spec.kafka.topics.partitions"),
    ("retention too short", _set("spec.kafka.topics.retentionMs", 5), "spec.kafka.topics.retentionMs"),
    (
        "rule weight above 1",
        _set("spec.detector.rules.velocity.weight", 2),
        "spec.detector.rules.velocity.weight",
    ),
    ("misspelt field", _set("spec.detector.paralelism", 3), "spec.detector.paralelism"),
    ("no kafka address", _delete("spec.kafka.strimziCluster"), "bootstrapServers, strimziCluster"),
    (
        "shadow equals active model",
        _set("spec.shadowModelRef.name", "iforest-v1"),
        "shadowModelRef.name",
    ),
    (
        "duplicate topic override",
        _set("spec.kafka.topicOverrides", [{"role": "dlq"}, {"role": "dlq"}]),
        "topicOverrides: role dlq",
    ),
    ("unknown topic role", _set("spec.kafka.topicOverrides", [{"role": "audit"}]), "topicOverrides.0.role"),
    (
        "parallelism above max",
        _set("spec.detector.maxParallelism", 1),
        "parallelism: 2 exceeds maxParallelism",
    ),
    (
        "last-state without HA",
        _both(_set("spec.flink.upgradeMode", "last-state"), _set("spec.flink.highAvailability", False)),
        "upgradeMode: last-state",
    ),
    (
        "savepoint on an emptyDir",
        _delete("spec.flink.stateVolumeClaim"),
        "upgradeMode: savepoint needs durable storage",
    ),
    (
        "last-state on an emptyDir, even with allowStateLoss, without HA",
        _both(
            _delete("spec.flink.stateVolumeClaim"),
            _set("spec.flink.allowStateLoss", True),
            _set("spec.flink.upgradeMode", "last-state"),
        ),
        "highAvailability needs durable storage",
    ),
    (
        "HA on an emptyDir",
        _both(_delete("spec.flink.stateVolumeClaim"), _set("spec.flink.allowStateLoss", True)),
        "highAvailability needs durable storage",
    ),
    (
        "claim with an object store",
        _set("spec.flink.storageUri", "s3://bucket/flink"),
        "stateVolumeClaim: holds file:// state only",
    ),
    (
        "scheme without a plugin in the image",
        _both(_delete("spec.flink.stateVolumeClaim"), _set("spec.flink.storageUri", "hdfs://nn/flink")),
        "spec.flink.storageUri",
    ),
    (
        "credentials in the Flink configuration",
        _set("spec.flink.extraConfiguration", {"s3.secret-key": "hunter2"}),
        "must not carry credentials (s3.secret-key)",
    ),
    (
        "secret for file storage",
        _set("spec.flink.storageCredentials", {"secretRef": {"name": "s"}}),
        "storageCredentials.secretRef: is for object stores",
    ),
    (
        "secret for abfs",
        _both(
            _delete("spec.flink.stateVolumeClaim"),
            _set("spec.flink.storageUri", "abfss://c@acct.dfs.core.windows.net/flink"),
            _set("spec.flink.storageCredentials", {"secretRef": {"name": "s"}}),
        ),
        "not supported for abfs://",
    ),
    (
        "annotations for an account the operator does not render",
        _both(
            _set("spec.flink.serviceAccount", "flink"),
            _set("spec.flink.storageCredentials", {"serviceAccountAnnotations": {"a/b": "c"}}),
        ),
        "storageCredentials.serviceAccountAnnotations",
    ),
    (
        "flink version the image does not run",
        _set("spec.flink.flinkVersion", "v1_14"),
        "spec.flink.flinkVersion",
    ),
    (
        "managed flink key overridden",
        _set("spec.flink.extraConfiguration", {"state.backend.type": "hashmap"}),
        "extraConfiguration: keys managed by the operator: state.backend.type",
    ),
    ("file storage outside volume", _set("spec.flink.storageUri", "file:///tmp/ckpt"), "storageUri"),
    ("SASL without credentials", _set("spec.kafka.securityProtocol", "SASL_SSL"), "credentialsSecretRef"),
    ("bad bootstrap address", _set("spec.kafka.bootstrapServers", "kafka"), "spec.kafka.bootstrapServers"),
    (
        "bad flink memory",
        _set("spec.flink.taskManager.resources.memory", "2Gi"),
        "taskManager.resources.memory",
    ),
    ("missing model ref", _delete("spec.modelRef"), "spec.modelRef"),
    ("missing image", _delete("spec.flink.image"), "spec.flink.image"),
    ("bad topic deletion policy", _set("spec.topicDeletionPolicy", "Purge"), "spec.topicDeletionPolicy"),
    ("name with a dot", _set("metadata.name", "pay.ments"), "metadata.name"),
    ("name too long", _set("metadata.name", "p" * 46), "metadata.name"),
    (
        "more than one JobManager without HA",
        _both(_set("spec.flink.jobManager.replicas", 2), _set("spec.flink.highAvailability", False)),
        "jobManager.replicas",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "field"), BAD_SPECS, ids=[case for case, _, _ in BAD_SPECS])
def test_invalid_spec_is_refused_naming_the_field(
    pipeline_doc: dict[str, Any], case: str, mutate: Mutation, field: str
) -> None:
    mutate(pipeline_doc)
    message = _refusal(pipeline_doc)
    assert field in message, f"{case}: {message}"


def test_high_availability_allows_last_state_and_replicas(pipeline_doc: dict[str, Any]) -> None:
    flink = pipeline_doc["spec"]["flink"]
    flink.update({"upgradeMode": "last-state", "highAvailability": True, "jobManager": {"replicas": 2}})
    assert FraudPipeline.model_validate(pipeline_doc).spec.flink.job_manager.replicas == 2


def test_flink_versions_are_what_the_flink_operator_and_the_image_both_run(flink_crd: dict[str, Any]) -> None:
    upstream = crd_schema(flink_crd)["properties"]["spec"]["properties"]["flinkVersion"]["enum"]
    assert set(FLINK_VERSIONS) <= set(upstream)
    # the job image is Flink 2.2 (tests/shipping/test_dockerfile.py pins the default to its version)
    assert FLINK_VERSIONS == ("v2_2",)


GOOD_STORAGE: list[tuple[str, dict[str, Any]]] = [
    ("claim", {"stateVolumeClaim": "flink-state"}),
    ("s3 with a Secret", {"storageUri": "s3://b/flink", "storageCredentials": {"secretRef": {"name": "s3"}}}),
    (
        "gs with workload identity",
        {
            "storageUri": "gs://b/f",
            "storageCredentials": {"serviceAccountAnnotations": {"iam.gke.io/gcp-service-account": "x@y"}},
        },
    ),
    ("abfss", {"storageUri": "abfss://c@a.dfs.core.windows.net/f"}),
    (
        "wasbs with a Secret",
        {
            "storageUri": "wasbs://c@a.blob.core.windows.net/f",
            "storageCredentials": {"secretRef": {"name": "az"}},
        },
    ),
    ("explicitly ephemeral", {"allowStateLoss": True, "highAvailability": False}),
    ("stateless on an emptyDir", {"upgradeMode": "stateless", "highAvailability": False}),
]


@pytest.mark.parametrize(("case", "flink"), GOOD_STORAGE, ids=[c for c, _ in GOOD_STORAGE])
def test_storage_variants_are_accepted(
    pipeline_doc: dict[str, Any], case: str, flink: dict[str, Any]
) -> None:
    spec = pipeline_doc["spec"]["flink"]
    spec.pop("stateVolumeClaim")
    spec.update(flink)
    parsed = FraudPipeline.model_validate(pipeline_doc).spec.flink
    assert parsed.durable == (not case.startswith(("explicitly", "stateless")))

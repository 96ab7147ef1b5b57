"""Names and labels of a pipeline's children, in one place so render, apply and status agree on them."""

from __future__ import annotations

from fraud_operator.api.pipeline import TOPIC_ROLES, FraudPipeline

__all__ = [
    "CONFIG_FILE",
    "CONFIG_HASH_ANNOTATION",
    "CONFIG_MOUNT",
    "FLINK_CONTAINER",
    "FLINK_REST_PORT",
    "FLINK_UID",
    "MANAGED_BY",
    "METRICS_PORT",
    "METRICS_PORT_NAME",
    "PIPELINE_LABEL",
    "common_labels",
    "configmap_name",
    "flinkdeployment_name",
    "jobmanager_rbac_name",
    "pod_selector",
    "podmonitor_name",
    "scale_selector",
    "topic_name",
    "topic_names",
]

MANAGED_BY = "streamflow-operator"
PIPELINE_LABEL = "streamflow.io/pipeline"
CONFIG_HASH_ANNOTATION = "streamflow.io/config-hash"
CONFIG_MOUNT = "/opt/streamflow/config"
CONFIG_FILE = "detector.json"
# The Flink operator merges the pod template's container of this name with the container it generates.
FLINK_CONTAINER = "flink-main-container"
FLINK_UID = 9999  # user "flink" of the official Flink images
METRICS_PORT = 9249
METRICS_PORT_NAME = "metrics"  # the container port's name, which the PodMonitor selects
FLINK_REST_PORT = 8081


def common_labels(pipeline: FraudPipeline, component: str) -> dict[str, str]:
    """Recommended Kubernetes labels plus the pipeline label that selectors use."""
    name = pipeline.metadata.name
    return {
        "app.kubernetes.io/name": "fraud-pipeline",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "streamflow",
        PIPELINE_LABEL: name,
    }


def pod_selector(pipeline: FraudPipeline) -> dict[str, str]:
    """Labels carried by every Flink pod of the pipeline (set through the pod template)."""
    return {PIPELINE_LABEL: pipeline.metadata.name}


def scale_selector(pipeline: FraudPipeline) -> str:
    """Label selector string for status.selector (the scale subresource): the pipeline's TaskManager pods."""
    return f"{PIPELINE_LABEL}={pipeline.metadata.name},component=taskmanager"


def flinkdeployment_name(pipeline: FraudPipeline) -> str:
    """The FlinkDeployment shares the pipeline's name; Flink derives its Services from it."""
    return pipeline.metadata.name


def jobmanager_rbac_name(pipeline: FraudPipeline) -> str:
    """Name of the rendered ServiceAccount, Role and RoleBinding of the Flink pods."""
    return f"{pipeline.metadata.name}-flink"


def podmonitor_name(pipeline: FraudPipeline) -> str:
    """Name of the PodMonitor scraping the detector's metrics."""
    return f"{pipeline.metadata.name}-detector"


def configmap_name(pipeline: FraudPipeline) -> str:
    """Name of the ConfigMap holding the detector configuration."""
    return f"{pipeline.metadata.name}-detector-config"


def topic_name(pipeline: FraudPipeline, role: str) -> str:
    """Kafka topic name of ``role``: ``<prefix>.<role>`` with the pipeline name as default prefix."""
    if role not in TOPIC_ROLES:
        raise ValueError(f"unknown topic role {role!r}; expected one of {', '.join(TOPIC_ROLES)}")
    prefix = pipeline.spec.kafka.topic_prefix or pipeline.metadata.name
    return f"{prefix}.{role}"


def topic_names(pipeline: FraudPipeline) -> dict[str, str]:
    """All topic names of the pipeline by role."""
    return {role: topic_name(pipeline, role) for role in TOPIC_ROLES}

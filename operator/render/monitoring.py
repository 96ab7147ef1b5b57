"""The PodMonitor (monitoring.coreos.com/v1) that has the Prometheus Operator scrape the detector's pods.

Flink's Prometheus reporter listens on the named port ``metrics`` of every JobManager and TaskManager. The
alert rules and dashboards (charts/streamflow-operator/files/) aggregate by the reporter's own labels
(job_name, error_type, rule), so the relabelings only add target labels (namespace, pod, pipeline,
component) and never touch a label the reporter exports.
"""

from __future__ import annotations

from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.naming import (
    METRICS_PORT_NAME,
    PIPELINE_LABEL,
    common_labels,
    pod_selector,
    podmonitor_name,
)

__all__ = ["PODMONITOR_API_VERSION", "TARGET_LABELS", "render_pod_monitor"]

PODMONITOR_API_VERSION = "monitoring.coreos.com/v1"


def _meta_label(label: str) -> str:
    """The Prometheus service-discovery meta label of a pod label (non-alphanumerics become ``_``)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


# target label -> the pod label it is copied from (Flink labels its pods component=jobmanager|taskmanager)
TARGET_LABELS: dict[str, str] = {"pipeline": PIPELINE_LABEL, "component": "component"}


def render_pod_monitor(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    """The pipeline's PodMonitor, or nothing when spec.monitoring.enabled is false."""
    monitoring = pipeline.spec.monitoring
    if not monitoring.enabled:
        return []
    relabelings = [
        {
            "action": "replace",
            "sourceLabels": [_meta_label(source)],
            "targetLabel": target,
        }
        for target, source in TARGET_LABELS.items()
    ]
    return [
        {
            "apiVersion": PODMONITOR_API_VERSION,
            "kind": "PodMonitor",
            "metadata": {
                "name": podmonitor_name(pipeline),
                "namespace": pipeline.metadata.namespace,
                "labels": {**dict(monitoring.labels), **common_labels(pipeline, "detector")},
            },
            "spec": {
                "selector": {"matchLabels": pod_selector(pipeline)},
                "podMetricsEndpoints": [
                    {
                        "port": METRICS_PORT_NAME,
                        "path": "/metrics",
                        "interval": monitoring.interval,
                        "relabelings": relabelings,
                    }
                ],
            },
        }
    ]

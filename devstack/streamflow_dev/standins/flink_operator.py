"""Test helper standing in for the Flink Kubernetes Operator, which does not run here.

It writes a FlinkDeployment's status subresource the way the Flink operator 1.15 does after a deployment
(jobStatus, lifecycleState, jobManagerDeploymentStatus, reconciliationStatus with the last reconciled spec,
observedGeneration, error), so the StreamFlow operator's watch sees exactly what it would see in a cluster.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

from kubernetes.dynamic import DynamicClient

__all__ = ["flink_error", "write_flink_job_failed", "write_flink_operator_status"]


def _millis() -> str:
    return str(int(datetime.now(UTC).timestamp() * 1000))


def flink_error(message: str, exception: str = "org.apache.flink.runtime.JobException") -> str:
    """An error as the Flink operator serializes it into status.error."""
    return json.dumps({"type": exception, "message": message, "additionalMetadata": {}, "throwableList": []})


@functools.lru_cache(maxsize=8)
def _flinkdeployments(api_client: Any) -> Any:
    """The FlinkDeployment resource of one client: discovery once, not on every write."""
    return DynamicClient(api_client).resources.get(
        api_version="flink.apache.org/v1beta1", kind="FlinkDeployment"
    )


def write_flink_operator_status(
    api_client: Any,
    namespace: str,
    name: str,
    *,
    job_state: str = "RUNNING",
    lifecycle_state: str = "STABLE",
    error: str | None = None,
    job_manager: str = "READY",
    live: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Patch the status of FlinkDeployment ``name`` like the Flink operator; returns the written status.

    ``live``: the object as a watch reported it (the Flink operator reads its informer's cache, not the API
    server); without it the object is read.
    """
    resource = _flinkdeployments(api_client)
    if live is None:
        live = resource.get(name=name, namespace=namespace).to_dict()
    spec = live["spec"]
    replicas = max(1, int(spec["job"].get("parallelism", 1)))
    status: dict[str, Any] = {
        "jobStatus": {
            "jobName": name,
            "jobId": "5c0a2c4b1e1f4b6f9d3e2a1b0c9d8e7f",
            "state": job_state,
            "startTime": _millis(),
            "updateTime": _millis(),
        },
        "jobManagerDeploymentStatus": job_manager,
        "lifecycleState": lifecycle_state,
        "observedGeneration": live["metadata"]["generation"],
        "reconciliationStatus": {
            "state": "DEPLOYED",
            "reconciliationTimestamp": int(_millis()),
            "lastReconciledSpec": json.dumps({"spec": spec, "resource_metadata": {"generation": 1}}),
        },
        "clusterInfo": {"flink-version": "2.2.1", "total-cpu": "2.0"},
        "taskManager": {
            "labelSelector": f"component=taskmanager,app={name}",
            "replicas": replicas,
        },
        "error": error,
    }
    resource.status.patch(
        body={"status": status},
        name=name,
        namespace=namespace,
        content_type="application/merge-patch+json",
        field_manager="flink-kubernetes-operator",
    )
    return status


def write_flink_job_failed(api_client: Any, namespace: str, name: str, message: str) -> dict[str, Any]:
    """The Flink operator reporting FlinkDeployment ``name``'s job FAILED with a JobException ``message``."""
    return write_flink_operator_status(
        api_client, namespace, name, job_state="FAILED", lifecycle_state="FAILED", error=flink_error(message)
    )

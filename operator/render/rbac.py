"""The ServiceAccount, Role and RoleBinding the Flink pods of one pipeline run under.

In native Kubernetes mode the JobManager creates and deletes its TaskManager pods, and Kubernetes HA keeps
leader election and job metadata in ConfigMaps that TaskManagers watch. :data:`JOBMANAGER_RULES` is exactly
that, no wildcards; the operator holds the same rules itself, because the API server only lets it create a
Role granting what it has (charts/streamflow-operator/templates/rbac.yaml, docs/rbac.md). Nothing is
rendered when spec.flink.serviceAccount names an existing account: its owner grants its rights.
"""

from __future__ import annotations

from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.naming import common_labels, flinkdeployment_name, jobmanager_rbac_name

__all__ = [
    "JOBMANAGER_RULES",
    "flink_service_account",
    "jobmanager_rules",
    "render_flink_rbac",
]

_COMPONENT = "flink-rbac"

JOBMANAGER_RULES: tuple[dict[str, Any], ...] = (
    # Flink's ResourceManager creates, watches, lists (after a failover) and deletes TaskManager pods.
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
    # Kubernetes HA: leader election (ConfigMap locks), compare-and-swap updates of the HA metadata,
    # watches by TaskManagers for the leader's address, and the cleanup of a finished job by label.
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
    },
    # TaskManager pods are owned by the JobManager's Deployment; the JobManager reads it for its uid.
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
)


def flink_service_account(pipeline: FraudPipeline) -> str:
    """The service account of the Flink pods: the named one, or the one rendered for the pipeline."""
    return pipeline.spec.flink.service_account or jobmanager_rbac_name(pipeline)


def jobmanager_rules(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    """:data:`JOBMANAGER_RULES`, with the Deployment read narrowed to this pipeline's JobManager."""
    rules = [dict(rule) for rule in JOBMANAGER_RULES]
    for rule in rules:
        if rule["resources"] == ["deployments"]:
            rule["resourceNames"] = [flinkdeployment_name(pipeline)]
    return rules


def render_flink_rbac(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding ``<name>-flink``; empty when spec.flink.serviceAccount is set."""
    if pipeline.spec.flink.service_account is not None:
        return []
    name = jobmanager_rbac_name(pipeline)
    namespace = pipeline.metadata.namespace
    labels = common_labels(pipeline, _COMPONENT)
    credentials = pipeline.spec.flink.storage_credentials
    annotations = dict(credentials.service_account_annotations) if credentials is not None else {}
    account: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
    }
    if annotations:
        account["metadata"]["annotations"] = annotations
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "rules": jobmanager_rules(pipeline),
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    return [account, role, binding]

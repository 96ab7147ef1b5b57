"""The local control plane is the real one: versioned, schema-validating, garbage-collecting, PSA."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from streamflow_dev.kube_build import K8S_VERSION

from tests.conftest import KubeCluster, wait_for

pytestmark = pytest.mark.cluster


def test_version_is_the_real_kubernetes(kube: KubeCluster) -> None:
    version = json.loads(kube.kubectl("get", "--raw", "/version").stdout)
    if kube.local:
        assert version["gitVersion"] == K8S_VERSION
        assert version["major"] == "1" and version["minor"] == K8S_VERSION.split(".")[1]
    else:
        assert version["gitVersion"].startswith("v1.")


def test_third_party_crds_are_established(kube: KubeCluster) -> None:
    names = kube.kubectl("get", "crd", "-o", "name").stdout.split()
    for crd in (
        "flinkdeployments.flink.apache.org",
        "kafkatopics.kafka.strimzi.io",
        "clusters.postgresql.cnpg.io",
        "databases.postgresql.cnpg.io",
        "podmonitors.monitoring.coreos.com",
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
        "fraudpipelines.streamflow.io",
        "fraudmodels.streamflow.io",
    ):
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd}" in names


def _flinkdeployment(name: str, upgrade_mode: str) -> dict[str, object]:
    return {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": name},
        "spec": {
            "image": "flink:2.2",
            "flinkVersion": "v2_2",
            "serviceAccount": "flink",
            "jobManager": {"resource": {"memory": "1024m", "cpu": 0.5}},
            "taskManager": {"resource": {"memory": "1024m", "cpu": 0.5}},
            "job": {"jarURI": "local:///opt/flink/opt/flink-python-2.2.1.jar", "upgradeMode": upgrade_mode},
        },
    }


def test_api_server_enforces_the_upstream_flinkdeployment_schema(kube: KubeCluster, namespace: str) -> None:
    api = client.CustomObjectsApi(kube.api_client)
    group, version, plural = "flink.apache.org", "v1beta1", "flinkdeployments"
    with pytest.raises(ApiException) as refused:
        api.create_namespaced_custom_object(
            group, version, namespace, plural, _flinkdeployment("bad", "sometimes")
        )
    assert refused.value.status == 422
    assert "upgradeMode" in str(refused.value.body)
    assert "sometimes" in str(refused.value.body)
    created = api.create_namespaced_custom_object(
        group, version, namespace, plural, _flinkdeployment("good", "savepoint")
    )
    assert created["spec"]["job"]["upgradeMode"] == "savepoint"


def test_garbage_collector_deletes_owned_children(kube: KubeCluster, namespace: str) -> None:
    core = client.CoreV1Api(kube.api_client)
    parent = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="parent"), data={"a": "1"})
    )
    owner = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="parent", uid=parent.metadata.uid, block_owner_deletion=True
    )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="child", owner_references=[owner]))
    )
    orphan = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="orphan"))
    )
    core.delete_namespaced_config_map("parent", namespace, propagation_policy="Background")

    def child_gone() -> bool:
        try:
            core.read_namespaced_config_map("child", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(child_gone, timeout=60, what="the garbage collector to delete the owned child")
    assert core.read_namespaced_config_map("orphan", namespace).metadata.uid == orphan.metadata.uid


def test_namespace_deletion_completes(kube: KubeCluster) -> None:
    core = client.CoreV1Api(kube.api_client)
    name = f"gone-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout=90, what="the namespace controller to finish deleting the namespace")


def _pod(privileged: bool) -> dict[str, object]:
    container: dict[str, object] = {"name": "c", "image": "busybox:1.36"}
    if privileged:
        container["securityContext"] = {"privileged": True}
    else:
        container["securityContext"] = {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [container]}}


def test_pod_security_restricted_refuses_a_privileged_pod(kube: KubeCluster) -> None:
    core = client.CoreV1Api(kube.api_client)
    name = f"psa-{uuid.uuid4().hex[:8]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=name, labels={"pod-security.kubernetes.io/enforce": "restricted"}
            )
        )
    )
    try:
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_pod(name, _pod(privileged=True), dry_run="All")
        assert refused.value.status == 403
        assert "violates PodSecurity" in str(refused.value.body)
        admitted = core.create_namespaced_pod(name, _pod(privileged=False), dry_run="All")
        assert admitted.metadata.name == "p"
    finally:
        core.delete_namespace(name)


def test_rbac_is_enforced(kube: KubeCluster, namespace: str) -> None:
    """A user with no bindings is refused: authorization really runs (RBAC mode)."""
    result = kube.kubectl("auth", "can-i", "delete", "secrets", "-n", namespace, "--as=nobody", check=False)
    assert result.stdout.strip() == "no"
    assert kube.kubectl("auth", "can-i", "delete", "secrets", "-n", namespace).stdout.strip() == "yes"

"""The Applier on the real API server keeps its connections: every request of a reconcile reuses one.

Each new HTTPS connection costs the API server a TLS handshake (an RSA signature), and the client one too. A
response left unread keeps its connection checked out of the pool, so the next request opens another: at
1,000 pipelines that was 22,000 handshakes in a cold start, 18% of the API server's CPU (profiled).
"""

from __future__ import annotations

from typing import Any

import pytest
from fraud_operator.api.common import API_VERSION
from fraud_operator.apply import Applier, ChildRejected
from kubernetes import client, config

from tests.conftest import KubeCluster
from tests.operator.integration.conftest import sample

pytestmark = pytest.mark.cluster


def _connections_made(api_client: object) -> int:
    pools = api_client.rest_client.pool_manager.pools  # type: ignore[attr-defined]
    return sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118 (no __iter__)


def test_applies_reads_status_patches_and_deletes_reuse_one_connection(
    kube: KubeCluster, namespace: str
) -> None:
    api_client = config.new_client_from_config(config_file=str(kube.kubeconfig))
    applier = Applier(api_client)
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "owner", "uid": created.metadata.uid},
    }
    applier.get("v1", "ConfigMap", namespace, "warm-up")  # discovery and the first connection
    before = _connections_made(api_client)
    for i in range(20):
        desired = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"c-{i}", "namespace": namespace},
            "data": {"i": str(i)},
        }
        assert applier.send(Applier.adopted(desired, owner), dry_run=True)
        assert applier.send(Applier.adopted(desired, owner))
        assert applier.get("v1", "ConfigMap", namespace, f"c-{i}") is not None
    assert len(applier.list("v1", "ConfigMap", namespace, "")) >= 20
    model = sample("fraudmodel-iforest-v1")
    model["metadata"]["namespace"] = namespace
    assert applier.send(Applier.adopted(model, owner))
    for i in range(5):
        applier.update_status(
            API_VERSION, "FraudModel", namespace, "iforest-v1", lambda _live, i=i: {"message": f"try {i}"}
        )
    for i in range(20):
        assert applier.delete("v1", "ConfigMap", namespace, f"c-{i}")
    made = _connections_made(api_client) - before
    assert made <= 1, f"{made} new connections for the sequential requests"


def test_requests_keep_the_hosts_path_and_go_through_a_configured_proxy() -> None:
    """An API server behind a path-routing proxy keeps its path prefix; an HTTP proxy gets whole URLs."""
    routed = client.Configuration(host="https://example.invalid:6443/k8s/clusters/c-1/")
    pool, prefix = Applier(client.ApiClient(routed))._connect()
    assert (pool.host, pool.port, prefix) == ("example.invalid", 6443, "/k8s/clusters/c-1")
    proxied = client.Configuration(host="https://example.invalid:6443")
    proxied.proxy = "http://proxy.invalid:3128"
    api_client = client.ApiClient(proxied)
    manager, prefix = Applier(api_client)._connect()
    assert (manager, prefix) == (api_client.rest_client.pool_manager, "https://example.invalid:6443")


def test_a_refused_apply_names_the_field_and_a_missing_object_reads_as_none(
    kube: KubeCluster, namespace: str
) -> None:
    applier = Applier(config.new_client_from_config(config_file=str(kube.kubeconfig)))
    assert applier.get("v1", "ConfigMap", namespace, "absent") is None
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o", "uid": "u-1"}}
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name", "namespace": namespace}}
    with pytest.raises(ChildRejected, match=r"metadata\.name") as refused:
        applier.send(Applier.adopted(bad, owner))
    assert refused.value.status == 422


def test_a_field_the_schema_does_not_declare_is_refused_by_name_not_retried(
    kube: KubeCluster, namespace: str
) -> None:
    """The API server answers such an apply with a 500 (it cannot build the typed patch): a refusal that
    no retry changes, reported with the field's path, whether dry run (fieldValidation=Strict) or not."""
    applier = Applier(config.new_client_from_config(config_file=str(kube.kubeconfig)))
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o", "uid": "u-1"}}
    model = sample("fraudmodel-iforest-v1")
    model["metadata"]["namespace"] = namespace
    model["spec"]["bogusField"] = 1
    for dry_run in (True, False):
        with pytest.raises(ChildRejected, match=r"\.spec\.bogusField: field not declared in schema"):
            applier.send(Applier.adopted(model, owner), dry_run=dry_run)
    assert applier.get(API_VERSION, "FraudModel", namespace, model["metadata"]["name"]) is None


def test_a_listing_comes_in_pages_and_misses_nothing(
    kube: KubeCluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed in pages (a caller keeping only names holds one page at a time), every object arrives once."""
    from fraud_operator import apply

    api_client = config.new_client_from_config(config_file=str(kube.kubeconfig))
    core = client.CoreV1Api(api_client)
    for i in range(23):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"c-{i:02d}", "labels": {"paged": "yes" if i % 2 else "no"}}}
        )
    monkeypatch.setattr(apply, "_LIST_PAGE", 5)
    applier = Applier(api_client)
    requests: list[str] = []
    call = applier._call

    def counted(what: str, send: Any) -> Any:
        requests.append(what)
        return call(what, send)

    monkeypatch.setattr(applier, "_call", counted)
    names = [obj["metadata"]["name"] for obj in applier.each("v1", "ConfigMap", namespace)]
    assert [n for n in names if n.startswith("c-")] == [f"c-{i:02d}" for i in range(23)]
    assert requests.count("list ConfigMap") == -(-len(names) // 5)  # pages of 5
    paged = [o["metadata"]["name"] for o in applier.list("v1", "ConfigMap", namespace, "paged=yes")]
    assert paged == [f"c-{i:02d}" for i in range(1, 23, 2)]

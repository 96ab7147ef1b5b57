"""The children's watches on the real API server: what they report, what the label selector keeps out."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from fraud_operator.handlers.child_watch import ChildWatches, path_of, watch_cluster_wide
from kubernetes import client

from tests.conftest import KubeCluster, wait_for

pytestmark = pytest.mark.cluster

SELECTOR = "app.kubernetes.io/managed-by=streamflow-operator,streamflow.io/pipeline"


def _config_map(name: str, ours: bool) -> client.V1ConfigMap:
    labels = {"app.kubernetes.io/managed-by": "streamflow-operator", "streamflow.io/pipeline": "p"}
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels if ours else {"app": "other"}), data={"k": "1"}
    )


def test_paths_of_core_and_group_kinds() -> None:
    assert path_of("", "v1", "configmaps", "ns") == "/api/v1/namespaces/ns/configmaps"
    assert path_of("batch", "v1", "cronjobs", None) == "/apis/batch/v1/cronjobs"


@pytest.mark.parametrize("cluster_wide", [False, True], ids=["namespace", "cluster-wide"])
def test_a_watch_reports_listed_added_modified_deleted_and_only_ours(
    kube: KubeCluster, namespace: str, cluster_wide: bool
) -> None:
    core = client.CoreV1Api(kube.api_client)
    core.create_namespaced_config_map(namespace, _config_map("before", ours=True))
    seen: list[tuple[str | None, str]] = []
    lock = threading.Lock()

    def on_event(type_: str | None, body: Mapping[str, Any]) -> None:
        if body["metadata"]["namespace"] != namespace:
            return  # cluster-wide: another test's children
        with lock:
            seen.append((type_, body["metadata"]["name"]))

    def saw(event: tuple[str | None, str]) -> bool:
        with lock:
            return event in seen

    kinds = [("", "v1", "configmaps", "ConfigMap"), ("example.invalid", "v1", "nothings", "Nothing")]
    listed: list[tuple[str, str | None]] = []  # the second kind is not served: "listed" with nothing
    watches = ChildWatches(
        kinds, SELECTOR, on_event, lambda: kube.api_client, on_listed=lambda k, ns, _t: listed.append((k, ns))
    )
    watch_cluster_wide(cluster_wide)
    try:
        watches.ensure(namespace)
        watches.ensure(namespace)  # once per namespace (or once for all)
        wait_for(lambda: saw((None, "before")), timeout=30, what="the listing of the existing child")
        core.create_namespaced_config_map(namespace, _config_map("other", ours=False))
        core.create_namespaced_config_map(namespace, _config_map("after", ours=True))
        wait_for(lambda: saw(("ADDED", "after")), timeout=30, what="ADDED")
        core.patch_namespaced_config_map("after", namespace, {"data": {"k": "2"}})
        wait_for(lambda: saw(("MODIFIED", "after")), timeout=30, what="MODIFIED")
        core.delete_namespaced_config_map("before", namespace)
        wait_for(lambda: saw(("DELETED", "before")), timeout=30, what="DELETED")
    finally:
        watch_cluster_wide(False)
        watches.stop(timeout=10)
    with lock:
        assert all(name != "other" for _, name in seen), seen
        assert seen.count((None, "before")) == 1, seen
    scope = None if cluster_wide else namespace
    assert sorted(set(listed), key=str) == [("ConfigMap", scope), ("Nothing", scope)]
    ours = f"streamflow-watch {path_of('', 'v1', 'configmaps', None if cluster_wide else namespace)}"
    alive = [t.name for t in threading.enumerate() if t.name == ours]
    assert alive == [], "a watch thread outlived stop()"


def test_a_kind_watched_whole_reports_its_data_to_its_own_callback(kube: KubeCluster, namespace: str) -> None:
    """The metadata watches carry no data; a kind watched whole (the FlinkDeployment's status is mirrored)
    gets its objects as they are, on its own callback."""
    core = client.CoreV1Api(kube.api_client)
    core.create_namespaced_config_map(namespace, _config_map("listed", ours=True))
    metadata: list[Mapping[str, Any]] = []
    whole: list[tuple[str | None, Mapping[str, Any]]] = []
    kind = ("", "v1", "configmaps", "ConfigMap")
    watches = ChildWatches(
        [kind],
        SELECTOR,
        lambda _type, body: metadata.append(body),
        lambda: kube.api_client,
        whole={kind: lambda type_, body: whole.append((type_, body))},
    )
    try:
        watches.ensure(namespace)
        wait_for(lambda: whole and metadata, timeout=30, what="both listings")
        core.patch_namespaced_config_map("listed", namespace, {"data": {"k": "2"}})
        wait_for(lambda: any(t == "MODIFIED" for t, _ in whole), timeout=30, what="the whole MODIFIED event")
        wait_for(lambda: len(metadata) >= 2, timeout=30, what="the metadata watch's events")
    finally:
        watches.stop(timeout=10)
    assert [(t, b["data"]) for t, b in whole] == [(None, {"k": "1"}), ("MODIFIED", {"k": "2"})]
    assert all("data" not in b and b["metadata"]["name"] == "listed" for b in metadata)
    # both name the watched kind: a metadata watch's objects say PartialObjectMetadata, a listing's nothing
    assert {(b["apiVersion"], b["kind"]) for b in metadata + [b for _, b in whole]} == {("v1", "ConfigMap")}

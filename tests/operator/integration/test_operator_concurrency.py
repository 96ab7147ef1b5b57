"""The operator under concurrent triggers, on the real API server.

Many pipelines resuming at once share one Applier (kopf runs sync handlers in threads), and a FraudModel
status change reconciles its pipelines while they are being edited: neither may fail nor apply an old spec.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest
from fraud_operator.apply import Applier
from fraud_operator.handlers import register
from fraud_operator.metrics import writes_total
from kopf.testing import KopfRunner
from kubernetes import client, watch
from urllib3.exceptions import ProtocolError

from tests.conftest import KubeCluster, wait_for
from tests.operator.integration.conftest import Cluster, _run, sample

pytestmark = pytest.mark.cluster

GROUP, VERSION = "streamflow.io", "v1alpha1"


def _pipelines(count: int, model: str = "iforest-v1") -> list[dict[str, Any]]:
    base = sample("fraudpipeline-payments")
    base["spec"].pop("shadowModelRef")
    docs = []
    for i in range(count):
        doc = copy.deepcopy(base)
        doc["metadata"] = {"name": f"p-{i:02d}"}
        doc["spec"]["modelRef"] = {"name": model}
        docs.append(doc)
    return docs


def test_one_applier_shared_by_many_threads_discovers_once(kube: KubeCluster) -> None:
    """Threads asking a fresh Applier at once for served and unserved kinds all get an answer.

    An unserved kind makes the dynamic client rebuild its discovery cache; before the lock, a concurrent
    lookup then raised KeyError: 'resources' (issue #16).
    """
    kinds = [
        ("kafka.strimzi.io/v1", "Kafka"),  # not served here: a miss, a rediscovery
        ("example.invalid/v1", "Nothing"),
        ("v1", "ConfigMap"),
        ("flink.apache.org/v1beta1", "FlinkDeployment"),
        ("streamflow.io/v1alpha1", "FraudPipeline"),
    ]
    answers: list[dict[str, bool]] = []
    for _trial in range(5):  # the unguarded client failed in every one of five trials here
        applier = Applier(kube.api_client)
        barrier = threading.Barrier(16)

        def ask(i: int, applier: Applier = applier, barrier: threading.Barrier = barrier) -> dict[str, bool]:
            barrier.wait()
            order = kinds[i % 5 :] + kinds[: i % 5]
            return {kind: applier.serves(api_version, kind) for api_version, kind in order}

        with ThreadPoolExecutor(16) as pool:
            answers += list(pool.map(ask, range(16)))
    expected = {
        "Kafka": False,
        "Nothing": False,
        "ConfigMap": True,
        "FlinkDeployment": True,
        "FraudPipeline": True,
    }
    assert all(answer == expected for answer in answers), answers


def test_many_pipelines_resuming_at_once_all_reconcile_without_errors(
    operator_env: None, kube: KubeCluster, namespace: str, cluster: Cluster
) -> None:
    """30 pipelines exist before the operator starts: the listing queues all of them at once."""
    cluster.apply(sample("fraudmodel-iforest-v1"), *_pipelines(30))
    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=3600)

    def all_reconciled() -> bool:
        items = cluster.items(f"{GROUP}/{VERSION}", "FraudPipeline")
        done = [
            i
            for i in items
            if any(
                c["type"] == "Reconciled" and c["status"] == "True"
                for c in (i.get("status") or {}).get("conditions") or []
            )
        ]
        return len(done) == 30

    running = _run(kube, namespace, registry)
    runner = next(running)
    wait_for(all_reconciled, timeout=180, what="all 30 pipelines Reconciled")
    with contextlib.suppress(StopIteration):
        next(running)  # stops the operator; its output is complete only then
    assert "KeyError" not in runner.output
    assert "failed with an exception" not in runner.output, runner.output[-5000:]


def test_model_status_change_never_reverts_a_pipeline_edit(
    operator: KopfRunner, kube: KubeCluster, cluster: Cluster
) -> None:
    """Edits race model changes; every ConfigMap only ever moves forward to the newest threshold."""
    count = 6
    cluster.apply(sample("fraudmodel-iforest-v1"), *_pipelines(count))
    names = [f"p-{i:02d}" for i in range(count)]
    seen: dict[str, list[float]] = {name: [] for name in names}
    stop = threading.Event()
    core = client.CoreV1Api(kube.api_client)

    def follow() -> None:
        version: dict[str, str] = {}  # each new watch resumes where the last one ended: no gap
        while not stop.is_set():
            try:
                for event in watch.Watch().stream(
                    core.list_namespaced_config_map, cluster.namespace, timeout_seconds=5, **version
                ):
                    obj = event["object"]
                    version["resource_version"] = obj.metadata.resource_version
                    pipeline = obj.metadata.name.removesuffix("-detector-config")
                    if pipeline in seen and obj.data:
                        config = json.loads(obj.data["detector.json"])
                        value = float(config["detector"]["alert_threshold"])
                        if not seen[pipeline] or seen[pipeline][-1] != value:
                            seen[pipeline].append(value)
            except ProtocolError:
                continue  # the API server ended the stream early

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    custom = client.CustomObjectsApi(kube.api_client)
    wait_for(lambda: all(seen[n] for n in names), timeout=120, what="every ConfigMap")
    last = 0.6
    for round_ in range(8):
        # A status change of the model (its spec is immutable), which reconciles every pipeline using it...
        custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            cluster.namespace,
            "fraudmodels",
            "iforest-v1",
            {"status": {"message": f"round {round_}"}},
        )
        # ...while every pipeline is edited twice.
        for _step in range(2):
            last = round(last + 0.001, 3)
            for name in names:
                custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    cluster.namespace,
                    "fraudpipelines",
                    name,
                    {"spec": {"detector": {"alertThreshold": last}}},
                )
    wait_for(
        lambda: all(seen[n] and seen[n][-1] == last for n in names),
        timeout=120,
        what=f"every ConfigMap at alert_threshold {last}",
    )
    stop.set()
    follower.join(timeout=30)
    for name in names:
        assert seen[name] == sorted(seen[name]), f"{name} went back: {seen[name]}"


def test_children_deleted_or_edited_by_others_come_back_from_their_watch(
    operator_env: None, kube: KubeCluster, namespace: str, cluster: Cluster
) -> None:
    """No timer runs here (a one-hour interval): only the children's watch events can repair them.

    Our own applies are events too; they must not start a reconcile loop (the write counter stays put).
    """
    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=3600)
    running = _run(kube, namespace, registry)
    next(running)
    try:
        cluster.apply(sample("fraudmodel-iforest-v1"), *_pipelines(1))
        config_map = "p-00-detector-config"
        wait_for(lambda: cluster.get("v1", "ConfigMap", config_map), timeout=120, what="the ConfigMap")
        desired = cluster.get("v1", "ConfigMap", config_map)
        assert desired is not None

        cluster.kubectl("delete", "configmap", config_map)
        wait_for(lambda: cluster.get("v1", "ConfigMap", config_map), timeout=60, what="the ConfigMap back")

        cluster.kubectl(
            "patch", "configmap", config_map, "--type=merge", "-p", '{"data":{"detector.json":"{}"}}'
        )
        wait_for(
            lambda: (cluster.get("v1", "ConfigMap", config_map) or {}).get("data") == desired["data"],
            timeout=60,
            what="the ConfigMap's data put back",
        )
        policies = cluster.items("networking.k8s.io/v1", "NetworkPolicy", "streamflow.io/pipeline=p-00")
        policy = policies[0]["metadata"]["name"]
        cluster.kubectl(
            "patch", "networkpolicy", policy, "--type=merge", "-p", '{"spec":{"policyTypes":["Ingress"]}}'
        )
        wait_for(
            lambda: (
                (cluster.get("networking.k8s.io/v1", "NetworkPolicy", policy) or {})["spec"]
                == policies[0]["spec"]
            ),
            timeout=60,
            what="the NetworkPolicy's spec put back",
        )
        settled = writes_total()
        versions = {
            obj["metadata"]["name"]: obj["metadata"]["resourceVersion"]
            for obj in cluster.items("v1", "ConfigMap", "streamflow.io/pipeline=p-00")
        }
        time.sleep(5)
        assert writes_total() == settled, "our own applies started a reconcile loop"
        assert {
            obj["metadata"]["name"]: obj["metadata"]["resourceVersion"]
            for obj in cluster.items("v1", "ConfigMap", "streamflow.io/pipeline=p-00")
        } == versions
    finally:
        with contextlib.suppress(StopIteration):
            next(running)

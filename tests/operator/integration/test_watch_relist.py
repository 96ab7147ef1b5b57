"""A pipeline deleted while the operator's watch was disconnected, on the real API server.

No DELETED event reports it: the watch's next listing simply lacks it. The operator's index must forget it
and its model's usedBy must drop it all the same. The listing is delivered here as kopf delivers one (events
without a type) to the operator's background state, which lists the real API server and writes the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import kopf
import pytest
from fraud_operator.handlers.context import reset_clients
from fraud_operator.handlers.registration import Background

from tests.conftest import KubeCluster, wait_for
from tests.operator.integration.conftest import Cluster, sample

pytestmark = pytest.mark.cluster

API_VERSION, KIND = "streamflow.io/v1alpha1", "FraudPipeline"


@pytest.fixture
def background(kube: KubeCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Background]:
    """The operator's background state on the real API server, its periodic work an hour away."""
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    monkeypatch.setenv("STREAMFLOW_VERIFY_ARTIFACTS", "false")
    reset_clients()
    state = Background(interval=3600)
    yield state
    state.stop()


def _event(background: Background, type_: str | None, body: dict[str, Any]) -> None:
    asyncio.run(background.pipeline_event(type_, kopf.Body(cast(kopf.RawBody, body))))


def test_a_pipeline_deleted_while_unwatched_leaves_the_index_and_used_by(
    background: Background, cluster: Cluster
) -> None:
    model = sample("fraudmodel-iforest-v1")
    docs = []
    for name in ("p-kept", "p-gone"):
        doc = sample("fraudpipeline-payments")
        doc["spec"].pop("shadowModelRef", None)
        doc["metadata"] = {"name": name}
        doc["spec"]["modelRef"] = {"name": model["metadata"]["name"]}
        docs.append(doc)
    cluster.apply(model, *docs)
    model_name, namespace = model["metadata"]["name"], cluster.namespace

    def used_by() -> list[str]:
        live = cluster.get(API_VERSION, "FraudModel", model_name) or {}
        return list((live.get("status") or {}).get("usedBy") or [])

    for name in ("p-kept", "p-gone"):
        _event(background, "ADDED", cluster.pipeline(name))
    wait_for(lambda: used_by() == ["p-gone", "p-kept"], timeout=30, what="usedBy of both pipelines")

    cluster.kubectl("delete", "fraudpipeline", "p-gone", "--wait=true")  # no DELETED event delivered
    assert background.users(namespace, model_name) == ["p-gone", "p-kept"]

    _event(background, None, cluster.pipeline("p-kept"))  # the watch lists again: p-gone is not in it
    wait_for(lambda: used_by() == ["p-kept"], timeout=30, what="usedBy without the deleted pipeline")
    assert background.users(namespace, model_name) == ["p-kept"]

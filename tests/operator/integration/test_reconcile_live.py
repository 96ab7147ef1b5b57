"""A reconcile acts on the pipeline as the API server holds it, never on the body its caller had.

A model event reconciles every pipeline that references the model from one listing, which takes seconds at
a few hundred pipelines; a pipeline edited meanwhile must not get its older spec back (on a cluster, each
revert is a savepoint upgrade of the job). The test hands the operator's model-event handler a listing
taken before an edit, as a slow loop would, and checks that nothing reverts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fraud_operator.api.common import API_VERSION
from fraud_operator.handlers import registration
from fraud_operator.handlers.context import clients
from fraud_operator.handlers.pipeline import reconcile
from fraud_operator.handlers.plan import KIND
from kopf.testing import KopfRunner

from tests.conftest import wait_for
from tests.operator.handlers.model_artifacts import compiled_artifact, model_doc
from tests.operator.integration.conftest import Cluster, sample


def _threshold(cluster: Cluster) -> Any:
    cm = cluster.get("v1", "ConfigMap", "payments-detector-config")
    return None if cm is None else json.loads(cm["data"]["detector.json"])["detector"]["alert_threshold"]


@pytest.mark.cluster
def test_a_model_event_with_a_stale_listing_does_not_revert_a_newer_edit(
    operator: KopfRunner, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = tmp_path / "a.npz"
    cluster.apply(model_doc("model-a", artifact.as_uri(), compiled_artifact(artifact, "a", 1)))
    doc = sample("fraudpipeline-payments")
    doc["spec"]["modelRef"] = {"name": "model-a"}
    doc["spec"].pop("shadowModelRef")
    cluster.apply(doc)
    wait_for(lambda: _threshold(cluster) == 0.6, what="the detector config with the first threshold")
    stale = cluster.pipeline("payments")

    cluster.kubectl(
        "patch", "fp/payments", "--type=merge", "-p", '{"spec":{"detector":{"alertThreshold":0.7}}}'
    )
    wait_for(lambda: _threshold(cluster) == 0.7, what="the edit in the detector config")

    applier = clients().applier
    listed = applier.list
    handed: list[str] = []
    finished: list[str] = []

    def stale_listing(api_version: str, kind: str, namespace: str, selector: str) -> list[Mapping[str, Any]]:
        if (api_version, kind) != (API_VERSION, KIND):
            return list(listed(api_version, kind, namespace, selector))
        handed.append(namespace)
        return [stale]

    def recorded(body: Mapping[str, Any], **kwargs: Any) -> Any:
        try:
            return reconcile(body, **kwargs)
        finally:
            finished.append(str(body["metadata"]["name"]))

    monkeypatch.setattr(applier, "list", stale_listing)
    monkeypatch.setattr(registration, "reconcile", recorded)
    cluster.kubectl("label", "fm/model-a", "touched=yes")  # a model event: its pipelines are reconciled
    wait_for(lambda: handed and finished, what="the model event to reconcile the listed pipeline")
    monkeypatch.setattr(applier, "list", listed)
    assert _threshold(cluster) == 0.7, "the stale listing put the older threshold back"
    status = cluster.pipeline("payments")
    assert status["status"]["observedGeneration"] == status["metadata"]["generation"]

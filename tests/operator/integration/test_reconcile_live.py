"""A reconcile acts on the pipeline as the API server holds it, never on the body its caller had.

A model change reconciles every pipeline that references it, and any queued trigger may run seconds after
its event at a few hundred pipelines; a pipeline edited meanwhile must not get its older spec back (on a
cluster, each revert is a savepoint upgrade of the job). The test makes the model-change path hand
reconcile() a body taken before an edit, as a slow queue would, and checks that nothing reverts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fraud_operator.handlers import registration
from fraud_operator.handlers.pipeline import reconcile
from kopf.testing import KopfRunner

from tests.conftest import wait_for
from tests.operator.handlers.model_artifacts import compiled_artifact, model_doc
from tests.operator.integration.conftest import Cluster, sample


def _threshold(cluster: Cluster) -> Any:
    cm = cluster.get("v1", "ConfigMap", "payments-detector-config")
    return None if cm is None else json.loads(cm["data"]["detector.json"])["detector"]["alert_threshold"]


@pytest.mark.cluster
def test_a_model_change_with_a_stale_body_does_not_revert_a_newer_edit(
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

    handed: list[str] = []
    finished: list[str] = []

    def with_stale_body(body: Mapping[str, Any], **kwargs: Any) -> Any:
        name = str(body["metadata"]["name"])
        handed.append(name)
        try:
            return reconcile(stale if name == "payments" else body, **kwargs)
        finally:
            finished.append(name)

    monkeypatch.setattr(registration, "reconcile", with_stale_body)
    # A model status change (a model's spec is immutable): its pipelines' reconciles are queued.
    cluster.kubectl(
        "patch", "fm/model-a", "--subresource=status", "--type=merge", "-p", '{"status":{"message":"x"}}'
    )
    wait_for(lambda: "payments" in finished, what="the model change to reconcile its pipeline")
    assert _threshold(cluster) == 0.7, "the stale body put the older threshold back"
    status = cluster.pipeline("payments")
    assert status["status"]["observedGeneration"] == status["metadata"]["generation"]

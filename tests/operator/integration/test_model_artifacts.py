"""Artifact verification as users see it on the real API server: on by default, one condition per model.

Artifacts are real compiled models, as local files and behind a real HTTPS server whose CA the operator
trusts through SSL_CERT_FILE (as a pod would with a mounted CA bundle).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner
from streamflow_dev.standins.flink_operator import write_flink_operator_status

from tests.conftest import wait_for
from tests.operator.handlers.model_artifacts import compiled_artifact, model_doc
from tests.operator.integration.conftest import Cluster, sample
from tests.support.https_server import ArtifactServer, serve_https

MODELS = "streamflow.io/v1alpha1"
NOT_MOUNTED = "file:///opt/streamflow/models/not-in-the-operator/model.npz"


@pytest.fixture
def https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArtifactServer]:
    with serve_https(tmp_path / "https") as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        monkeypatch.setenv("STREAMFLOW_ARTIFACT_CACHE", str(tmp_path / "cache"))
        yield server


def _status(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict((cluster.get(MODELS, "FraudModel", name) or {}).get("status") or {})


def _verified(cluster: Cluster, name: str) -> dict[str, Any]:
    status = wait_for(lambda: (s := _status(cluster, name)).get("phase") and s, what=f"{name} validated")
    for item in status.get("conditions") or []:
        if item["type"] == "ArtifactVerified":
            return {"phase": status["phase"], "reason": status["reason"], **item}
    raise AssertionError(f"{name} has no ArtifactVerified condition: {status}")


@pytest.mark.cluster
def test_artifacts_are_verified_by_default(
    https: ArtifactServer, operator: KopfRunner, cluster: Cluster, tmp_path: Path
) -> None:
    path = tmp_path / "models" / "a.npz"
    sha = compiled_artifact(path, "a", seed=1)
    https.files["a/model.npz"] = path.read_bytes()
    https.files["tampered/model.npz"] = path.read_bytes() + b"\0"
    cluster.apply(
        model_doc("local", path.as_uri(), sha),
        model_doc("remote", https.url("a/model.npz"), sha),
        model_doc("not-mounted", NOT_MOUNTED, sha),
        model_doc("tampered", https.url("tampered/model.npz"), sha),
        model_doc("forest", path.as_uri(), sha, algorithm="random_forest"),
    )

    for name in ("local", "remote"):
        found = _verified(cluster, name)
        assert (found["phase"], found["status"], found["reason"]) == ("Ready", "True", "Verified")
    assert https.requests["a/model.npz"] == 1

    hidden = _verified(cluster, "not-mounted")
    assert (hidden["phase"], hidden["status"], hidden["reason"]) == (
        "Ready",
        "Unknown",
        "NotVisibleToOperator",
    )
    assert "job verifies" in hidden["message"]
    assert "not verified by the operator" in _status(cluster, "not-mounted")["message"]

    tampered = _verified(cluster, "tampered")
    assert (tampered["phase"], tampered["reason"], tampered["status"]) == (
        "Rejected",
        "ArtifactDigestMismatch",
        "False",
    )
    assert hashlib.sha256(https.files["tampered/model.npz"]).hexdigest() in tampered["message"]
    forest = _verified(cluster, "forest")
    assert (forest["phase"], forest["reason"]) == ("Rejected", "AlgorithmUnsupported")
    events = wait_for(lambda: cluster.events("ArtifactDigestMismatch"), what="a Warning event")
    assert {(e["type"], e["involvedObject"]["name"]) for e in events} == {("Warning", "tampered")}

    # A model the operator cannot see still rolls out: the job checks it when it loads it.
    pipeline = sample("fraudpipeline-payments")
    pipeline["spec"]["modelRef"] = {"name": "not-mounted"}
    pipeline["spec"].pop("shadowModelRef")
    cluster.apply(pipeline)
    wait_for(
        lambda: cluster.get("flink.apache.org/v1beta1", "FlinkDeployment", "payments"), what="deployment"
    )
    assert cluster.wait_condition("payments", "ModelResolved", "True")["reason"] == "ModelReady"
    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
    cluster.wait_condition("payments", "Ready", "True")
    assert cluster.pipeline("payments")["status"]["activeModel"] == "not-mounted"


@pytest.mark.cluster
def test_verification_switched_off(
    monkeypatch: pytest.MonkeyPatch, operator: KopfRunner, cluster: Cluster, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMFLOW_VERIFY_ARTIFACTS", "false")
    path = tmp_path / "a.npz"
    compiled_artifact(path, "a", seed=1)
    cluster.apply(model_doc("unchecked", path.as_uri(), "f" * 64))
    found = _verified(cluster, "unchecked")
    assert (found["phase"], found["status"], found["reason"]) == ("Ready", "Unknown", "VerificationDisabled")

"""kopf's retry count reaches the database step: a failing pipeline is retried later and later.

kopf passes ``retry`` (0 on the first attempt, then 1, 2, ...) to change handlers and timers; the pipeline
handlers hand it to the database step, whose ``retry_after_s`` becomes the TemporaryError's delay. kopf
records each scheduled retry in the handler's progress annotation, which is what this test reads.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from fraud_operator.api.common import GROUP
from fraud_operator.database import backoff_delay
from fraud_operator.handlers import register
from kopf.testing import KopfRunner

from tests.conftest import KubeCluster, wait_for

pytestmark = pytest.mark.cluster

SAMPLE = Path(__file__).resolve().parents[3] / "crds" / "samples" / "fraudpipeline-payments.yaml"
PROGRESS = f"{GROUP}/pipeline-create"


def _progress(kube: KubeCluster, namespace: str) -> dict[str, Any] | None:
    out = kube.kubectl("get", "fp/payments", "-n", namespace, "-o", "json").stdout
    raw = (json.loads(out)["metadata"].get("annotations") or {}).get(PROGRESS)
    return json.loads(raw) if raw else None


def _at(record: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(record[key]))


def test_each_retry_of_a_missing_cnpg_cluster_waits_longer(
    kube: KubeCluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    doc = yaml.safe_load(SAMPLE.read_text())  # its CNPG Cluster does not exist: ClusterNotFound
    doc["metadata"]["namespace"] = namespace
    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=3600, compare_seconds=3600)  # only the create handler retries
    args = ["run", "--standalone", "--namespace", namespace, "-m", "fraud_operator"]
    with KopfRunner(args, registry=registry, timeout=120) as runner:
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
        first = wait_for(
            lambda: (p := _progress(kube, namespace)) and p.get("retries") == 1 and p, what="first retry"
        )
        second = wait_for(
            lambda: (p := _progress(kube, namespace)) and p.get("retries") == 2 and p,
            timeout=60,
            what="second retry",
        )
        kube.kubectl("delete", "fp/payments", "-n", namespace, "--timeout=60s")  # kopf lets it go
    assert runner.exception is None, runner.output
    assert "does not exist" in first["message"] and "CNPG Cluster" in first["message"]
    # attempt 0 asked for backoff_delay(..., 0) = 15 s, attempt 1 for 30 s: the second retry was scheduled
    # 30 s (plus the reconcile's own time) after the first one was due; a fixed delay would give equal steps
    assert backoff_delay("ClusterNotFound", 0) == 15.0 and backoff_delay("ClusterNotFound", 1) == 30.0
    first_wait = (_at(first, "delayed") - _at(first, "started")).total_seconds()
    second_wait = (_at(second, "delayed") - _at(first, "delayed")).total_seconds()
    assert 15 <= first_wait < 30 <= second_wait, (first, second)

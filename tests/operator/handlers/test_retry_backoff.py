"""A failing pipeline is retried later and later: the failures in a row reach the database step's backoff.

The operator's queue counts the reconciles of a pipeline's generation that failed in a row (0 on the first
attempt, then 1, 2, ...) and hands the count to the database step, whose ``retry_after_s`` becomes the
delay before the next attempt. Each failure is logged with its attempt and delay, which is what this test
reads, with the times the records were made.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import kopf
import pytest
import yaml
from fraud_operator.database import backoff_delay
from fraud_operator.handlers import register
from kopf.testing import KopfRunner

from tests.conftest import KubeCluster, wait_for

pytestmark = pytest.mark.cluster

SAMPLE = Path(__file__).resolve().parents[3] / "crds" / "samples" / "fraudpipeline-payments.yaml"
RETRY = re.compile(r"pipeline (\S+)/payments: (.*) \(attempt (\d+)\); again in (\d+) s")


def _retries(caplog: pytest.LogCaptureFixture, namespace: str) -> list[tuple[float, int, int, str]]:
    """(time, attempt, delay, message) of each failed reconcile of the pipeline logged so far."""
    found = []
    for record in list(caplog.records):
        match = RETRY.fullmatch(record.getMessage())
        if match and match.group(1) == namespace:
            found.append((record.created, int(match.group(3)), int(match.group(4)), match.group(2)))
    return found


def test_each_retry_of_a_missing_cnpg_cluster_waits_longer(
    kube: KubeCluster, namespace: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    caplog.set_level(logging.INFO, logger="fraud_operator.handlers.registration")
    doc = yaml.safe_load(SAMPLE.read_text())  # its CNPG Cluster does not exist: ClusterNotFound
    doc["metadata"]["namespace"] = namespace
    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=3600, compare_seconds=3600)  # no level check retries it
    args = ["run", "--standalone", "--namespace", namespace, "-m", "fraud_operator"]
    with KopfRunner(args, registry=registry, timeout=120) as runner:
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
        retries = wait_for(
            lambda: len(found := _retries(caplog, namespace)) >= 3 and found, timeout=90, what="third failure"
        )
        kube.kubectl("delete", "fp/payments", "-n", namespace, "--timeout=60s")
    assert runner.exception is None, runner.output
    (t0, a0, d0, message), (t1, a1, d1, _), (t2, a2, d2, _) = retries[:3]
    assert "does not exist" in message and "CNPG Cluster" in message
    # attempt 0 asked for backoff_delay(..., 0) = 15 s, attempt 1 for 30 s, attempt 2 for 60 s; each next
    # attempt came that long (plus the reconcile's own time) after the one before: a fixed delay would
    # give equal steps
    assert (a0, a1, a2) == (0, 1, 2)
    assert (d0, d1, d2) == tuple(int(backoff_delay("ClusterNotFound", n)) for n in range(3)) == (15, 30, 60)
    assert 15 <= t1 - t0 < 30 <= t2 - t1 < 60, retries

"""The chart's `helm test` Pod and monitoring objects on the real API server; its check on a real operator.

No kubelet runs here, so the Pod itself cannot run: the API server admits it (server-side dry-run under
Pod Security ``restricted``), and its script runs as its container would run it (``python3 -c``) against a
real ``streamflow operator`` started with the environment the chart's Deployment gives it. The Service hop
between them needs kube-proxy and is the one thing left to a real cluster.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamflow_dev.tools import ensure_helm

from tests.conftest import KubeCluster
from tests.shipping.chart import by_kind, documents, render
from tests.shipping.test_chart_values import run_helm_test_script

pytestmark = pytest.mark.cluster

MONITORING_CRDS = (
    "servicemonitors.monitoring.coreos.com",
    "podmonitors.monitoring.coreos.com",
    "prometheusrules.monitoring.coreos.com",
)


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm(quiet=True)


def _dry_run(kube: KubeCluster, *docs: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return kube.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(list(docs)), check=False
    )


def test_helm_test_pod_is_admitted_under_restricted_pod_security(
    helm: Path, kube: KubeCluster, namespace: str
) -> None:
    kube.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    docs = documents(render(helm, release=f"sf{uuid.uuid4().hex[:6]}", namespace=namespace))
    (pod,) = [d for d in by_kind(docs, "Pod") if d["metadata"]["annotations"]["helm.sh/hook"] == "test"]
    admitted = _dry_run(kube, pod)
    assert admitted.returncode == 0, admitted.stderr
    assert "violate" not in admitted.stderr and "(server dry run)" in admitted.stdout, admitted.stderr
    # the same namespace refuses a Pod that drops the restrictions: the label is enforced
    loose = yaml.safe_load(yaml.safe_dump(pod))
    loose["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    refused = _dry_run(kube, loose)
    assert refused.returncode != 0 and "allowPrivilegeEscalation" in refused.stderr, refused.stderr


def test_monitoring_objects_pass_the_real_prometheus_operator_crds(
    helm: Path, kube: KubeCluster, namespace: str
) -> None:
    for crd in MONITORING_CRDS:
        kube.kubectl("get", "crd", crd)  # installed by the kube fixture from the upstream files
    docs = documents(
        render(
            helm,
            "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.labels.release=prometheus",
            "metrics.podMonitor.enabled=true",
            "prometheusRule.enabled=true",
            release=f"sf{uuid.uuid4().hex[:6]}",
            namespace=namespace,
        )
    )
    monitoring = [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert sorted(d["kind"] for d in monitoring) == ["PodMonitor", "PrometheusRule", "ServiceMonitor"]
    result = _dry_run(kube, *monitoring)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == 3, result.stdout
    # the CRDs' schemas are really applied: a malformed endpoint is refused
    (monitor,) = by_kind(monitoring, "ServiceMonitor")
    broken = yaml.safe_load(yaml.safe_dump(monitor))
    broken["spec"]["endpoints"][0]["interval"] = "every minute"
    refused = _dry_run(kube, broken)
    assert refused.returncode != 0 and "interval" in refused.stderr, refused.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def operator_process(
    helm: Path, kube: KubeCluster, namespace: str, tmp_path: Path
) -> Iterator[tuple[int, int]]:
    """``streamflow operator`` with the chart Deployment's environment; its (metrics, health) ports."""
    metrics, health = _free_port(), _free_port()
    docs = documents(
        render(
            helm,
            "env.STREAMFLOW_RESYNC_SECONDS=7",
            "env.STREAMFLOW_VERIFY_ARTIFACTS=false",
            f"env.STREAMFLOW_ARTIFACT_CACHE={tmp_path / 'artifacts'}",
            "extraEnv[0].name=PYTHONUNBUFFERED",
            "extraEnv[0].value=1",
            f"metricsPort={metrics}",
            f"livenessPort={health}",
            f"watchNamespaces={{{namespace}}}",
        )
    )
    (deployment,) = by_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    chart_env = {e["name"]: e["value"] for e in container["env"]}
    assert chart_env["STREAMFLOW_RESYNC_SECONDS"] == "7"
    # the image's ENTRYPOINT (`streamflow operator`) with the Deployment's arguments
    script = (
        f"import sys; from streamflow_cli import main; sys.exit(main(['operator', *{container['args']!r}]))"
    )
    log = (tmp_path / "operator.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, **chart_env, "KUBECONFIG": str(kube.kubeconfig)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield metrics, health
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()
        print((tmp_path / "operator.log").read_text()[-3000:])  # shown when the test fails


def test_helm_test_script_passes_against_the_real_operator(
    helm: Path, operator_process: tuple[int, int]
) -> None:
    metrics, health = operator_process
    (pod,) = by_kind(documents(render(helm)), "Pod")
    (script,) = pod["spec"]["containers"][0]["args"]
    result = run_helm_test_script(
        script, f"http://127.0.0.1:{health}/healthz", f"http://127.0.0.1:{metrics}/metrics", deadline=90
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: health" in result.stdout and "ok: metrics" in result.stdout

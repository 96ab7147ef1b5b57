"""The Helm chart, linted and rendered by the real helm (built from the Go module proxy)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_operator.operator_cmd import register as register_operator_cmd
from streamflow_dev.tools import ensure_helm

from tests.shipping.chart import (
    CHART,
    KUBE_VERSION,
    REPO,
    by_kind,
    documents,
    granted_rules,
    needed_rules,
    render,
)


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm(quiet=True)


def _deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(docs, "Deployment")
    return dict(deployment)


def _operator_defaults() -> dict[str, Any]:
    import argparse

    parser = argparse.ArgumentParser()
    register_operator_cmd(parser.add_subparsers())
    args = parser.parse_args(["operator", "--all-namespaces"])
    return vars(args)


@pytest.mark.parametrize(
    "sets",
    [
        [],
        ["watchNamespaces={fraud,payments}"],
        [
            "metrics.serviceMonitor.enabled=true",
            "metrics.podMonitor.enabled=true",
            "prometheusRule.enabled=true",
        ],
    ],
    ids=["defaults", "namespaced", "monitoring"],
)
def test_helm_lint_strict(helm: Path, sets: list[str]) -> None:
    argv = [str(helm), "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    for item in sets:
        argv += ["--set", item]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_deployment_is_one_recreated_restricted_replica(helm: Path) -> None:
    docs = documents(render(helm))
    deployment = _deployment(docs)
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["serviceAccountName"] == "streamflow-streamflow-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # the image's user (Dockerfile: USER 10001:10001) is the one the pod asks for
    assert "USER 10001:10001" in (REPO / "Dockerfile").read_text()
    assert pod["securityContext"]["runAsUser"] == 10001
    # the probe hits kopf's liveness endpoint on the port `streamflow operator` serves it on
    defaults = _operator_defaults()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": defaults["metrics_port"], "liveness": defaults["liveness_port"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    assert container["args"] == [
        "--all-namespaces",
        f"--metrics-port={defaults['metrics_port']}",
        f"--liveness-port={defaults['liveness_port']}",
    ]
    assert container["image"] == "ghcr.io/streamflow-io/streamflow-operator:0.1.0"


def test_namespaced_mode_binds_the_rules_per_namespace_only(helm: Path) -> None:
    docs = documents(render(helm, "watchNamespaces={fraud,payments}"))
    container = _deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["--namespace=fraud", "--namespace=payments"]
    bindings = by_kind(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["fraud", "payments"]
    assert {b["roleRef"]["name"] for b in bindings} == {"streamflow-streamflow-operator"}
    # cluster-wide, only CRD discovery stays
    (cluster_binding,) = by_kind(docs, "ClusterRoleBinding")
    assert cluster_binding["roleRef"]["name"] == "streamflow-streamflow-operator-discovery"


def test_rbac_grants_exactly_what_the_operator_code_needs(helm: Path) -> None:
    docs = documents(render(helm))
    granted = granted_rules(docs)
    needed, why = needed_rules()
    for role in [*by_kind(docs, "ClusterRole"), *by_kind(docs, "Role")]:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"wildcard in {role['metadata']['name']}: {rule}"
            assert "resourceNames" not in rule or rule["resourceNames"]
    missing = {k: sorted(v - granted.get(k, set())) for k, v in needed.items() if v - granted.get(k, set())}
    extra = {k: sorted(v - needed.get(k, set())) for k, v in granted.items() if v - needed.get(k, set())}
    assert not missing, f"the operator needs, the chart does not grant: {missing}"
    assert not extra, f"the chart grants what no code needs: {extra}"
    assert granted[("", "secrets")] == {"get"}
    assert why[("", "secrets", "get")].startswith("Kafka credentials")


def test_values_schema_refuses_bad_values(helm: Path) -> None:
    for bad, field in (
        ("metricsPort=0", "metricsPort"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("watchNamespaces={Bad_NS}", "watchNamespaces"),
        ("replicas=2", "replicas"),
    ):
        with pytest.raises(RuntimeError) as info:
            render(helm, bad)
        assert field in str(info.value), (bad, str(info.value))


def test_servicemonitor_without_its_service_is_refused(helm: Path) -> None:
    with pytest.raises(RuntimeError, match=r"needs metrics\.service\.enabled"):
        render(helm, "metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false")


def test_monitoring_objects_and_the_rules_file(helm: Path) -> None:
    docs = documents(
        render(
            helm,
            "metrics.serviceMonitor.enabled=true",
            "metrics.podMonitor.enabled=true",
            "prometheusRule.enabled=true",
            "prometheusRule.labels.release=prometheus",
        )
    )
    (service,) = by_kind(docs, "Service")
    (monitor,) = by_kind(docs, "ServiceMonitor")
    (pod_monitor,) = by_kind(docs, "PodMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    (rule,) = by_kind(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    rules_file = yaml.safe_load((CHART / "files" / "streamflow.rules.yaml").read_text())
    assert rule["spec"] == rules_file  # the file promtool checks is exactly what the cluster gets
    assert not by_kind(documents(render(helm)), "PrometheusRule")


def test_chart_crds_are_the_generated_crds() -> None:
    ours = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    shipped = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert shipped == ours
    for name in ours:
        assert (CHART / "crds" / name).read_bytes() == (REPO / "crds" / name).read_bytes(), (
            f"charts/streamflow-operator/crds/{name} differs from crds/{name}: copy it again"
        )

"""The chart on the real API server: accepted by server-side dry-run, and its RBAC is enough, and no more.

The operator runs under kopf's KopfRunner with a token of the chart's ServiceAccount from the TokenRequest
API (``kubectl create token``), through create, scale, a failed job and delete of a pipeline. Its log must
show no Forbidden request; verbs it does not need are refused by the same API server. The pipeline and model
objects seen on the way are judged by the ArgoCD health scripts (the captured JSON fixtures of
test_argocd_health.py come from this test: ``STREAMFLOW_WRITE_ARGOCD_FIXTURES=1``).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import kubernetes.config.kube_config as kube_config
import pytest
import yaml
from fraud_operator.database import HOST_OVERRIDE_ENV
from fraud_operator.handlers import register
from kopf.testing import KopfRunner
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from streamflow_dev.standins.cnpg import (
    AppDatabase,
    cnpg_ready_app_database,
)
from streamflow_dev.standins.flink_operator import (
    write_flink_job_failed,
    write_flink_operator_status,
)
from streamflow_dev.tools import ensure_helm

from tests.conftest import KubeCluster, wait_for
from tests.shipping.argocd import health
from tests.shipping.chart import documents, render, sample

pytestmark = pytest.mark.cluster

FIXTURES = Path(__file__).with_name("fixtures")
FLINK = "flink.apache.org/v1beta1"
OURS = "streamflow.io/v1alpha1"
CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding")


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm(quiet=True)


def _capture(name: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Keep what ArgoCD sees of a live object; written as a fixture when asked to."""
    kept = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {k: obj["metadata"][k] for k in ("name", "generation") if k in obj["metadata"]},
        "spec": obj.get("spec"),
        "status": obj.get("status"),
    }
    if os.environ.get("STREAMFLOW_WRITE_ARGOCD_FIXTURES"):
        FIXTURES.mkdir(exist_ok=True)
        (FIXTURES / f"{name}.json").write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
    return kept


def test_rendered_chart_is_accepted_by_the_api_server(helm: Path, kube: KubeCluster, namespace: str) -> None:
    release = f"sf{uuid.uuid4().hex[:6]}"
    docs = documents(render(helm, f"watchNamespaces={{{namespace}}}", release=release, namespace=namespace))
    result = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs))
    accepted = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(docs), result.stdout
    # The operator's pod, as the Deployment would create it, admitted under Pod Security "restricted".
    kube.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "operator", "namespace": namespace, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    kube.kubectl("create", "serviceaccount", template["spec"]["serviceAccountName"], "-n", namespace)
    admitted = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod), check=False)
    assert admitted.returncode == 0, admitted.stderr
    assert "violate" not in admitted.stderr, admitted.stderr


class _Install:
    """The chart installed for real (every rendered object), its cluster-scoped objects removed afterwards."""

    def __init__(self, kube: KubeCluster, docs: list[dict[str, Any]]) -> None:
        self.kube = kube
        self.docs = docs

    def __enter__(self) -> _Install:
        self.kube.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(self.docs))
        return self

    def __exit__(self, *_: object) -> None:
        cluster_scoped = [d for d in self.docs if d["kind"] in CLUSTER_SCOPED]
        self.kube.kubectl(
            "delete", "--ignore-not-found", "-f", "-", input=yaml.safe_dump_all(cluster_scoped), check=False
        )


def _token_kubeconfig(kube: KubeCluster, namespace: str, account: str, path: Path) -> Path:
    token = kube.kubectl("create", "token", account, "-n", namespace, "--duration=3600s").stdout.strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "target", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {"name": account, "context": {"cluster": "target", "user": account, "namespace": namespace}}
        ],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def installed(helm: Path, kube: KubeCluster, namespace: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The chart, watching only ``namespace``, installed there; its account and a token kubeconfig."""
    release = f"sf{uuid.uuid4().hex[:6]}"
    docs = documents(render(helm, f"watchNamespaces={{{namespace}}}", release=release, namespace=namespace))
    (account,) = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
    with _Install(kube, docs):
        yield account, _token_kubeconfig(kube, namespace, account, tmp_path / "operator.kubeconfig")


@pytest.fixture
def cnpg_database(kube: KubeCluster, namespace: str, pg_server_dsn: str) -> Iterator[AppDatabase]:
    """The sample's CNPG Cluster, played by the package's CNPG stand-in over a real PostgreSQL database."""
    db = sample("fraudpipeline-payments")["spec"]["database"]
    with cnpg_ready_app_database(
        kube.api_client, namespace, db["cnpgCluster"], pg_server_dsn, db["database"]
    ) as app:
        yield app


def _kubectl_as(kube: KubeCluster, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl with the account's own token kubeconfig (not the admin's), never raising on refusal."""
    return subprocess.run(
        [kube.kubectl_path, f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _can(kube: KubeCluster, who: str, verb: str, resource: str, namespace: str) -> bool:
    resource, _, subresource = resource.partition("/")
    argv = ["auth", "can-i", verb, resource, f"--as={who}"]
    argv += ["-n", namespace] if namespace else []
    argv += [f"--subresource={subresource}"] if subresource else []
    result = kube.kubectl(*argv, check=False)
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


def test_verbs_the_operator_does_not_need_are_forbidden(
    kube: KubeCluster, namespace: str, installed: tuple[str, Path]
) -> None:
    account, kubeconfig = installed
    who = f"system:serviceaccount:{namespace}:{account}"
    other = f"elsewhere-{uuid.uuid4().hex[:6]}"
    granted = [
        ("patch", "fraudpipelines.streamflow.io", namespace),
        ("patch", "fraudpipelines.streamflow.io/status", namespace),
        ("get", "secrets", namespace),
        ("create", "events", namespace),
        ("delete", "networkpolicies.networking.k8s.io", namespace),
        ("list", "customresourcedefinitions.apiextensions.k8s.io", ""),
        # held only so that the API server lets it create the Flink pods' Role (RBAC escalation check)
        ("create", "pods", namespace),
        ("update", "configmaps", namespace),
        ("create", "roles.rbac.authorization.k8s.io", namespace),
    ]
    refused = [
        ("delete", "secrets", namespace),
        ("list", "secrets", namespace),
        ("watch", "secrets", namespace),
        ("get", "secrets", other),
        ("get", "fraudpipelines.streamflow.io", other),
        ("patch", "fraudpipelines.streamflow.io", other),
        ("create", "fraudpipelines.streamflow.io", namespace),
        ("delete", "fraudpipelines.streamflow.io", namespace),
        ("delete", "flinkdeployments.flink.apache.org", namespace),
        ("create", "customresourcedefinitions.apiextensions.k8s.io", ""),
        ("escalate", "clusterroles.rbac.authorization.k8s.io", ""),
        # it grants the Flink pods' Role by holding its rules, never through escalate or bind
        ("escalate", "roles.rbac.authorization.k8s.io", namespace),
        ("bind", "roles.rbac.authorization.k8s.io", namespace),
        ("delete", "roles.rbac.authorization.k8s.io", namespace),
        ("delete", "serviceaccounts", namespace),
        ("create", "serviceaccounts/token", namespace),
        ("patch", "pods", namespace),
        ("update", "deployments.apps", namespace),
        ("create", "pods/exec", namespace),
    ]
    for verb, resource, ns in granted:
        assert _can(kube, who, verb, resource, ns), f"{verb} {resource} in {ns!r} should be allowed"
    for verb, resource, ns in refused:
        assert not _can(kube, who, verb, resource, ns), f"{verb} {resource} in {ns!r} should be forbidden"
    # and a real request with the account's own token is refused by the API server
    kube.kubectl("create", "secret", "generic", "kafka-credentials", "-n", namespace, "--from-literal=k=v")
    result = _kubectl_as(kube, kubeconfig, "delete", "secret", "kafka-credentials", "-n", namespace)
    assert result.returncode != 0 and "forbidden" in result.stderr.lower(), result.stderr
    read = _kubectl_as(kube, kubeconfig, "get", "secret", "kafka-credentials", "-n", namespace)
    assert read.returncode == 0, read.stderr


def _token_config_sends_token(kubeconfig: Path) -> bool:
    """Whether a client loaded from a token kubeconfig sends the token (kubernetes==36.0.0 does not)."""
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return bool(configuration.auth_settings())


class _Admin:
    """The cluster admin's view of one namespace: acting as the users and as the Flink operator."""

    def __init__(self, kube: KubeCluster, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.dynamic = DynamicClient(kube.api_client)

    def kubectl(self, *args: str, input: str | None = None) -> None:
        self.kube.kubectl(*args, "-n", self.namespace, input=input)

    def apply(self, *docs: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(list(docs)))

    def pipeline(self) -> dict[str, Any]:
        return self.get(OURS, "FraudPipeline", "payments") or {}

    def healthy_pipeline(self) -> dict[str, Any] | None:
        obj = self.pipeline()
        return obj if health(obj)[0] == "Healthy" else None

    def parallelism(self) -> int:
        return int((self.get(FLINK, "FlinkDeployment", "payments") or {})["spec"]["job"]["parallelism"])

    def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
        try:
            return dict(resource.get(name=name, namespace=self.namespace).to_dict())
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        obj = self.get(OURS, "FraudPipeline", name) or {}
        found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind]
        return dict(found[0]) if found else {}

    def wait_condition(self, name: str, kind: str, status: str, reason: str | None = None) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            found = self.condition(name, kind)
            ok = found.get("status") == status and reason in (None, found.get("reason"))
            return found if ok else None

        try:
            result: dict[str, Any] = wait_for(
                matches, timeout=120, what=f"{name}: {kind}={status} ({reason})"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; status now: {self.pipeline().get('status')}") from None
        return result

    def phase(self, model: str) -> str | None:
        return ((self.get(OURS, "FraudModel", model) or {}).get("status") or {}).get("phase")


def test_operator_runs_a_pipeline_lifecycle_under_the_chart_rbac(
    kube: KubeCluster,
    namespace: str,
    installed: tuple[str, Path],
    cnpg_database: AppDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _account, kubeconfig = installed
    # Both kopf's login and the operator's own clients load the default kubeconfig: the account's.
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.setenv("STREAMFLOW_KAFKA_TIMEOUT_SECONDS", "3")
    # Outside the cluster, the CNPG `-rw` service is the local PostgreSQL server (as in the operator's tests).
    monkeypatch.setenv(HOST_OVERRIDE_ENV, f"{cnpg_database.host}:{cnpg_database.port}")
    # kubernetes==36's loaders keep a token where the client never sends it; the operator's own clients
    # carry it over (fraud_operator.handlers.context), which this run under the account's token proves.
    assert not _token_config_sends_token(kubeconfig), "the client library now sends tokens itself"
    admin = _Admin(kube, namespace)
    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=2.0)
    args = ["run", "--standalone", "--namespace", namespace, "-m", "fraud_operator"]
    with KopfRunner(args, registry=registry, timeout=120) as runner:
        admin.apply(sample("fraudmodel-iforest-v1"), sample("fraudmodel-hgb-v2"))
        wait_for(lambda: admin.phase("iforest-v1") == admin.phase("hgb-v2") == "Ready", what="models Ready")
        model = admin.get(OURS, "FraudModel", "iforest-v1")
        assert model is not None
        assert health(_capture("fraudmodel-ready", model)) == ("Healthy", model["status"]["message"])

        admin.apply(sample("fraudpipeline-payments"))
        wait_for(lambda: admin.get(FLINK, "FlinkDeployment", "payments"), what="the FlinkDeployment")
        admin.wait_condition("payments", "Progressing", "True", "WaitingForJob")
        waiting = _capture(
            "fraudpipeline-waiting-for-job", admin.get(OURS, "FraudPipeline", "payments") or {}
        )
        assert health(waiting)[0] == "Progressing"

        write_flink_operator_status(kube.api_client, namespace, "payments")
        admin.wait_condition("payments", "Ready", "True")
        # Ready=True may be seen a moment before the status names the current generation (the Flink status
        # event and the spec reconcile write separately); ArgoCD polls, so wait for what it would settle on.
        ready = wait_for(admin.healthy_pipeline, timeout=60, what="the pipeline Healthy for ArgoCD")
        _capture("fraudpipeline-ready", ready)

        admin.kubectl("scale", "fp/payments", "--replicas=3")
        wait_for(
            lambda: (
                (admin.get(FLINK, "FlinkDeployment", "payments") or {})["spec"]["job"]["parallelism"] == 3
            ),
            what="the FlinkDeployment scaled to 3",
        )

        write_flink_job_failed(kube.api_client, namespace, "payments", "TaskManager lost")
        degraded = admin.wait_condition("payments", "Degraded", "True")
        degraded_obj = _capture("fraudpipeline-degraded", admin.pipeline())
        assert health(degraded_obj) == ("Degraded", degraded["message"])

        future = sample("fraudmodel-iforest-v1")
        future["metadata"]["name"] = "from-the-future"
        future["spec"]["trainingWindow"]["end"] = "2999-01-01T00:00:00Z"
        admin.apply(future)
        wait_for(
            lambda: admin.phase("from-the-future") == "Rejected", what="the model from the future Rejected"
        )
        rejected = admin.get(OURS, "FraudModel", "from-the-future")
        assert rejected is not None
        assert health(_capture("fraudmodel-rejected", rejected)) == (
            "Degraded",
            rejected["status"]["message"],
        )

        admin.kubectl("delete", "fp/payments", "--wait=false")
        wait_for(lambda: admin.get(OURS, "FraudPipeline", "payments") is None, what="the pipeline deleted")
        admin.kubectl("delete", "fraudmodels", "--all", "--wait=false")
        wait_for(lambda: not admin.phase("iforest-v1") and not admin.phase("hgb-v2"), what="models deleted")
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output
    assert "forbidden" not in runner.output.lower(), runner.output
    assert " 403" not in runner.output, runner.output

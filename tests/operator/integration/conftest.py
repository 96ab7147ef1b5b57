"""The operator run by kopf's KopfRunner against the real local API server, one namespace per test.

Handlers go into a fresh registry with a 2 s resync so that level-based behaviour (no-op resyncs, drift)
shows within a test; the registry that ``import fraud_operator`` fills is checked separately.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from fraud_operator.database import HOST_OVERRIDE_ENV
from fraud_operator.handlers import register
from kopf.testing import KopfRunner
from kubernetes.dynamic import DynamicClient
from streamflow_dev.standins.cnpg import (
    AppDatabase,
    cnpg_ready_app_database,
)
from streamflow_dev.standins.flink_operator import write_flink_operator_status

from tests.conftest import KubeCluster, wait_for

SAMPLES = Path(__file__).resolve().parents[3] / "crds" / "samples"
RESYNC_SECONDS = 2.0
# Every kind a pipeline can own (Strimzi topic mode), as (apiVersion, kind).
PIPELINE_CHILD_KINDS = (
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("flink.apache.org/v1beta1", "FlinkDeployment"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    ("batch/v1", "CronJob"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("kafka.strimzi.io/v1", "KafkaTopic"),
)
SHADOW_COMPARE_SECONDS = 1.0
# What `import fraud_operator` registered (before any test replaced kopf's default registry).
IMPORT_REGISTRY = kopf.get_default_registry()


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of a sample CR from crds/samples."""
    doc = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return copy.deepcopy(doc)


class Cluster:
    """Small conveniences over the real kubectl and the dynamic client for one namespace."""

    def __init__(self, kube: KubeCluster, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.dynamic = DynamicClient(kube.api_client)

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> Any:
        return self.kube.kubectl(*args, "-n", self.namespace, check=check, input=input)

    def apply(self, *docs: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(list(docs)))

    def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
        try:
            obj = resource.get(name=name, namespace=self.namespace)
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        return dict(obj.to_dict())

    def items(self, api_version: str, kind: str, selector: str = "") -> list[dict[str, Any]]:
        resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
        items = resource.get(namespace=self.namespace, label_selector=selector).to_dict()["items"]
        return [dict(item) for item in items]

    def pipeline(self, name: str) -> dict[str, Any]:
        obj = self.get("streamflow.io/v1alpha1", "FraudPipeline", name)
        assert obj is not None, f"FraudPipeline {name} is gone"
        return obj

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        for item in (self.pipeline(name).get("status") or {}).get("conditions") or []:
            if item["type"] == type_:
                return dict(item)
        return {}

    def wait_condition(
        self, name: str, type_: str, status: str, reason: str | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            found = self.condition(name, type_)
            ok = found.get("status") == status and (reason is None or found.get("reason") == reason)
            return found if ok else None

        try:
            result: dict[str, Any] = wait_for(matches, timeout=timeout, what=f"{type_}={status} ({reason})")
        except AssertionError as exc:
            status_now = json.dumps((self.pipeline(name).get("status") or {}), indent=1)
            raise AssertionError(f"{exc}; status now:\n{status_now}") from None
        return result

    def run_flink_job(self, name: str, timeout: float = 90) -> dict[str, Any]:
        """Report the job RUNNING and STABLE like the Flink operator, for every generation, until Ready.

        The operator may still change the FlinkDeployment after it first exists (e.g. a shadow model that
        turns Ready a moment later); the real Flink operator observes each generation, so this writes the
        status again whenever the FlinkDeployment's generation moves past the one last reported.
        """
        reported: list[int] = []

        def ready() -> dict[str, Any] | None:
            live = self.get("flink.apache.org/v1beta1", "FlinkDeployment", name)
            generation = int(live["metadata"]["generation"]) if live else None
            if generation is not None and (not reported or reported[-1] != generation):
                write_flink_operator_status(self.kube.api_client, self.namespace, name)
                reported.append(generation)
            found = self.condition(name, "Ready")
            return found if found.get("status") == "True" else None

        try:
            result: dict[str, Any] = wait_for(ready, timeout=timeout, what=f"{name} Ready=True")
        except AssertionError as exc:
            status_now = json.dumps((self.pipeline(name).get("status") or {}), indent=1)
            reported_text = f"generations reported: {reported}"
            raise AssertionError(f"{exc} ({reported_text}); status now:\n{status_now}") from None
        return result

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.items("v1", "Event") if e.get("reason") == reason]


@pytest.fixture
def cluster(kube: KubeCluster, namespace: str) -> Cluster:
    return Cluster(kube, namespace)


@pytest.fixture
def cnpg_database(kube: KubeCluster, namespace: str, pg_server_dsn: str) -> Iterator[AppDatabase]:
    """The samples' CNPG cluster, played by the CNPG test helper over a real database on the local server."""
    db = sample("fraudpipeline-payments")["spec"]["database"]
    with cnpg_ready_app_database(
        kube.api_client, namespace, db["cnpgCluster"], pg_server_dsn, db["database"]
    ) as app:
        yield app


@pytest.fixture
def operator_env(kube: KubeCluster, monkeypatch: pytest.MonkeyPatch, cnpg_database: AppDatabase) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    monkeypatch.setenv("STREAMFLOW_TOPIC_DELETE_TIMEOUT_SECONDS", "4")
    monkeypatch.setenv("STREAMFLOW_KAFKA_TIMEOUT_SECONDS", "3")
    # The operator runs outside the cluster here: reach the `-rw` service's database on the local server.
    monkeypatch.setenv(HOST_OVERRIDE_ENV, f"{cnpg_database.host}:{cnpg_database.port}")


def _release_finalizers(kube: KubeCluster, namespace: str) -> None:
    """kopf's finalizers outlive the stopped operator; drop them so the namespace can be deleted."""
    for plural in ("fraudpipelines", "fraudmodels"):
        names = kube.kubectl("get", plural, "-n", namespace, "-o", "name").stdout.split()
        for name in names:
            kube.kubectl(
                "patch", name, "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
            )


def _run(kube: KubeCluster, namespace: str, registry: kopf.OperatorRegistry) -> Iterator[KopfRunner]:
    args = ["run", "--standalone", "--namespace", namespace, "-m", "fraud_operator"]
    settings = kopf.OperatorSettings()
    settings.queueing.exit_timeout = 0.5  # stop quickly between tests; nothing is queued by then
    settings.background.instant_exit_timeout = 0.1
    with KopfRunner(args, registry=registry, settings=settings, timeout=60) as runner:
        yield runner
    _release_finalizers(kube, namespace)
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output


@pytest.fixture
def operator(operator_env: None, kube: KubeCluster, namespace: str) -> Iterator[KopfRunner]:
    """The operator (all handlers, resync every 2 s) watching the test's namespace."""
    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=RESYNC_SECONDS)
    yield from _run(kube, namespace, registry)


@pytest.fixture
def shadow_operator(operator_env: None, kube: KubeCluster, namespace: str) -> Iterator[KopfRunner]:
    """The operator with the shadow comparison every second (its default interval is minutes)."""
    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=RESYNC_SECONDS, compare_seconds=SHADOW_COMPARE_SECONDS)
    yield from _run(kube, namespace, registry)


@pytest.fixture
def imported_operator(operator_env: None, kube: KubeCluster, namespace: str) -> Iterator[KopfRunner]:
    """The operator exactly as ``kopf run -m fraud_operator`` registers it (default 30 s resync)."""
    yield from _run(kube, namespace, IMPORT_REGISTRY)

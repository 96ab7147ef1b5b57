"""The chart's configuration surface, rendered by the real helm: settings, image, the `helm test` Pod."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_operator.settings import OPERATOR_SETTINGS, load
from streamflow_dev.tools import ensure_helm

from tests.shipping.chart import CHART, by_kind, documents, render

SAMPLE = {
    "seconds": "45",
    "bytes": "1048576",
    "boolean": "false",
    "host:port": "db.example:5433",
    "path": "/var/cache/streamflow",
}
APP_VERSION = str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])
REPOSITORY = "ghcr.io/streamflow-io/streamflow-operator"


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm(quiet=True)


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _test_pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pods = [d for d in by_kind(docs, "Pod") if d["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    (pod,) = pods
    return dict(pod)


def test_every_operator_setting_is_settable_through_env(helm: Path) -> None:
    sets = [f"env.{s.name}={SAMPLE[s.kind.name]}" for s in OPERATOR_SETTINGS]
    env = _container(documents(render(helm, *sets)))["env"]
    assert [e["name"] for e in env] == sorted(s.name for s in OPERATOR_SETTINGS)
    values = {e["name"]: e["value"] for e in env}
    assert values == {s.name: SAMPLE[s.kind.name] for s in OPERATOR_SETTINGS}
    # what the chart passes is what the operator accepts
    loaded = load(values)
    assert loaded["STREAMFLOW_RESYNC_SECONDS"] == 45.0 and loaded["STREAMFLOW_VERIFY_ARTIFACTS"] is False


def test_no_env_by_default(helm: Path) -> None:
    assert "env" not in _container(documents(render(helm)))


def test_values_file_numbers_stay_whole(helm: Path, tmp_path: Path) -> None:
    """A values file's numbers reach the template as float64; 67108864 must not become 6.7108864e+07."""
    values = tmp_path / "values.yaml"
    env = {"STREAMFLOW_ARTIFACT_MAX_BYTES": 67108864, "STREAMFLOW_ARTIFACT_TIMEOUT_SECONDS": 2.5}
    values.write_text(yaml.safe_dump({"env": env}))
    rendered = _container(documents(render(helm, values_file=values)))["env"]
    assert {e["name"]: e["value"] for e in rendered} == {
        "STREAMFLOW_ARTIFACT_MAX_BYTES": "67108864",
        "STREAMFLOW_ARTIFACT_TIMEOUT_SECONDS": "2.5",
    }
    assert load({e["name"]: e["value"] for e in rendered})["STREAMFLOW_ARTIFACT_MAX_BYTES"] == 67108864


def test_extra_env_follows_env_and_secrets_come_from_secrets(helm: Path) -> None:
    env = _container(
        documents(
            render(
                helm,
                "env.STREAMFLOW_KAFKA_TIMEOUT_SECONDS=5",
                "extraEnv[0].name=HTTPS_PROXY",
                "extraEnv[0].value=http://proxy:3128",
                "extraEnv[1].name=STREAMFLOW_PG_DSN",
                "extraEnv[1].valueFrom.secretKeyRef.name=db",
                "extraEnv[1].valueFrom.secretKeyRef.key=dsn",
                "extraEnv[2].name=WORKERS",
                "extraEnv[2].value=4",
            )
        )
    )["env"]
    assert env == [
        {"name": "STREAMFLOW_KAFKA_TIMEOUT_SECONDS", "value": "5"},
        {"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
        {"name": "STREAMFLOW_PG_DSN", "valueFrom": {"secretKeyRef": {"name": "db", "key": "dsn"}}},
        {"name": "WORKERS", "value": "4"},  # --set makes 4 a number; Kubernetes wants a string
    ]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["env.STREAMFLOW_RESYNC=5"], "'STREAMFLOW_RESYNC' not allowed"),
        (["env.STREAMFLOW_RESYNC_SECONDS=soon"], "/env/STREAMFLOW_RESYNC_SECONDS"),
        (["env.STREAMFLOW_RESYNC_SECONDS=0"], "/env/STREAMFLOW_RESYNC_SECONDS"),
        (["env.STREAMFLOW_ARTIFACT_MAX_BYTES=1.5"], "/env/STREAMFLOW_ARTIFACT_MAX_BYTES"),
        (["env.STREAMFLOW_VERIFY_ARTIFACTS=maybe"], "/env/STREAMFLOW_VERIFY_ARTIFACTS"),
        (["env.STREAMFLOW_DB_HOST_OVERRIDE=nohost"], "/env/STREAMFLOW_DB_HOST_OVERRIDE"),
        (["env.STREAMFLOW_PG_DSN=postgresql://u:p@h/d"], "'STREAMFLOW_PG_DSN' not allowed"),
        (["extraEnv[0].name=DB_PASSWORD", "extraEnv[0].value=hunter2"], "/extraEnv/0"),
        (["extraEnv[0].name=STREAMFLOW_PG_DSN", "extraEnv[0].value=postgresql://u:p@h/d"], "/extraEnv/0"),
        (
            [
                "extraEnv[0].name=API_TOKEN",
                "extraEnv[0].valueFrom.configMapKeyRef.name=c",
                "extraEnv[0].valueFrom.configMapKeyRef.key=k",
            ],
            "/extraEnv/0/valueFrom",
        ),
        (["extraEnv[0].value=x"], "/extraEnv/0"),
        (["extraEnv[0].name=1BAD", "extraEnv[0].value=x"], "/extraEnv/0/name"),
        (
            [
                "env.STREAMFLOW_RESYNC_SECONDS=6",
                "extraEnv[0].name=STREAMFLOW_RESYNC_SECONDS",
                "extraEnv[0].valueFrom.configMapKeyRef.name=c",
                "extraEnv[0].valueFrom.configMapKeyRef.key=k",
            ],
            "STREAMFLOW_RESYNC_SECONDS is set in both env and extraEnv",
        ),
        (["tmpSizeLimit=lots"], "/tmpSizeLimit"),
        (["resyncSeconds=30"], "'resyncSeconds' not allowed"),
    ],
    ids=lambda v: v if isinstance(v, str) else ",".join(v)[:60],
)
def test_bad_settings_are_refused_before_anything_renders(helm: Path, sets: list[str], message: str) -> None:
    with pytest.raises(RuntimeError) as info:
        render(helm, *sets)
    assert message in str(info.value), str(info.value)
    assert "hunter2" not in str(info.value)


def test_image_tag_defaults_to_the_charts_app_version(helm: Path) -> None:
    default = documents(render(helm))
    assert _container(default)["image"] == f"{REPOSITORY}:{APP_VERSION}"
    assert _test_pod(default)["spec"]["containers"][0]["image"] == f"{REPOSITORY}:{APP_VERSION}"
    tagged = _container(documents(render(helm, "image.repository=reg.example/op", "image.tag=1.2.3")))
    assert tagged["image"] == "reg.example/op:1.2.3"
    digest = "sha256:" + "ab" * 32
    pinned = _container(documents(render(helm, "image.tag=1.2.3", f"image.digest={digest}")))
    assert pinned["image"] == f"{REPOSITORY}@{digest}"


def test_tmp_volume_holds_the_artifact_cache_budget(helm: Path) -> None:
    (deployment,) = by_kind(documents(render(helm)), "Deployment")
    (tmp,) = deployment["spec"]["template"]["spec"]["volumes"]
    limit_mi = int(tmp["emptyDir"]["sizeLimit"].removesuffix("Mi"))
    default_max = next(s for s in OPERATOR_SETTINGS if s.name == "STREAMFLOW_ARTIFACT_MAX_BYTES").default
    assert limit_mi * 1024 * 1024 > 4 * default_max  # the cache keeps up to four artifacts' worth


def test_helm_test_pod_checks_health_and_metrics_through_the_service(helm: Path) -> None:
    docs = documents(render(helm, "metricsPort=9191", "livenessPort=8181", namespace="sf-system"))
    pod = _test_pod(docs)
    (service,) = by_kind(docs, "Service")
    container = _container(docs)
    annotations = pod["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "test"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    (check,) = spec["containers"]
    security = check["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    env = {e["name"]: e["value"] for e in check["env"]}
    host = f"{service['metadata']['name']}.sf-system.svc"
    assert env["HEALTH_URL"] == f"http://{host}:8181/healthz"
    assert env["METRICS_URL"] == f"http://{host}:9191/metrics"
    # the Service carries both ports to the operator's named container ports
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service_ports = {p["port"]: p["targetPort"] for p in service["spec"]["ports"]}
    assert service_ports == {9191: "metrics", 8181: "liveness"}
    assert container_ports == {"metrics": 9191, "liveness": 8181}
    # and selects the operator, never the test Pod
    selector = service["spec"]["selector"].items()
    assert not selector <= pod["metadata"]["labels"].items()
    assert check["args"] == [(CHART / "files" / "helm-test.py").read_text()]


def test_no_helm_test_without_the_service(helm: Path) -> None:
    assert not by_kind(documents(render(helm, "metrics.service.enabled=false")), "Pod")


class _Operator(http.server.BaseHTTPRequestHandler):
    """Answers like the operator's two endpoints; ``metrics`` is the body of /metrics."""

    metrics = "# TYPE streamflow_reconciles_total counter\n"
    health_status = 200

    def do_GET(self) -> None:
        if self.path == "/healthz":
            status, body = self.health_status, "{}"
        elif self.path == "/metrics":
            status, body = 200, self.metrics
        else:
            status, body = 404, "not found"
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[_Operator]]]:
    handler = type("Handler", (_Operator,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def run_helm_test_script(
    script: str, health: str, metrics: str, deadline: float = 4
) -> subprocess.CompletedProcess[str]:
    """The `helm test` Pod's script, run as its container runs it (python3 -c), against the given URLs."""
    env = {**os.environ, "HEALTH_URL": health, "METRICS_URL": metrics, "DEADLINE_SECONDS": str(deadline)}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_helm_test_script_passes_and_fails_on_real_http(
    helm: Path, endpoint: tuple[str, type[_Operator]]
) -> None:
    (script,) = _test_pod(documents(render(helm)))["spec"]["containers"][0]["args"]
    url, handler = endpoint
    good = run_helm_test_script(script, f"{url}/healthz", f"{url}/metrics")
    assert good.returncode == 0, good.stderr
    assert "ok: health" in good.stdout and "ok: metrics" in good.stdout

    handler.health_status = 500
    handler.metrics = "# some other exporter\n"
    bad = run_helm_test_script(script, f"{url}/healthz", f"{url}/metrics", deadline=1)
    assert bad.returncode == 1
    assert "FAILED health" in bad.stderr and "HTTP Error 500" in bad.stderr
    assert "FAILED metrics" in bad.stderr and "'streamflow_reconciles' not in the body" in bad.stderr

    closed = run_helm_test_script(script, "http://127.0.0.1:9/healthz", f"{url}/metrics", deadline=1)
    assert closed.returncode == 1 and "Connection refused" in closed.stderr

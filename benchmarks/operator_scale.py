"""The operator at scale: N FraudPipelines sharing a few FraudModels on the real local API server.

For each N the benchmark starts its own stack (kube-apiserver + etcd + kube-controller-manager and
PostgreSQL, ``streamflow_dev.stack``), one namespace with a Ready CNPG cluster (the CNPG stand-in over a real
app database), ``--models`` FraudModels and N pipelines in Strimzi topic mode (topics are KafkaTopic objects,
no broker needed). A Flink-operator stand-in thread writes each FlinkDeployment's status once per generation,
as the Flink operator would. Then it runs ``streamflow operator`` as its own process and measures:

- cold convergence: operator start -> every pipeline Ready for its current generation (followed by a watch;
  results before 2026-12-05 00:43 polled with a list of every pipeline each second, see ``ready_poll``);
- change latency over ``--patches`` spec patches: patch -> the pipeline's ConfigMap changed (a watch);
- ``--idle-seconds`` idle: the operator's write counter (``streamflow_api_writes_total``), the API server's
  mutating requests (its ``apiserver_request_total``, leases excluded), CPU seconds of the operator and of
  kube-apiserver (+ etcd) from /proc, and the reconciles counted by the operator;
- a restart (SIGTERM, new process): time until every pipeline was reconciled again, writes by the operator
  and at the API server meanwhile, handler failures in its log;
- peak RSS (VmHWM) of each operator process.

The operator runs from ``--source-root`` (a checkout; default: this one) under ``--python`` (default: the
venv at /tmp/opscale/venv holding only the ``[operator]`` dependencies, like the image), so an older
revision can be measured the same way. The machine is shared: the load average before and after each N is
recorded. Every run is appended to the results file.

    python benchmarks/operator_scale.py --pipelines 200 1000 --label after
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "crds" / "samples"
GROUP, VERSION = "streamflow.io", "v1alpha1"
CNPG_CLUSTER, DATABASE = "streamflow-pg", "app"
_PACKAGES = {
    "fraud_operator": "operator",
    "fraud_jobs": "jobs",
    "fraud_models": "models",
    "streamflow_cli": "cli",
}
_MUTATING = {"POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE", "DELETECOLLECTION"}


def _log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- /proc


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# ---------------------------------------------------------------- metrics


def _prometheus(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        yield match.group(1), labels, float(match.group(3))


class Operator:
    """``streamflow operator`` as a child process, with its metrics endpoint and log."""

    def __init__(
        self, python: str, source_root: Path, env: dict[str, str], namespace: str, log: Path
    ) -> None:
        self.port = _free_port()
        overlay = Path(tempfile.mkdtemp(prefix="opscale-src-"))
        for package, folder in _PACKAGES.items():
            (overlay / package).symlink_to(source_root / folder)
        self.log = log
        argv = [python, "-m", "streamflow_cli", "operator", "-n", namespace]
        argv += ["--metrics-port", str(self.port), "--liveness-port", str(_free_port())]
        self.started = time.monotonic()
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            argv, env={**env, "PYTHONPATH": str(overlay)}, stdout=self._out, stderr=subprocess.STDOUT
        )
        self.rss_samples: list[tuple[float, float]] = []  # (s since start, VmRSS MB), every 0.25 s
        threading.Thread(target=self._sample_rss, daemon=True).start()

    def _sample_rss(self) -> None:
        while self.proc.poll() is None:
            with contextlib.suppress(OSError, IndexError, ValueError):
                mb = _status_kb(self.proc.pid, "VmRSS") / 1024
                self.rss_samples.append((time.monotonic() - self.started, mb))
            time.sleep(0.25)

    def rss_timeline(self, seconds: float = 40.0) -> list[float]:
        """The highest resident size (MB) sampled in each second of the first ``seconds``."""
        peaks = [0.0] * int(seconds)
        for at, mb in list(self.rss_samples):
            if at < seconds:
                peaks[int(at)] = max(peaks[int(at)], round(mb, 1))
        return peaks

    def metrics(self) -> dict[str, float]:
        """Sums of the operator's counters: writes, reconciles by kind/result."""
        import urllib.request

        for _ in range(100):
            try:
                text = (
                    urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
                )
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"operator metrics unreachable; log: {self.log}")
        out: dict[str, float] = {"writes": 0.0}
        for name, labels, value in _prometheus(text):
            if name == "streamflow_api_writes_total":
                out["writes"] += value
                out[f"writes:{labels.get('kind')}"] = value
            elif name == "streamflow_reconciles_total":
                key = f"reconciles:{labels.get('kind')}:{labels.get('result')}"
                out[key] = value
                out[f"reconciles:{labels.get('kind')}"] = (
                    out.get(f"reconciles:{labels.get('kind')}", 0) + value
                )
        return out

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def peak_rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmRSS") / 1024

    def failures(self) -> dict[str, int]:
        text = self.log.read_text(errors="replace")
        return {
            "handler_failures": len(re.findall(r"Handler '[^']+' failed", text)),
            "discovery_keyerrors": len(re.findall(r"KeyError: '(?:resources|apis)'", text)),
            "tracebacks": text.count("Traceback (most recent call last)"),
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def _apiserver_writes(kubectl: Callable[..., str]) -> dict[str, float]:
    """Mutating requests the API server counted, by resource[/subresource] (leases left out)."""
    counts: dict[str, float] = {}
    for name, labels, value in _prometheus(kubectl("get", "--raw", "/metrics")):
        if name != "apiserver_request_total" or labels.get("verb", "").upper() not in _MUTATING:
            continue
        resource = labels.get("resource", "")
        if resource == "leases":
            continue
        key = resource + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        counts[key] = counts.get(key, 0.0) + value
    return counts


def _apiserver_requests(kubectl: Callable[..., str]) -> dict[str, dict[str, float]]:
    """Requests the API server served (dry runs apart; watches and leases left out).

    ``by_verb`` counts per verb; ``by_resource`` per verb and resource[/subresource], which says what the
    reads and patches were for.
    """
    by_verb: dict[str, float] = {}
    by_resource: dict[str, float] = {}
    for name, labels, value in _prometheus(kubectl("get", "--raw", "/metrics")):
        if name != "apiserver_request_total" or labels.get("resource") == "leases":
            continue
        verb = labels.get("verb", "").upper()
        if verb == "WATCH":
            continue
        key = verb + (" dry-run" if labels.get("dry_run") else "")
        by_verb[key] = by_verb.get(key, 0.0) + value
        sub = labels.get("subresource")
        detail = f"{key} {labels.get('resource', '')}" + (f"/{sub}" if sub else "")
        by_resource[detail] = by_resource.get(detail, 0.0) + value
    return {"by_verb": by_verb, "by_resource": by_resource}


def _requests_diff(after: dict[str, dict[str, float]], before: dict[str, dict[str, float]]) -> dict[str, Any]:
    return {
        "apiserver_requests": _diff(after["by_verb"], before["by_verb"]),
        "apiserver_requests_by_resource": _diff(after["by_resource"], before["by_resource"]),
    }


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    keys = set(after) | set(before)
    return {
        k: after.get(k, 0.0) - before.get(k, 0.0)
        for k in sorted(keys)
        if after.get(k, 0.0) != before.get(k, 0.0)
    }


def _event_reasons(api_client: Any, namespace: str) -> dict[str, int]:
    """Events in the namespace by (kind of the object, reason): what the cold start's POSTs were."""
    from kubernetes import client

    counts: dict[str, int] = {}
    for event in client.CoreV1Api(api_client).list_namespaced_event(namespace).items:
        key = f"{event.involved_object.kind} {event.reason}"
        counts[key] = counts.get(key, 0) + int(event.count or 1)
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------- objects


def _sample(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _models(count: int) -> list[dict[str, Any]]:
    base = _sample("fraudmodel-iforest-v1")
    models = []
    for i in range(count):
        model = copy.deepcopy(base)
        model["metadata"] = {"name": f"model-{i}"}
        model["spec"]["version"] = f"iforest-v1-{i}"
        models.append(model)
    return models


def _pipelines(count: int, models: int) -> list[dict[str, Any]]:
    base = _sample("fraudpipeline-payments")
    base["spec"].pop("shadowModelRef", None)  # the shadow comparison queries the database on its own timer
    out = []
    for i in range(count):
        pipeline = copy.deepcopy(base)
        pipeline["metadata"] = {"name": f"p-{i:04d}"}
        pipeline["spec"]["modelRef"] = {"name": f"model-{i % models}"}
        out.append(pipeline)
    return out


class FlinkStandIn:
    """Plays the Flink operator: a FlinkDeployment whose status lags its generation gets a RUNNING status."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        self.api_client, self.namespace = api_client, namespace
        self.pool = ThreadPoolExecutor(4)
        self.pending: set[str] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _write(self, name: str, live: dict[str, Any]) -> None:
        from streamflow_dev.standins.flink_operator import write_flink_operator_status

        try:
            write_flink_operator_status(self.api_client, self.namespace, name, live=live)
        except Exception as exc:  # deleted meanwhile: the next event retries
            _log(f"stand-in {name}: {exc}")
        finally:
            with self.lock:
                self.pending.discard(name)

    def _run(self) -> None:
        from kubernetes import client, watch

        api = client.CustomObjectsApi(self.api_client)
        while not self.stopped.is_set():
            with contextlib.suppress(Exception):
                for event in watch.Watch().stream(
                    api.list_namespaced_custom_object,
                    "flink.apache.org",
                    "v1beta1",
                    self.namespace,
                    "flinkdeployments",
                    timeout_seconds=60,
                ):
                    obj = event["object"]
                    if event["type"] == "DELETED":
                        continue
                    observed = (obj.get("status") or {}).get("observedGeneration")
                    name = obj["metadata"]["name"]
                    if observed != obj["metadata"]["generation"]:
                        with self.lock:
                            if name in self.pending:
                                continue
                            self.pending.add(name)
                        self.pool.submit(self._write, name, obj)  # from the watch, as an informer
                    if self.stopped.is_set():
                        return

    def stop(self) -> None:
        self.stopped.set()
        self.pool.shutdown(wait=False)


class ConfigMapWatch:
    """Time of every change of each pipeline ConfigMap's data, from a watch."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        self.api_client, self.namespace = api_client, namespace
        self.data: dict[str, str] = {}
        self.changes: dict[str, list[tuple[float, str]]] = {}
        self.cond = threading.Condition()
        self.stopped = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        from kubernetes import client, watch

        core = client.CoreV1Api(self.api_client)
        while not self.stopped.is_set():
            with contextlib.suppress(Exception):
                for event in watch.Watch().stream(
                    core.list_namespaced_config_map,
                    self.namespace,
                    label_selector="app.kubernetes.io/managed-by=streamflow-operator",
                    timeout_seconds=60,
                ):
                    now = time.monotonic()
                    obj = event["object"]
                    data = json.dumps(obj.data or {}, sort_keys=True)
                    with self.cond:
                        name = obj.metadata.name
                        if self.data.get(name) != data:
                            self.data[name] = data
                            self.changes.setdefault(name, []).append((now, data))
                            self.cond.notify_all()

    def wait_synced(self, names: list[str], timeout: float) -> None:
        """Until the watch's initial events have brought every one of ``names`` (a later first event
        would be taken for a change)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while any(name not in self.data for name in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"ConfigMaps not all seen in {timeout:.0f} s")
                self.cond.wait(left)

    def wait_change(self, name: str, after: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for when, _data in self.changes.get(name, []):
                    if when >= after:
                        return when
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


class ReadyWatch:
    """Which pipelines are Ready for their current generation, from one watch.

    Polling with a list of every pipeline each second cost the API server 1.7 s per list at 1000
    pipelines (its own request metrics) and slowed what it measured; a watch costs nothing at rest.
    """

    def __init__(self, api_client: Any, namespace: str) -> None:
        self.api_client, self.namespace = api_client, namespace
        self.ready: dict[str, bool] = {}
        self.why: dict[str, list[str]] = {}  # name -> what its latest status says while not Ready
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _is_ready(item: dict[str, Any]) -> bool:
        status = item.get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        generation = item["metadata"]["generation"]
        return bool(
            (conditions.get("Ready") or {}).get("status") == "True"
            and status.get("observedGeneration", generation) == generation
        )

    def _run(self) -> None:
        from kubernetes import client, watch

        api = client.CustomObjectsApi(self.api_client)
        version: dict[str, str] = {}
        while not self.stopped.is_set():
            with contextlib.suppress(Exception):
                for event in watch.Watch().stream(
                    api.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    "fraudpipelines",
                    timeout_seconds=60,
                    **version,
                ):
                    obj = event["object"]
                    version["resource_version"] = obj["metadata"]["resourceVersion"]
                    with self.lock:
                        if event["type"] == "DELETED":
                            self.ready.pop(obj["metadata"]["name"], None)
                        else:
                            name = obj["metadata"]["name"]
                            self.ready[name] = self._is_ready(obj)
                            self.why.pop(name, None)
                            if not self.ready[name]:
                                self.why[name] = self._why(obj)

    @staticmethod
    def _why(item: dict[str, Any]) -> list[str]:
        status = item.get("status") or {}
        flink = {k: status.get(k) for k in ("jobState", "lifecycleState", "activeModel")}
        return [
            f"generation {item['metadata']['generation']} observed {status.get('observedGeneration')}",
            f"flink {json.dumps(flink, sort_keys=True)[:200]}",
            *(
                f"{c['type']}={c['status']} {c.get('reason')}"
                for c in status.get("conditions") or []
                if c["status"] != "True" or c["type"] == "Ready"
            ),
        ]

    def count(self) -> int:
        with self.lock:
            return sum(self.ready.values())

    def stragglers(self) -> dict[str, list[str]]:
        """What the status of each pipeline not Ready says now."""
        with self.lock:
            return {name: list(self.why.get(name, [])) for name, ready in self.ready.items() if not ready}


def _create_all(api_client: Any, namespace: str, plural: str, docs: list[dict[str, Any]]) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(api_client)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda d: custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, d), docs
            )
        )


# ---------------------------------------------------------------- one N


def _floor(
    api_client: Any, source: str, target: str, threads: int, cpu: Callable[[], float]
) -> dict[str, Any]:
    """The API server's own cost for the requests a cold start needs, replayed by a bare client from
    ``threads`` threads into namespace ``target``, one kind of request after another: the pipelines created
    (the user's request, before the operator starts); every child the operator wrote, server-side applied
    (metadata, status and owner references stripped); each pipeline's and FlinkDeployment's status as written
    in ``source``, merge-patched onto its copy; each pipeline's Events posted again. The API server's and
    etcd's CPU seconds per request of each kind, summed over what the operator and the Flink operator send
    (creation apart) and divided by the machine's cores, is a time no operator goes below here (the wall
    times also hold this client's own cost)."""
    from fraud_operator.handlers.registration import CHILD_KINDS, FLINK_DEPLOYMENTS
    from kubernetes import client, dynamic

    kinds = [(g, v, p) for g, v, p, _kind in (*CHILD_KINDS, FLINK_DEPLOYMENTS)]  # the children it writes
    dyn = dynamic.DynamicClient(api_client)
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=target)))

    def copy_of(api_version: str, kind: str, item: dict[str, Any]) -> dict[str, Any]:
        meta = item["metadata"]
        clean = {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}
        body = {"apiVersion": api_version, "kind": kind, "metadata": {**clean, "namespace": target}}
        body.update({k: v for k, v in item.items() if k not in ("metadata", "status", "apiVersion", "kind")})
        return body

    by_request: dict[str, dict[str, Any]] = {}

    def timed(label: str, work: Callable[[Any], Any], items: list[Any]) -> None:
        cpu0, t0 = cpu(), time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, items))
        used = cpu() - cpu0
        by_request[label] = {
            "requests": len(items),
            "wall_s": round(time.monotonic() - t0, 2),
            "apiserver_etcd_cpu_s": round(used, 2),
            "cpu_ms_each": round(1000 * used / len(items), 2) if items else None,
        }

    pipelines_api = dyn.resources.get(api_version=f"{GROUP}/{VERSION}", kind="FraudPipeline")
    pipelines = pipelines_api.get(namespace=source).to_dict()["items"]
    timed(
        "create FraudPipeline",
        lambda item: pipelines_api.create(
            body=copy_of(f"{GROUP}/{VERSION}", "FraudPipeline", item), namespace=target
        ),
        pipelines,
    )
    statuses: dict[str, tuple[Any, list[dict[str, Any]]]] = {"FraudPipeline": (pipelines_api, pipelines)}
    children = 0
    for group, version, plural in kinds:
        api_version = f"{group}/{version}" if group else version
        resource = dyn.resources.get(api_version=api_version, name=plural)
        items = resource.get(namespace=source, label_selector="app.kubernetes.io/managed-by").to_dict()[
            "items"
        ]
        bodies = [copy_of(api_version, resource.kind, item) for item in items]
        children += len(bodies)

        def apply(body: dict[str, Any], resource: Any = resource) -> None:
            resource.server_side_apply(
                body=body,
                name=body["metadata"]["name"],
                namespace=target,
                field_manager="floor",
                force_conflicts=True,
            )

        timed(f"apply {resource.kind}", apply, bodies)
        if resource.kind == "FlinkDeployment":
            statuses[resource.kind] = (resource, items)
    for kind, (resource, items) in statuses.items():

        def patch(item: dict[str, Any], resource: Any = resource) -> None:
            resource.status.patch(
                body={"status": item["status"]},
                name=item["metadata"]["name"],
                namespace=target,
                content_type="application/merge-patch+json",
            )

        timed(f"status {kind}", patch, [item for item in items if item.get("status")])
    events = [
        e
        for e in core.list_namespaced_event(source).to_dict()["items"]
        if (e.get("involved_object") or {}).get("kind") == "FraudPipeline"
    ]

    def post(event: dict[str, Any]) -> None:
        involved = {**event["involved_object"], "namespace": target, "uid": None, "resource_version": None}
        core.create_namespaced_event(
            target,
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(generate_name=f"{involved['name']}."),
                involved_object=client.V1ObjectReference(**{k: v for k, v in involved.items() if v}),
                reason=event.get("reason"),
                message=event.get("message"),
                type=event.get("type"),
                source=client.V1EventSource(component="floor"),
                first_timestamp=event.get("first_timestamp"),
                last_timestamp=event.get("last_timestamp"),
                count=1,
            ),
        )

    timed("post Event", post, events)
    children_cpu = sum(v["apiserver_etcd_cpu_s"] for k, v in by_request.items() if k.startswith("apply "))
    after_creation = sum(
        v["apiserver_etcd_cpu_s"] for k, v in by_request.items() if k != "create FraudPipeline"
    )
    cores = os.cpu_count() or 1
    return {
        "objects": children,
        "threads": threads,
        "wall_s": round(sum(v["wall_s"] for k, v in by_request.items() if k.startswith("apply ")), 1),
        "apiserver_etcd_cpu_s": round(children_cpu, 1),
        "by_request": by_request,
        "cold_start_requests_cpu_s": round(after_creation, 1),
        "cold_start_requests_s_on_all_cores": round(after_creation / cores, 1),
        "per_pipeline_ms": round(1000 * after_creation / max(1, len(pipelines)), 1),
    }


_PPROF = "/debug/pprof/profile"


def _profile(kubectl: str, kubeconfig: str, out: Path, after: float = 30.0, seconds: int = 30) -> None:
    """A CPU profile of kube-apiserver (its /debug/pprof), ``seconds`` long, from ``after`` seconds on."""
    time.sleep(after)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as sink:
        subprocess.run(
            [kubectl, f"--kubeconfig={kubeconfig}", "get", "--raw", f"{_PPROF}?seconds={seconds}"],
            stdout=sink,
            check=False,
            timeout=seconds + 60,
        )
    _log(f"apiserver profile: {out} (go tool pprof -top {out})")


def run_one(args: argparse.Namespace, n: int) -> dict[str, Any]:
    from kubernetes import client, config
    from streamflow_dev import stack
    from streamflow_dev.kube import PROFILING_ENV
    from streamflow_dev.standins.cnpg import cnpg_ready_app_database

    result: dict[str, Any] = {"pipelines": n, "models": args.models, "loadavg_before": _loadavg()}
    run_dir = Path(tempfile.mkdtemp(prefix=f"opscale-{n}-", dir="/tmp"))
    if args.apiserver_profile:
        os.environ[PROFILING_ENV] = "1"
    _log(f"N={n}: starting kube + postgres in {run_dir}")
    info = stack.up(run_dir, ["kube", "postgres"], tied_to_parent=True, remember=False)
    operators: list[Operator] = []
    try:
        assert info.kubeconfig and info.pg_dsn and info.kube_bin_dir
        kubeconfig = info.kubeconfig
        kubectl_bin = str(Path(info.kube_bin_dir) / "kubectl")

        def kubectl(*a: str) -> str:
            return subprocess.run(
                [kubectl_bin, f"--kubeconfig={kubeconfig}", *a], capture_output=True, text=True, check=True
            ).stdout

        pids = {Path(p["argv0"]).name: int(p["pid"]) for p in info.processes}
        apiserver, etcd = pids["kube-apiserver"], pids["etcd"]

        api_client = config.new_client_from_config(config_file=kubeconfig)
        custom = client.CustomObjectsApi(api_client)
        namespace = "scale"

        def floor() -> None:
            """The children's floor (``_floor``), appended to the result."""
            result["floor"] = _floor(
                api_client, namespace, "floor", 8, lambda: _cpu_seconds(apiserver) + _cpu_seconds(etcd)
            )
            _log(f"N={n}: floor {result['floor']}")

        client.CoreV1Api(api_client).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
        )
        with cnpg_ready_app_database(api_client, namespace, CNPG_CLUSTER, info.pg_dsn, DATABASE) as app:
            started = time.monotonic()
            _create_all(api_client, namespace, "fraudmodels", _models(args.models))
            _create_all(api_client, namespace, "fraudpipelines", _pipelines(n, args.models))
            result["create_s"] = round(time.monotonic() - started, 1)
            _log(f"N={n}: created {n} pipelines in {result['create_s']} s")
            flink = FlinkStandIn(api_client, namespace)
            readiness = ReadyWatch(api_client, namespace)
            env = {
                **os.environ,
                "KUBECONFIG": kubeconfig,
                "STREAMFLOW_DB_HOST_OVERRIDE": f"{app.host}:{app.port}",
                "STREAMFLOW_VERIFY_ARTIFACTS": "false",
            }
            env.pop("STREAMFLOW_STACK_DIR", None)
            logs = Path(args.log_dir)
            logs.mkdir(parents=True, exist_ok=True)

            # -------------------------------------------------- cold convergence
            api_cpu0, etcd_cpu0 = _cpu_seconds(apiserver), _cpu_seconds(etcd)
            harness_cpu0 = time.process_time()
            requests0 = _apiserver_requests(kubectl)
            op = Operator(
                args.python, Path(args.source_root), env, namespace, logs / f"operator-{args.label}-{n}.log"
            )
            operators.append(op)
            if args.apiserver_profile:
                profile = Path(args.apiserver_profile) / f"apiserver-cold-{args.label}-{n}.pprof"
                sampled = (kubectl_bin, kubeconfig, profile)
                threading.Thread(target=_profile, args=sampled, daemon=True).start()
            ready, converged = 0, None
            deadline = op.started + args.converge_timeout
            stragglers: dict[str, Any] = {}  # the last few pipelines not Ready, when they were first so few
            ready_by_second: list[int] = []  # Ready pipelines at each whole second after the start
            # CPU seconds used so far at each whole second: operator, API server + etcd
            cpu_by_second: list[tuple[float, float]] = []
            while time.monotonic() < deadline:
                ready = readiness.count()
                while len(ready_by_second) < int(time.monotonic() - op.started):
                    ready_by_second.append(ready)
                    control_plane = _cpu_seconds(apiserver) - api_cpu0 + _cpu_seconds(etcd) - etcd_cpu0
                    cpu_by_second.append((round(op.cpu(), 1), round(control_plane, 1)))
                if not stragglers and 0 < n - ready <= 5:
                    stragglers = {"at_s": round(time.monotonic() - op.started, 1), **readiness.stragglers()}
                    for name in [k for k in stragglers if k != "at_s"]:
                        with contextlib.suppress(Exception):
                            live = custom.get_namespaced_custom_object(
                                "flink.apache.org", "v1beta1", namespace, "flinkdeployments", name
                            )
                            job = ((live.get("status") or {}).get("jobStatus") or {}).get("state")
                            stragglers[name].append(f"FlinkDeployment job {job}")
                if ready == n:
                    converged = time.monotonic() - op.started
                    break
                if op.proc.poll() is not None:
                    raise RuntimeError(f"operator exited {op.proc.returncode}; log: {op.log}")
                time.sleep(0.5)
            metrics = op.metrics()
            result["cold"] = {
                "converged_s": round(converged, 1) if converged is not None else None,
                "ready": ready,
                "timeout_s": args.converge_timeout,
                "operator_cpu_s": round(op.cpu(), 1),
                "apiserver_cpu_s": round(_cpu_seconds(apiserver) - api_cpu0, 1),
                "etcd_cpu_s": round(_cpu_seconds(etcd) - etcd_cpu0, 1),
                # this process: the Flink stand-in and the Ready watch
                "harness_cpu_s": round(time.process_time() - harness_cpu0, 1),
                "writes": metrics["writes"],
                "reconciles": metrics.get("reconciles:FraudPipeline", 0),
                **_requests_diff(_apiserver_requests(kubectl), requests0),
                **op.failures(),
            }
            result["cold"]["events"] = _event_reasons(api_client, namespace)
            result["cold"]["stragglers"] = stragglers
            result["cold"]["ready_by_second"] = ready_by_second
            result["cold"]["cpu_s_by_second"] = {
                "operator": [c[0] for c in cpu_by_second],
                "apiserver_etcd": [c[1] for c in cpu_by_second],
            }
            _log(f"N={n}: cold {result['cold']}")

            # -------------------------------------------------- change latency
            # Watched from now on, not during the cold start: the watch's decoding would compete with
            # what it does not measure on a machine of two cores.
            cms = ConfigMapWatch(api_client, namespace)
            cms.wait_synced([f"p-{i:04d}-detector-config" for i in range(n)], timeout=120)
            rng = random.Random(n)
            latencies: list[float] = []
            each: list[dict[str, Any]] = []  # every patch: sent (s after the operator's start), latency
            missed = 0
            budget_end = time.monotonic() + args.change_budget
            done = 0
            for i, idx in enumerate(rng.sample(range(n), min(args.patches, n))):
                if time.monotonic() > budget_end:
                    break
                done += 1
                name = f"p-{idx:04d}"
                threshold = round(0.61 + i * 0.001, 3)
                time.sleep(args.patch_gap)
                t0 = time.monotonic()
                custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    "fraudpipelines",
                    name,
                    {"spec": {"detector": {"alertThreshold": threshold}}},
                )
                seen = cms.wait_change(f"{name}-detector-config", t0, timeout=60)
                since = round(t0 - op.started, 2)
                if seen is None:
                    missed += 1
                    each.append({"pipeline": name, "sent_s": since, "latency_s": None})
                else:
                    latencies.append(seen - t0)
                    each.append({"pipeline": name, "sent_s": since, "latency_s": round(seen - t0, 3)})
            latencies.sort()

            def pct(q: float) -> float | None:
                if not latencies:
                    return None
                return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 3)

            result["change"] = {
                "patches": done,
                "budget_s": args.change_budget,
                "missed": missed,
                "p50_s": pct(0.50),
                "p99_s": pct(0.99),
                "max_s": round(latencies[-1], 3) if latencies else None,
                "each": each,
            }
            _log(f"N={n}: change { ({k: v for k, v in result['change'].items() if k != 'each'}) }")
            if not args.restart:
                result["peak_rss_mb"] = round(op.peak_rss_mb(), 1)
                result["rss_mb_after_change"] = round(op.rss_mb(), 1)
                if args.floor:
                    op.stop()
                    floor()
                result["loadavg_after"] = _loadavg()
                return result

            # -------------------------------------------------- idle
            time.sleep(args.settle)
            m0, w0 = op.metrics(), _apiserver_writes(kubectl)
            c0, a0, e0 = op.cpu(), _cpu_seconds(apiserver), _cpu_seconds(etcd)
            time.sleep(args.idle_seconds)
            m1, w1 = op.metrics(), _apiserver_writes(kubectl)
            c1, a1, e1 = op.cpu(), _cpu_seconds(apiserver), _cpu_seconds(etcd)
            result["idle"] = {
                "seconds": args.idle_seconds,
                "operator_writes": m1["writes"] - m0["writes"],
                "apiserver_writes": _diff(w1, w0),
                "operator_cpu_s": round(c1 - c0, 2),
                "operator_cpu_pct_of_core": round(100 * (c1 - c0) / args.idle_seconds, 1),
                "apiserver_cpu_s": round(a1 - a0, 2),
                "apiserver_cpu_pct_of_core": round(100 * (a1 - a0) / args.idle_seconds, 1),
                "etcd_cpu_s": round(e1 - e0, 2),
                "reconciles": _diff(m1, m0),
                "operator_rss_mb": round(op.rss_mb(), 1),
            }
            _log(f"N={n}: idle {result['idle']}")
            result["peak_rss_mb"] = round(op.peak_rss_mb(), 1)
            result["rss_mb_by_second"] = op.rss_timeline(120.0)
            result["failures_first_run"] = op.failures()

            # -------------------------------------------------- restart
            op.stop()
            w0 = _apiserver_writes(kubectl)
            a0 = _cpu_seconds(apiserver)
            requests0 = _apiserver_requests(kubectl)
            op2 = Operator(
                args.python,
                Path(args.source_root),
                env,
                namespace,
                logs / f"operator-{args.label}-{n}-restart.log",
            )
            operators.append(op2)
            resumed = None
            deadline = op2.started + args.converge_timeout
            while time.monotonic() < deadline:
                m = op2.metrics()
                if m.get("reconciles:FraudPipeline", 0) >= n and resumed is None:
                    resumed = time.monotonic() - op2.started
                    break
                time.sleep(0.5)
            time.sleep(args.settle)
            m = op2.metrics()
            ready = readiness.count()
            w1 = _apiserver_writes(kubectl)
            result["restart"] = {
                "all_reconciled_s": round(resumed, 1) if resumed is not None else None,
                "operator_writes": m["writes"],
                "apiserver_writes": _diff(w1, w0),
                "reconciles": {k: v for k, v in m.items() if k.startswith("reconciles:")},
                "ready_after": ready,
                "operator_cpu_s": round(op2.cpu(), 1),
                "apiserver_cpu_s": round(_cpu_seconds(apiserver) - a0, 1),
                "peak_rss_mb": round(op2.peak_rss_mb(), 1),
                "rss_mb_by_second": op2.rss_timeline(),
                **_requests_diff(_apiserver_requests(kubectl), requests0),
                **op2.failures(),
            }
            _log(f"N={n}: restart {result['restart']}")
            op2.stop()
            if args.floor:
                floor()
            flink.stop()
            cms.stopped.set()
            readiness.stopped.set()
    finally:
        for op in operators:
            with contextlib.suppress(Exception):
                op.stop()
        stack.down(info)
    result["loadavg_after"] = _loadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--patches", type=int, default=50)
    parser.add_argument("--patch-gap", type=float, default=0.3, help="seconds between two patches")
    parser.add_argument(
        "--change-budget", type=float, default=600.0, help="stop patching after this many seconds"
    )
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    parser.add_argument(
        "--no-restart",
        dest="restart",
        action="store_false",
        help="stop after the change latency (no idle or restart phase): for traces",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="at the end, replay a cold start's requests with a bare client (8 threads) in another namespace,"
        " each kind timed apart: the API server's CPU per request and the floor it sets",
    )
    parser.add_argument(
        "--apiserver-profile",
        metavar="DIR",
        default=None,
        help="write a 30 s CPU profile of kube-apiserver, 30 s into the cold phase, into DIR",
    )
    parser.add_argument("--settle", type=float, default=15.0, help="seconds before idle/restart counts")
    parser.add_argument("--converge-timeout", type=float, default=900.0)
    parser.add_argument("--source-root", default=str(REPO), help="checkout whose operator runs")
    parser.add_argument(
        "--python", default="/tmp/opscale/venv/bin/python", help="interpreter of the operator"
    )
    parser.add_argument(
        "--source-commit", default=None, help="commit of --source-root when it is an export, not a checkout"
    )
    parser.add_argument("--label", default="current", help="name of this run in the results")
    parser.add_argument("--log-dir", default="/tmp/opscale/logs")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "operator_scale.json"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    results: dict[str, Any] = (
        json.loads(out.read_text()) if out.exists() else {"benchmark": __doc__.splitlines()[0], "runs": []}
    )
    source = Path(args.source_root)
    commit = (
        subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or args.source_commit
    )
    for n in args.pipelines:
        entry = {
            "label": args.label,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": {"root": str(source), "commit": commit or None},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "ready_poll": "watch",
            **run_one(args, n),
        }
        results["runs"].append(entry)
        out.write_text(json.dumps(results, indent=2) + "\n")
        _log(f"N={n}: written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

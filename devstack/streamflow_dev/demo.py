"""``streamflow demo``: the whole pipeline locally, on embedded defaults, on the real local stack.

It starts the stack, trains a small real model, runs the operator, applies a FraudPipeline and its
FraudModel, and shows the children the operator created and the pipeline turning Ready. No Flink or
CloudNativePG operator runs here: their stand-ins (``streamflow_dev.standins``) write what those
operators would write, and the demo says so when it uses them. Then the detector job itself runs on the
local Flink mini-cluster against the real Kafka broker, fed by the generator, and a summary is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from . import stack
from .paths import repo_root
from .procs import ComponentError, free_port, wait_until

__all__ = ["DEMO_MODELS", "register", "run_demo", "train_demo_model"]

NAMESPACE = "streamflow-demo"
PIPELINE = "payments"
CNPG_CLUSTER = "streamflow-pg"


def _step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


class _Demo:
    """The running stack plus small conveniences (real kubectl, the streamflow CLI as subprocesses)."""

    def __init__(self, info: stack.StackInfo, work: Path) -> None:
        self.info = info
        self.work = work
        assert info.kube_bin_dir and info.kubeconfig and info.kafka_bootstrap and info.pg_dsn
        self.kubectl_bin = str(Path(info.kube_bin_dir) / "kubectl")
        self.env = {**os.environ, "KUBECONFIG": info.kubeconfig}
        if info.flink_jars:  # `streamflow job run` takes the connector jars from here, as after `dev env`
            self.env["STREAMFLOW_FLINK_JARS"] = info.flink_jars

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [self.kubectl_bin, *args], capture_output=True, text=True, input=input, timeout=180, env=self.env
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def show(self, *args: str) -> None:
        print(f"$ kubectl {' '.join(args)}")
        print(self.kubectl(*args).rstrip())

    def streamflow(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "streamflow_cli", *args],
            capture_output=True,
            text=True,
            timeout=900,
            env={**self.env, **(env or {})},
        )
        if result.returncode != 0:
            raise RuntimeError(f"streamflow {' '.join(args)}: {result.stderr.strip()[-2000:]}")
        return result.stdout


DEMO_MODELS = {"iforest-demo-v1": 11, "iforest-demo-v2": 13}
"""The demo's models and their generator seeds. Both must pass the sample pipeline's modelPolicy.minAuc
(0.75) or the operator rightly refuses them; seed 12, used until feature schema v2, trains to 0.740."""


def train_demo_model(work: Path, name: str, streamflow: Callable[..., str]) -> dict[str, Any]:
    """``streamflow generate`` + ``streamflow model train`` for one demo model; its FraudModel manifest."""
    seed = DEMO_MODELS[name]
    data = work / f"train-{seed}.jsonl"
    streamflow("generate", "--count", "6000", "--days", "20", "--seed", str(seed), "--out", str(data))
    out = work / name
    streamflow(
        "model", "train", "--data", str(data), "--algorithm", "isolation_forest", "--no-progress",
        "--train-window", "2026-03-02..2026-03-21", "--version", name, "--out", str(out),
    )  # fmt: skip
    manifest = yaml.safe_load((out / "fraudmodel.yaml").read_text())
    assert isinstance(manifest, dict)
    manifest["metadata"]["name"] = name
    return manifest


def _pipeline(bootstrap: str, model: str) -> dict[str, Any]:
    """The sample pipeline, with topics made through the admin API on the local broker (no Strimzi here)."""
    doc = yaml.safe_load((repo_root() / "crds" / "samples" / "fraudpipeline-payments.yaml").read_text())
    assert isinstance(doc, dict)
    spec = doc["spec"]
    spec["kafka"].pop("strimziCluster", None)
    spec["kafka"]["bootstrapServers"] = bootstrap
    spec["modelRef"] = {"name": model}
    spec.pop("shadowModelRef", None)
    spec["detector"]["parallelism"] = 1
    spec["database"]["cnpgCluster"] = CNPG_CLUSTER
    doc["metadata"] = {"name": PIPELINE, "namespace": NAMESPACE}
    return doc


@contextmanager
def _operator(demo: _Demo, env: dict[str, str]) -> Iterator[int]:
    """``streamflow operator`` as its own process, watching the demo namespace; yields the metrics port."""
    metrics, liveness = free_port(), free_port()
    log = (demo.work / "operator.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamflow_cli", "operator", "--namespace", NAMESPACE,
         "--metrics-port", str(metrics), "--liveness-port", str(liveness)],
        stdout=log, stderr=subprocess.STDOUT, env={**demo.env, **env},
    )  # fmt: skip
    try:
        yield metrics
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _writes(metrics_port: int) -> dict[str, float]:
    """``streamflow_api_writes_total`` by kind, read from the operator's Prometheus endpoint."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    writes = {}
    for line in text.splitlines():
        if line.startswith("streamflow_api_writes_total{"):
            labels, value = line.rsplit(" ", 1)
            writes[labels.split('kind="', 1)[1].split('"', 1)[0]] = float(value)
    return writes


def _operator_part(demo: _Demo, stack_exit: ExitStack) -> dict[str, Any]:
    from kubernetes import config

    from .standins.cnpg import cnpg_ready_app_database
    from .standins.flink_operator import write_flink_operator_status

    assert demo.info.kubeconfig and demo.info.pg_dsn and demo.info.kafka_bootstrap
    api = config.new_client_from_config(config_file=demo.info.kubeconfig)
    _step("CRDs: ours and the upstream ones (Flink, Strimzi, CNPG, Prometheus Operator), installed by dev up")
    print(f"{len(demo.kubectl('get', 'crd', '-o', 'name').split())} CRDs Established")
    demo.kubectl("create", "namespace", NAMESPACE)

    _step("a small real model: generated transactions -> streamflow model train (IsolationForest)")
    model = train_demo_model(demo.work, "iforest-demo-v1", demo.streamflow)
    print(f"trained {model['metadata']['name']}: AUC {model['spec']['metrics']['auc']:.3f}")

    _step("CloudNativePG stand-in (no CNPG operator runs here): Cluster reported healthy, app Secret")
    app = stack_exit.enter_context(
        cnpg_ready_app_database(api, NAMESPACE, CNPG_CLUSTER, demo.info.pg_dsn, dbname="app")
    )

    _step("the operator: streamflow operator --namespace streamflow-demo")
    metrics = stack_exit.enter_context(
        _operator(
            demo,
            {
                "STREAMFLOW_DB_HOST_OVERRIDE": f"{app.host}:{app.port}",
                "STREAMFLOW_RESYNC_SECONDS": "5",
                "STREAMFLOW_VERIFY_ARTIFACTS": "true",  # the demo's models are real artifacts
            },
        )
    )
    pipeline = _pipeline(demo.info.kafka_bootstrap, model["metadata"]["name"])
    demo.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump_all([model, pipeline]))
    wait_until(
        "demo",
        lambda: bool(demo.kubectl("get", "flinkdeployment", PIPELINE, "-n", NAMESPACE, check=False)),
        timeout=180,
        what="showing the FlinkDeployment",
    )

    _step("Flink operator stand-in (no Flink operator runs here): job RUNNING, lifecycle STABLE")
    write_flink_operator_status(api, NAMESPACE, PIPELINE)
    print(
        demo.kubectl(
            "wait", "--for=condition=Ready", f"fp/{PIPELINE}", "-n", NAMESPACE, "--timeout=180s"
        ).strip()
    )
    demo.show("get", "fp,fm", "-n", NAMESPACE)
    demo.show(
        "get", "flinkdeployments,kafkatopics,networkpolicies,pdb,cronjobs,configmaps", "-n", NAMESPACE,
        "-l", f"streamflow.io/pipeline={PIPELINE}",
    )  # fmt: skip
    status: dict[str, Any] = json.loads(demo.kubectl("get", f"fp/{PIPELINE}", "-n", NAMESPACE, "-o", "json"))[
        "status"
    ]
    for cond in status["conditions"]:
        print(f"  {cond['type']:<15} {cond['status']:<6} {cond['reason']:<22} {cond['message'][:70]}")
    print(f"schema version {status.get('schemaVersion')} migrated in the real PostgreSQL as the app user")
    time.sleep(6)  # let the first resync after Ready settle the status messages
    before = _writes(metrics)
    time.sleep(16)
    after = _writes(metrics)
    changed = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    total = sum(changed.values())
    print(f"API writes by the operator during three no-op resyncs (5 s apart): {total:.0f} {changed}")
    _roll_model(demo, api)
    return status


def _roll_model(demo: _Demo, api: Any) -> None:
    """Point the pipeline at a newly trained model and follow the savepoint roll to the new active model."""
    from .standins.flink_operator import write_flink_operator_status

    _step("rolling to a new model: train iforest-demo-v2, apply it, patch spec.modelRef")
    model = train_demo_model(demo.work, "iforest-demo-v2", demo.streamflow)
    demo.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump(model))
    wait_until("demo", lambda: "Ready" in demo.kubectl(
        "get", "fm", "iforest-demo-v2", "-n", NAMESPACE, "-o", "jsonpath={.status.phase}"),
        timeout=180, what="showing iforest-demo-v2 validated")  # fmt: skip

    def config_hash() -> str:
        return demo.kubectl(
            "get", "flinkdeployment", PIPELINE, "-n", NAMESPACE,
            "-o", "jsonpath={.spec.podTemplate.metadata.annotations.streamflow\\.io/config-hash}",
        )  # fmt: skip

    before = config_hash()
    patch = json.dumps({"spec": {"modelRef": {"name": "iforest-demo-v2"}}})
    print(f"$ kubectl patch fp/{PIPELINE} --type merge -p '{patch}'")
    demo.kubectl("patch", f"fp/{PIPELINE}", "-n", NAMESPACE, "--type", "merge", "-p", patch)
    wait_until(
        "demo",
        lambda: config_hash() not in ("", before),
        timeout=180,
        what="showing the FlinkDeployment's new config",
    )
    reason = demo.kubectl("get", f"fp/{PIPELINE}", "-n", NAMESPACE, "-o",
                          "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}")  # fmt: skip
    print(
        f"pipeline Progressing: {reason} (the Flink operator would now take a savepoint and restart the job)"
    )
    print("Flink operator stand-in: the upgraded job reports RUNNING / STABLE on the new spec")
    write_flink_operator_status(api, NAMESPACE, PIPELINE)

    def active_model() -> str:
        return demo.kubectl("get", f"fp/{PIPELINE}", "-n", NAMESPACE, "-o", "jsonpath={.status.activeModel}")

    wait_until(
        "demo", lambda: active_model() == "iforest-demo-v2", timeout=180, what="showing the new active model"
    )

    def used_by(model: str) -> str:
        return demo.kubectl("get", "fm", model, "-n", NAMESPACE, "-o", "jsonpath={.status.usedBy}")

    # The operator writes a model's usedBy a moment after the pipeline event that changed it.
    wait_until(
        "demo",
        lambda: PIPELINE in used_by("iforest-demo-v2") and PIPELINE not in used_by("iforest-demo-v1"),
        timeout=60,
        what="showing usedBy follow the roll",
    )
    demo.show("get", "fm", "-n", NAMESPACE)
    demo.show("get", "fp", "-n", NAMESPACE)
    history = demo.kubectl("get", f"fp/{PIPELINE}", "-n", NAMESPACE, "-o", "jsonpath={.status.modelHistory}")
    print(f"status.modelHistory: {history}")
    events = demo.kubectl(
        "get", "events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={PIPELINE}",
        "--sort-by=.lastTimestamp", "-o", "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
    )  # fmt: skip
    print("$ kubectl get events (the pipeline's)")
    print("\n".join(line[:150] for line in events.rstrip().splitlines()))


def _detector_part(demo: _Demo) -> None:
    _step("the detector job on the local Flink mini-cluster, configured by the operator's ConfigMap")
    config = demo.kubectl(
        "get",
        "configmap",
        f"{PIPELINE}-detector-config",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.data.detector\\.json}",
    )
    path = demo.work / "detector.json"
    path.write_text(config)
    from .demo_detector import run_detector_demo

    run_detector_demo(demo.work, path, demo.info, demo.env)


def run_demo(keep: bool, parts: Sequence[str] = ("operator", "detector")) -> int:
    """Run the demo; tear everything down unless ``keep`` (also on Ctrl-C or SIGTERM)."""

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    _step("starting the local stack (Kubernetes API server, Kafka, PostgreSQL, Flink connector jars)")
    try:
        info = stack.up()
    except ComponentError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="demo-", dir=info.run_dir))
    demo = _Demo(info, work)
    code = 0
    try:
        with ExitStack() as resources:
            version = json.loads(demo.kubectl("get", "--raw", "/version"))
            print(f"Kubernetes {version['gitVersion']}, Kafka {info.kafka_bootstrap}, PostgreSQL ready")
            if "operator" in parts:
                _operator_part(demo, resources)
            if "detector" in parts:
                _detector_part(demo)
        print('\nthe stack stays up with --keep; use it with: eval "$(streamflow dev env)"')
    except Exception as exc:  # the demo reports any failure plainly and still tears down
        print(f"demo failed: {exc}", file=sys.stderr)
        code = 1
    finally:
        if not keep:
            _step("stopping the stack")
            stack.down(info)
    return code


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``streamflow demo``."""
    p = subparsers.add_parser("demo", help="run the whole pipeline locally on embedded defaults")
    p.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    p.add_argument(
        "--parts", default="operator,detector", help="comma-separated parts to run: operator,detector"
    )
    p.set_defaults(func=lambda args: run_demo(args.keep, tuple(args.parts.split(","))))

"""kill -9 the operator mid-reconcile and mid-roll, start it again: it converges, exactly once.

The operator is the real ``streamflow operator`` process on the local API server (its own process, so
SIGKILL kills it as a node failure would: no finalizer, no status write, no handler cleanup); the Flink
operator and CNPG are played by the stand-ins. First the pipeline is created and the operator is killed as
soon as its first child appears; then a model roll (savepoint upgrade) is started and the operator is
killed as soon as the FlinkDeployment carries the new spec. After each restart: every child the pipeline
renders exists exactly once, owned by the pipeline, nothing else carries its label; the roll upgraded the
FlinkDeployment exactly once (its generation grew by one) and ``status.modelHistory`` has one entry per
roll.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.database import HOST_OVERRIDE_ENV
from fraud_operator.render import render_all
from fraud_operator.render.naming import PIPELINE_LABEL
from streamflow_dev.procs import ManagedProcess, free_port, pid_alive, start_process, stop_pid
from streamflow_dev.standins.cnpg import AppDatabase, cnpg_ready_app_database
from streamflow_dev.standins.flink_operator import write_flink_operator_status

from tests.chaos.results import ChaosResults, Run
from tests.chaos.stack import kill9
from tests.conftest import KubeCluster, wait_for
from tests.operator.handlers.model_artifacts import compiled_artifact, model_doc
from tests.operator.integration.conftest import Cluster, sample

pytestmark = [pytest.mark.chaos, pytest.mark.cluster, pytest.mark.postgres]

FLINK = "flink.apache.org/v1beta1"
MODELS = "streamflow.io/v1alpha1"


class OperatorProcess:
    """``streamflow operator --namespace NS`` as its own process; ``kill9`` and ``start`` again."""

    def __init__(self, kube: KubeCluster, namespace: str, app: AppDatabase, work: Path) -> None:
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kube.kubeconfig),
            HOST_OVERRIDE_ENV: f"{app.host}:{app.port}",
        }
        self.namespace = namespace
        self.log = work / "operator.log"
        self.process: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        argv = [sys.executable, "-m", "streamflow_cli", "operator", "--namespace", self.namespace,
                "--metrics-port", str(free_port()), "--liveness-port", str(free_port())]  # fmt: skip
        self.process = start_process("operator", argv, self.log, env=self.env, tied_to_parent=True)

    def kill9(self) -> None:
        assert self.process is not None and pid_alive(self.process.pid), self.tail()
        kill9(self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_pid(self.process.pid, grace=10.0)

    def alive(self) -> bool:
        return self.process is not None and pid_alive(self.process.pid)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else "(no log)"


@pytest.fixture
def operator_process(
    kube: KubeCluster, namespace: str, pg_server_dsn: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    db = sample("fraudpipeline-payments")["spec"]["database"]
    with cnpg_ready_app_database(
        kube.api_client, namespace, db["cnpgCluster"], pg_server_dsn, db["database"]
    ) as app:
        process = OperatorProcess(kube, namespace, app, tmp_path)
        try:
            yield process
        finally:
            process.stop()
            for plural in ("fraudpipelines", "fraudmodels"):  # kopf's finalizers outlive the operator
                for name in kube.kubectl("get", plural, "-n", namespace, "-o", "name").stdout.split():
                    kube.kubectl("patch", name, "-n", namespace, "--type=merge",
                                 "-p", '{"metadata":{"finalizers":null}}')  # fmt: skip


def _pipeline_doc(namespace: str) -> dict[str, Any]:
    doc = sample("fraudpipeline-payments")
    doc["spec"]["modelRef"] = {"name": "model-a"}
    doc["spec"].pop("shadowModelRef")
    doc["metadata"]["namespace"] = namespace
    return doc


def _children(
    cluster: Cluster, doc: dict[str, Any], models: dict[str, dict[str, Any]]
) -> set[tuple[str, str]]:
    """(kind, name) of every child the pipeline renders (the pure render functions)."""
    pipeline = FraudPipeline.model_validate(doc)
    model = FraudModel.model_validate(models[doc["spec"]["modelRef"]["name"]])
    return {(c["kind"], c["metadata"]["name"]) for c in render_all(pipeline, model)}


def _live_children(cluster: Cluster, kinds: set[tuple[str, str]], uid: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> uid of every object of those kinds carrying the pipeline's label; each must be
    owned by the pipeline ``uid`` exactly once (else it is an orphan of an earlier reconcile)."""
    found: dict[tuple[str, str], str] = {}
    for api_version, kind in kinds:
        for obj in cluster.items(api_version, kind, f"{PIPELINE_LABEL}=payments"):
            owners = [o for o in obj["metadata"].get("ownerReferences") or [] if o["uid"] == uid]
            assert len(owners) == 1, (
                f"{kind} {obj['metadata']['name']} not owned once by the pipeline: {owners}"
            )
            found[(kind, obj["metadata"]["name"])] = obj["metadata"]["uid"]
    return found


def _kill_when(operator: OperatorProcess, seen: Any, what: str, timeout: float = 120) -> float:
    """Poll every 20 ms; the moment ``seen()`` is true, SIGKILL the operator. Returns the kill time."""
    deadline = time.monotonic() + timeout
    while not seen():
        assert operator.alive(), operator.tail()
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{operator.tail()}"
        time.sleep(0.02)
    killed_at = time.time()
    operator.kill9()
    return killed_at


def _ready(cluster: Cluster, operator: OperatorProcess) -> None:
    try:
        cluster.wait_condition("payments", "Ready", "True", timeout=180)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{operator.tail()}") from None


def test_operator_killed_mid_reconcile_and_mid_roll(
    operator_process: OperatorProcess,
    kube: KubeCluster,
    namespace: str,
    chaos_results: ChaosResults,
    tmp_path: Path,
    repetition: int,
) -> None:
    cluster = Cluster(kube, namespace)
    operator = operator_process
    models = {}
    for name, seed in (("model-a", 1), ("model-b", 2)):
        path = tmp_path / f"{name}.npz"
        models[name] = model_doc(name, path.as_uri(), compiled_artifact(path, name, seed))
        models[name]["metadata"]["namespace"] = namespace
    operator.start()
    cluster.apply(*models.values())
    for name in models:
        wait_for(
            lambda name=name: ((cluster.get(MODELS, "FraudModel", name) or {}).get("status") or {}).get(
                "phase"
            ),
            120,
            what=f"{name} validated",
        )

    # --- mid-reconcile: killed as soon as the first child of a new pipeline exists
    doc = _pipeline_doc(namespace)
    expected = _children(cluster, doc, models)
    kinds = {(c["apiVersion"], c["kind"]) for c in render_all(FraudPipeline.model_validate(doc), None)}
    run = Run("operator-kill-9-mid-reconcile", repetition)
    cluster.apply(doc)
    killed_at = _kill_when(
        operator, lambda: cluster.items("v1", "ConfigMap", f"{PIPELINE_LABEL}=payments"), "the first child"
    )
    partial = len(_live_children(cluster, kinds, cluster.pipeline("payments")["metadata"]["uid"]))
    run.notes.append(f"killed with {partial} of {len(expected)} children applied")
    operator.start()
    run.outage_s = round(time.time() - killed_at, 2)
    wait_for(lambda: cluster.get(FLINK, "FlinkDeployment", "payments"), 120, what="the FlinkDeployment")
    write_flink_operator_status(kube.api_client, namespace, "payments")
    _ready(cluster, operator)
    run.recover_s = round(time.time() - killed_at, 2)
    uid = cluster.pipeline("payments")["metadata"]["uid"]
    before = _live_children(cluster, kinds, uid)
    assert set(before) == expected, (sorted(set(before) - expected), sorted(expected - set(before)))
    status = cluster.pipeline("payments")["status"]
    assert [(e.get("fromModel"), e["toModel"], e["result"]) for e in status["modelHistory"]] == [
        (None, "model-a", "Succeeded")
    ]
    chaos_results.add(run)

    # --- mid-roll: killed as soon as the FlinkDeployment carries model-b (the savepoint upgrade)
    run = Run("operator-kill-9-mid-roll", repetition)
    generation = cluster.get(FLINK, "FlinkDeployment", "payments")["metadata"]["generation"]  # type: ignore[index]
    cluster.kubectl(
        "patch", "fp/payments", "--type=merge", "-p", json.dumps({"spec": {"modelRef": {"name": "model-b"}}})
    )
    killed_at = _kill_when(
        operator,
        lambda: cluster.get(FLINK, "FlinkDeployment", "payments")["metadata"]["generation"] > generation,  # type: ignore[index]
        "the savepoint upgrade",
    )
    history = cluster.pipeline("payments").get("status", {}).get("modelHistory", [])
    run.notes.append(f"killed with modelHistory {[(e.get('toModel'), e['result']) for e in history]}")
    operator.start()
    run.outage_s = round(time.time() - killed_at, 2)
    time.sleep(2)  # let the restarted operator see the upgrade before the Flink operator reports it
    write_flink_operator_status(kube.api_client, namespace, "payments")
    wait_for(
        lambda: cluster.pipeline("payments")["status"].get("activeModel") == "model-b",
        180,
        what="model-b active",
    )
    _ready(cluster, operator)
    run.recover_s = round(time.time() - killed_at, 2)
    deployment = cluster.get(FLINK, "FlinkDeployment", "payments")
    assert deployment is not None
    assert deployment["metadata"]["generation"] == generation + 1, "the savepoint upgrade was applied twice"
    assert deployment["spec"]["job"]["upgradeMode"] == "savepoint"
    status = cluster.pipeline("payments")["status"]
    assert [(e.get("fromModel"), e["toModel"], e["result"]) for e in status["modelHistory"]] == [
        (None, "model-a", "Succeeded"),
        ("model-a", "model-b", "Succeeded"),
    ]
    doc["spec"]["modelRef"] = {"name": "model-b"}
    after = _live_children(cluster, kinds, uid)
    assert set(after) == _children(cluster, doc, models)
    assert {k: v for k, v in after.items() if k in before} == before, "children were recreated by the roll"
    time.sleep(3)  # a later resync of the restarted operator changes nothing
    assert cluster.get(FLINK, "FlinkDeployment", "payments")["metadata"]["generation"] == generation + 1  # type: ignore[index]
    assert operator.alive(), operator.tail()
    chaos_results.add(run)

"""Property-based resource fuzzing (issue #16 item 2): generated FraudPipelines and FraudModels, real stack.

Hypothesis generates the documents (derandomized, a fixed number, so CI sees the same ones every run); they
are created through the real API server in batches while the operator runs under KopfRunner with the CNPG
and Flink-operator stand-ins. Every document must end in one of three ways:

- refused by the API server (4xx) with a message naming the field (``spec.`` or ``metadata.``);
- accepted and then Ready (a FraudModel: phase Ready; a pipeline once the Flink stand-in reports its job);
- accepted and Degraded (a FraudModel: Rejected) with a reason and a message naming the field;
- accepted with ``spec.suspend: true`` and Suspended, as asked (counted apart).

Meanwhile the operator must not crash (no traceback in its log, KopfRunner's thread alive) and a healthy
pipeline in the same namespace stays Ready with not one write to its children.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kopf.testing import KopfRunner
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from streamflow_dev.standins.cnpg import AppDatabase
from streamflow_dev.standins.flink_operator import write_flink_operator_status

from tests.conftest import wait_for
from tests.operator.fuzz.strategies import fraud_model, fraud_pipeline, sample
from tests.operator.integration.conftest import PIPELINE_CHILD_KINDS, Cluster

pytestmark = pytest.mark.cluster

GROUP, VERSION = "streamflow.io", "v1alpha1"
PIPELINES, MODELS = 800, 400
BATCH = 200
FUZZ_LABEL = "streamflow.io/fuzz=true"
HEALTHY = "payments"
CHILD_KINDS = PIPELINE_CHILD_KINDS

Generated = tuple[dict[str, Any], list[str]]


def generate(
    factory: Callable[[str], st.SearchStrategy[Generated]], count: int, prefix: str
) -> list[Generated]:
    """``count`` documents from hypothesis, the same ones on every run (derandomized, no example database)."""
    out: list[Generated] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        out.append(data.draw(factory(f"{prefix}-{len(out)}")))

    collect()
    return out


def names_field(message: str) -> bool:
    return "spec." in message or "metadata." in message or "spec:" in message


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def _child_versions(cluster: Cluster, name: str) -> dict[str, str]:
    versions = {}
    for api_version, kind in CHILD_KINDS:
        for obj in cluster.items(api_version, kind, f"streamflow.io/pipeline={name}"):
            versions[f"{kind} {obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return versions


class Tally:
    """What became of each document, and every broken promise (a bug) with the document's edits."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.bugs: list[str] = []
        self.reasons: dict[str, int] = {}
        self.examples: dict[str, str] = {}  # one message per reason, for the record

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def bug(self, what: str, edits: list[str]) -> None:
        self.bugs.append(f"{what} [edits: {'; '.join(edits)}]")


def _create(api: Any, namespace: str, doc: dict[str, Any], edits: list[str], tally: Tally) -> bool:
    kind = doc["kind"]
    plural = "fraudpipelines" if kind == "FraudPipeline" else "fraudmodels"
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, doc, field_validation="Strict")
    except ApiException as exc:
        try:
            message = str(json.loads(exc.body or "{}").get("message") or exc.reason)
        except ValueError:
            message = str(exc.body)
        if int(exc.status or 0) >= 500 or not names_field(message):
            tally.bug(f"{kind} {doc['metadata']['name']}: HTTP {exc.status} {message[:300]}", edits)
        tally.count(f"{kind} refused")
        return False
    return True


def _pipeline_verdict(obj: dict[str, Any]) -> str | None:
    """Ready, Degraded, Suspended, WaitingForJob (the stand-in must report the job) or None (not yet)."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return None
    conditions = _conditions(obj)
    if conditions.get("Ready", {}).get("status") == "True":
        return "Ready"
    if conditions.get("Degraded", {}).get("status") == "True":
        return "Degraded"
    if conditions.get("Progressing", {}).get("reason") == "WaitingForJob" and status.get("flinkDeployment"):
        return "WaitingForJob"
    if (obj.get("spec") or {}).get("suspend") is True and conditions.get("Ready", {}).get(
        "reason"
    ) == "Suspended":
        return "Suspended"  # spec.suspend asks for exactly this: every child applied, the job not running
    return None


def _model_verdict(obj: dict[str, Any]) -> str | None:
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return None
    phase = status.get("phase")
    return str(phase) if phase in ("Ready", "Rejected") else None


def _settle(cluster: Cluster, accepted: dict[str, Generated], tally: Tally, timeout: float = 240.0) -> None:
    """Wait for a verdict on every accepted document; report the stuck ones and the unnamed fields."""
    pending = dict(accepted)
    reported: set[str] = set()
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        live = {
            f"{o['kind']} {o['metadata']['name']}": o
            for kind in ("FraudPipeline", "FraudModel")
            for o in cluster.items(f"{GROUP}/{VERSION}", kind, FUZZ_LABEL)
        }
        for key in list(pending):
            obj = live.get(key)
            if obj is None:
                continue
            verdict = _pipeline_verdict(obj) if obj["kind"] == "FraudPipeline" else _model_verdict(obj)
            if verdict == "WaitingForJob" and key not in reported:
                write_flink_operator_status(
                    cluster.kube.api_client, cluster.namespace, obj["metadata"]["name"]
                )
                reported.add(key)
                continue
            if verdict in (None, "WaitingForJob"):
                continue
            _, edits = pending.pop(key)
            tally.count(f"{obj['kind']} {verdict}")
            if verdict in ("Degraded", "Rejected"):
                if obj["kind"] == "FraudPipeline":
                    reason, message = (_conditions(obj)["Degraded"].get(k, "") for k in ("reason", "message"))
                else:
                    reason, message = obj["status"].get("reason", ""), obj["status"].get("message", "")
                tally.reasons[f"{obj['kind']} {reason}"] = tally.reasons.get(f"{obj['kind']} {reason}", 0) + 1
                tally.examples.setdefault(f"{obj['kind']} {reason}", str(message)[:160])
                if not reason or not names_field(str(message)):
                    tally.bug(f"{key}: {verdict} {reason} without a field: {str(message)[:300]}", edits)
        time.sleep(1.0)
    for key, (_, edits) in pending.items():
        tally.bug(f"{key}: no verdict within {timeout:.0f}s", edits)
        tally.count("stuck")


@pytest.fixture(scope="module")
def generated() -> tuple[list[Generated], list[Generated], float]:
    """The documents, generated before the operator starts (its threads must not use ``random`` meanwhile)."""
    started = time.monotonic()
    pipelines = generate(fraud_pipeline, PIPELINES, "fz-p")
    models = generate(fraud_model, MODELS, "fz-m")
    return pipelines, models, time.monotonic() - started


def test_generated_resources_are_refused_ready_or_degraded_naming_the_field(
    generated: tuple[list[Generated], list[Generated], float],
    fuzz_operator: KopfRunner,
    cluster: Cluster,
    cnpg_database: AppDatabase,
    unhandled: list[str],
) -> None:
    started = time.monotonic()
    pipelines, models, generated_s = generated

    cluster.apply(sample("fraudmodel-iforest-v1"), sample("fraudmodel-hgb-v2"))
    healthy = sample("fraudpipeline-payments")
    cluster.apply(healthy)
    wait_for(
        lambda: cluster.get("flink.apache.org/v1beta1", "FlinkDeployment", HEALTHY), what="payments deployed"
    )
    write_flink_operator_status(cluster.kube.api_client, cluster.namespace, HEALTHY)
    cluster.wait_condition(HEALTHY, "Ready", "True", timeout=90)
    children = _child_versions(cluster, HEALTHY)
    healthy_status = cluster.pipeline(HEALTHY)["status"]
    assert len(children) >= 15, children

    api = client.CustomObjectsApi(cluster.kube.api_client)
    tally = Tally()
    documents = [*models, *pipelines]
    for start in range(0, len(documents), BATCH):
        batch = documents[start : start + BATCH]
        accepted = {
            f"{doc['kind']} {doc['metadata']['name']}": (doc, edits)
            for doc, edits in batch
            if _create(api, cluster.namespace, doc, edits, tally)
        }
        _settle(cluster, accepted, tally)
        assert not fuzz_operator.future.done(), "the operator stopped"  # KopfRunner's thread still runs
        assert cluster.condition(HEALTHY, "Ready")["status"] == "True", cluster.pipeline(HEALTHY)["status"]
        assert _child_versions(cluster, HEALTHY) == children, "a child of the healthy pipeline was written"
        cluster.kubectl("delete", "fp,fm", "-l", FUZZ_LABEL, "--wait=false")

    summary = {
        "documents": len(documents),
        "pipelines": len(pipelines),
        "models": len(models),
        "outcomes": dict(sorted(tally.counts.items())),
        "degraded_reasons": dict(sorted(tally.reasons.items())),
        "degraded_examples": dict(sorted(tally.examples.items())),
        "bugs": len(tally.bugs),
        "unhandled_exceptions": len(unhandled),
        "generation_s": round(generated_s, 1),
        "run_s": round(time.monotonic() - started, 1),
    }
    print("fuzz summary:", json.dumps(summary, indent=1))
    assert tally.bugs == [], "\n".join(tally.bugs[:40])
    assert unhandled == [], "\n".join(unhandled[:10])
    assert sum(tally.counts.values()) == len(documents)
    assert len(documents) >= 1000
    # Its status says the same as before (the shared models' usedBy changed; its conditions did not).
    assert _conditions(cluster.pipeline(HEALTHY)) == {c["type"]: c for c in healthy_status["conditions"]}

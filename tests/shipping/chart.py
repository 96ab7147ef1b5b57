"""Helpers for the chart tests: render with the real helm, and the RBAC the operator's code needs.

``needed_rules`` is derived from the code wherever the code can say it (the kopf registry, the rendered
children, the prune list) and from named call sites otherwise, so that the chart's rules and the operator
cannot drift apart silently.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import kopf
import yaml
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.handlers.pipeline import PRUNABLE
from fraud_operator.handlers.registration import CHILD_KINDS, FLINK_DEPLOYMENTS, register
from fraud_operator.render import render_all
from fraud_operator.render.rbac import JOBMANAGER_RULES
from streamflow_dev.kube_build import K8S_VERSION

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "streamflow-operator"
SAMPLES = REPO / "crds" / "samples"
OPERATOR = REPO / "operator"

# helm built from the module proxy assumes Kubernetes 1.20 unless told; render for the stack's version.
KUBE_VERSION = K8S_VERSION
Rules = dict[tuple[str, str], set[str]]


def render(
    helm: Path,
    *sets: str,
    release: str = "streamflow",
    namespace: str = "streamflow-system",
    values_file: Path | None = None,
) -> str:
    """``helm template`` of the chart (with ``--set`` items and a values file); raises with helm's message."""
    argv = [
        str(helm),
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ]
    if values_file is not None:
        argv += ["--values", str(values_file)]
    for item in sets:
        argv += ["--set", item]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"helm template failed: {result.stderr}")
    return result.stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def rules_of(role: Mapping[str, Any]) -> Rules:
    """(apiGroup, resource) -> verbs of one ClusterRole/Role."""
    out: Rules = defaultdict(set)
    for rule in role.get("rules") or []:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out[(group, resource)] |= set(rule["verbs"])
    return dict(out)


def granted_rules(docs: Iterable[Mapping[str, Any]]) -> Rules:
    out: Rules = defaultdict(set)
    for role in [*by_kind(docs, "ClusterRole"), *by_kind(docs, "Role")]:
        for key, verbs in rules_of(role).items():
            out[key] |= verbs
    return dict(out)


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def sample(name: str, namespace: str | None = None) -> dict[str, Any]:
    """A sample CR from crds/samples, optionally placed in ``namespace``."""
    doc = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())
    assert isinstance(doc, dict)
    if namespace is not None:
        doc["metadata"]["namespace"] = namespace
    return doc


def needed_rules() -> tuple[Rules, dict[tuple[str, str, str], str]]:
    """The rules the operator needs, and for each (group, resource, verb) the reason it is needed."""
    why: dict[tuple[str, str, str], str] = {}

    def need(group: str, resource: str, verbs: Iterable[str], reason: str) -> None:
        for verb in verbs:
            why.setdefault((group, resource, verb), reason)

    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=30)
    for handler in registry._watching.get_all_handlers():
        sel = handler.selector
        need(str(sel.group), str(sel.any_name), ["list", "watch"], f"kopf watch ({handler.id})")
    for sub in (registry._changing, registry._spawning):
        for handler in sub.get_all_handlers():
            sel = handler.selector
            need(str(sel.group), str(sel.any_name), ["list", "watch"], f"kopf watch ({handler.id})")
            need(
                str(sel.group),
                str(sel.any_name),
                ["patch"],
                f"kopf finalizer/progress annotations ({handler.id})",
            )
    for group, _version, plural, _kind in (*CHILD_KINDS, FLINK_DEPLOYMENTS):
        need(group, plural, ["list", "watch"], "the children's watches (drift, the job's status)")
    need("streamflow.io", "fraudpipelines", ["patch"], "the topic-cleanup finalizer (handlers.cleanup)")
    need("apiextensions.k8s.io", "customresourcedefinitions", ["list", "watch"], "kopf resource scanning")
    need("", "namespaces", ["list", "watch"], "kopf namespace observation (even for one exact namespace)")
    need("", "events", ["create"], "the operator's Events (handlers/events.py) and kopf's handler events")

    pipeline = FraudPipeline.model_validate(sample("fraudpipeline-payments", "fraud"))
    model = FraudModel.model_validate(sample("fraudmodel-iforest-v1", "fraud"))
    shadow = FraudModel.model_validate(sample("fraudmodel-hgb-v2", "fraud"))
    children = render_all(pipeline, model, shadow)
    for child in children:
        need(
            _group(child["apiVersion"]),
            _plural(child["kind"]),
            ["get", "create", "patch"],
            f"Applier.send of {child['kind']} (compare, then server-side apply)",
        )
    # RBAC escalation check: the API server lets the operator create the Flink pods' Role only with rights
    # it holds itself, so it needs every rule it grants there.
    for rule in JOBMANAGER_RULES:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                need(group, resource, rule["verbs"], "granted in the Flink pods' Role (render/rbac.py)")
    prunable = [*PRUNABLE, ("batch/v1", "CronJob")]  # CronJobs go with their schedule, like the others
    for api_version, kind in prunable:
        need(_group(api_version), _plural(kind), ["list", "delete"], f"pruning {kind} the spec dropped")

    joined = "\n".join(path.read_text() for path in sorted(OPERATOR.rglob("*.py")))

    def called(snippet: str) -> bool:
        return snippet in joined

    assert called("applier.update_status(API_VERSION, KIND")
    need("streamflow.io", "fraudpipelines/status", ["patch"], "Applier.update_status (handlers/pipeline.py)")
    need("streamflow.io", "fraudmodels/status", ["patch"], "Applier.update_status (handlers/models.py)")
    need("streamflow.io", "fraudpipelines", ["get"], "Applier.get before a status patch")
    need("streamflow.io", "fraudmodels", ["get"], "Applier.get of the referenced models")
    need("flink.apache.org", "flinkdeployments", ["get"], "Applier.get mirrors the job state")
    assert called("read_namespaced_secret(")
    need("", "secrets", ["get"], "Kafka credentials (topics.py), CNPG app Secret (database.py)")
    assert called('applier.get(STRIMZI_API_VERSION, "Kafka"')
    need("kafka.strimzi.io", "kafkas", ["get"], "spec.kafka.strimziCluster must exist (handlers/pipeline.py)")
    assert called("get_namespaced_custom_object(") and called('"postgresql.cnpg.io"')
    need("postgresql.cnpg.io", "clusters", ["get"], "database step waits for the CNPG Cluster (database.py)")

    rules: Rules = defaultdict(set)
    for group, resource, verb in why:
        rules[(group, resource)].add(verb)
    return dict(rules), why

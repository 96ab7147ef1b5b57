"""Durable state and the per-pipeline children on the real API server with the upstream CRDs installed.

Every child rendered for each storage variant (claim, s3, gs, abfs, wasbs, explicit state loss) passes a
server-side dry-run: the FlinkDeployment under the Flink operator's CRD, the PodMonitor under the Prometheus
Operator's, the ServiceAccount, Role and RoleBinding under the built-in RBAC API. And the generated CRD makes
the API server refuse a savepoint upgrade on an emptyDir, naming the field.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render import render_all

from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

SAMPLES = Path(__file__).resolve().parents[2] / "crds" / "samples"

VARIANTS: dict[str, dict[str, Any]] = {
    "pvc": {"stateVolumeClaim": "flink-state"},
    "s3": {"storageUri": "s3://ckpt/flink", "storageCredentials": {"secretRef": {"name": "flink-s3"}}},
    "gs": {
        "storageUri": "gs://ckpt/flink",
        "storageCredentials": {"serviceAccountAnnotations": {"iam.gke.io/gcp-service-account": "f@p.iam"}},
    },
    "abfs": {
        "storageUri": "abfss://ckpt@acct.dfs.core.windows.net/flink",
        "storageCredentials": {"serviceAccountAnnotations": {"azure.workload.identity/client-id": "0000"}},
    },
    "wasbs": {
        "storageUri": "wasbs://ckpt@acct.blob.core.windows.net/flink",
        "storageCredentials": {"secretRef": {"name": "flink-azure"}},
    },
    "ephemeral": {"allowStateLoss": True, "highAvailability": False},
}


def _doc(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _pipeline_doc(namespace: str, flink: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(_doc("fraudpipeline-payments"))
    doc["metadata"]["namespace"] = namespace
    doc["spec"]["flink"].pop("stateVolumeClaim")
    doc["spec"]["flink"].update(flink)
    return doc


def _apply(kube: Any, namespace: str, docs: list[dict[str, Any]], *, dry_run: bool) -> Any:
    args = ["apply", "--server-side", "--field-manager=streamflow-tests", "-n", namespace, "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return kube.kubectl(*args, check=False, input=yaml.safe_dump_all(docs))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_child_of_each_storage_variant_is_accepted(kube: Any, namespace: str, variant: str) -> None:
    doc = _pipeline_doc(namespace, VARIANTS[variant])
    # the pipeline itself passes the generated CRD's CEL rules
    stored = _apply(kube, namespace, [doc], dry_run=True)
    assert stored.returncode == 0, stored.stderr
    pipeline = FraudPipeline.model_validate(doc)
    models = [
        FraudModel.model_validate({**_doc(n), "metadata": {**_doc(n)["metadata"], "namespace": namespace}})
        for n in ("fraudmodel-iforest-v1", "fraudmodel-hgb-v2")
    ]
    children = render_all(pipeline, *models)
    kinds = {child["kind"] for child in children}
    assert {"FlinkDeployment", "PodMonitor", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    result = _apply(kube, namespace, children, dry_run=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("serverside-applied (server dry run)") == len(children)


def _refusal(kube: Any, namespace: str, flink: dict[str, Any]) -> str:
    result = _apply(kube, namespace, [_pipeline_doc(namespace, flink)], dry_run=True)
    assert result.returncode != 0, "the API server accepted it"
    return str(result.stderr)


def test_savepoint_on_an_empty_dir_is_refused_naming_the_field(kube: Any, namespace: str) -> None:
    stderr = _refusal(kube, namespace, {"highAvailability": False})
    assert "spec.flink.upgradeMode" in stderr
    assert "upgradeMode savepoint and last-state need durable storage" in stderr
    assert "allowStateLoss: true accepts losing state" in stderr


def test_high_availability_on_an_empty_dir_is_refused_naming_the_field(kube: Any, namespace: str) -> None:
    stderr = _refusal(kube, namespace, {"allowStateLoss": True})
    assert "spec.flink.highAvailability" in stderr and "highAvailability needs durable storage" in stderr


@pytest.mark.parametrize(
    ("flink", "field"),
    [
        (
            {"storageUri": "hdfs://nn/flink", "highAvailability": False, "upgradeMode": "stateless"},
            "spec.flink.storageUri",
        ),
        ({"flinkVersion": "v1_14", "stateVolumeClaim": "c"}, "spec.flink.flinkVersion"),
        (
            {"stateVolumeClaim": "c", "extraConfiguration": {"s3.secret-key": "x"}},
            "spec.flink.extraConfiguration",
        ),
    ],
    ids=["plugin not in the image", "flink version", "credentials in the configuration"],
)
def test_storage_mistakes_are_refused_naming_the_field(
    kube: Any, namespace: str, flink: dict[str, Any], field: str
) -> None:
    assert field in _refusal(kube, namespace, flink)


def _wait_established(kube: Any, crd: str) -> None:
    """Until the CRD reports Established. ``kubectl wait`` fails at once on a CRD created a moment ago,
    whose ``status.conditions`` the API server has not written yet, instead of waiting for it."""

    def established() -> bool:
        found = kube.kubectl("get", f"crd/{crd}", "-o", "json", check=False)
        if found.returncode != 0:
            return False
        conditions = (json.loads(found.stdout).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    wait_for(established, timeout=60, interval=0.5, what=f"CRD {crd} Established")


def test_a_stored_pipeline_from_before_the_rule_still_updates(kube: Any, namespace: str) -> None:
    """CRD validation ratcheting (GA in Kubernetes 1.33): unchanged spec.flink keeps validating."""
    crd = json.loads(kube.kubectl("get", "crd", "fraudpipelines.streamflow.io", "-o", "json").stdout)
    group = f"{namespace}.ratchet.test"
    legacy = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"fraudpipelines.{group}"},
        "spec": {**crd["spec"], "group": group},
    }
    legacy["spec"].pop("conversion", None)
    schema = legacy["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    flink_schema = schema["properties"]["spec"]["properties"]["flink"]
    current_rules = flink_schema["x-kubernetes-validations"]
    flink_schema["x-kubernetes-validations"] = [r for r in current_rules if "durable" not in r["message"]]
    kube.kubectl("apply", "-f", "-", input=json.dumps(legacy))
    try:
        _wait_established(kube, f"fraudpipelines.{group}")
        old = _pipeline_doc(namespace, {"highAvailability": False})  # savepoint on an emptyDir
        old["apiVersion"] = f"{group}/v1alpha1"
        created = kube.kubectl("apply", "-n", namespace, "-f", "-", check=False, input=json.dumps(old))
        assert created.returncode == 0, created.stderr
        flink_schema["x-kubernetes-validations"] = current_rules  # the new CRD
        kube.kubectl("apply", "-f", "-", input=json.dumps(legacy))

        def patch(body: dict[str, Any]) -> Any:
            return kube.kubectl(
                "patch",
                f"fraudpipelines.{group}",
                "payments",
                "-n",
                namespace,
                "--type=merge",
                "-p",
                json.dumps(body),
                check=False,
            )

        assert patch({"spec": {"detector": {"parallelism": 1}}}).returncode == 0
        changed = patch({"spec": {"flink": {"checkpointIntervalSeconds": 45}}})
        assert changed.returncode != 0 and "need durable storage" in changed.stderr
    finally:
        kube.kubectl("delete", "crd", f"fraudpipelines.{group}", "--wait=false", check=False)

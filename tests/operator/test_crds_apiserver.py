"""The generated CRDs and the rendered children on the real API server (``kube`` fixture, tests/conftest.py).

What only the API server can prove: the CRDs install (structural, CEL cost, defaults), bad CRs are refused
naming the field, transition rules and the scale subresource work, ``kubectl explain`` shows our
descriptions, every rendered child is accepted under the upstream CRDs, and the pod template is admitted in a
namespace that enforces Pod Security ``restricted``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.commands import load_resources, render_documents
from fraud_operator.render.flink import render_pod_template

pytestmark = pytest.mark.cluster

SAMPLES = Path(__file__).resolve().parents[2] / "crds" / "samples"


def _samples() -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.yaml"))]


def _pipeline_doc() -> dict[str, Any]:
    return copy.deepcopy(next(d for d in _samples() if d["kind"] == "FraudPipeline"))


def _apply(kube: Any, namespace: str, docs: list[dict[str, Any]], *, dry_run: bool = False) -> Any:
    args = ["apply", "--server-side", "--field-manager=streamflow-tests", "-n", namespace, "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return kube.kubectl(*args, check=False, input=yaml.safe_dump_all(docs))


def test_samples_apply_and_read_back_with_the_model_defaults(kube: Any, namespace: str) -> None:
    result = _apply(kube, namespace, _samples())
    assert result.returncode == 0, result.stderr
    stored = json.loads(kube.kubectl("get", "fp", "payments", "-n", namespace, "-o", "json").stdout)
    expected = FraudPipeline.model_validate(_pipeline_doc()).spec
    assert FraudPipeline.model_validate(stored).spec == expected
    header = kube.kubectl("get", "fp", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "READY", "MODEL", "JOB", "STATE", "PARALLELISM", "AGE"]
    models = kube.kubectl("get", "fm", "-n", namespace).stdout
    assert "hist_gradient_boosting" in models and "0.944721" in models


BAD = [
    ("detector", {"parallelism": -1}, "spec.detector.parallelism"),
    ("detector", {"alpha": 1.5}, "spec.detector.alpha"),
    ("flink", {"image": "i:1", "upgradeMode": "rolling"}, "spec.flink.upgradeMode"),
    ("flink", {"image": "i:1", "flinkVersion": "v2_3"}, "spec.flink.flinkVersion"),
    ("shadowModelRef", {"name": "iforest-v1"}, "shadowModelRef must name a different model"),
    ("kafka", {"topicPrefix": "x"}, "set bootstrapServers, strimziCluster, or both"),
    (
        "kafka",
        {"strimziCluster": "k", "topicOverrides": [{"role": "dlq"}, {"role": "dlq"}]},
        "spec.kafka.topicOverrides",
    ),
    ("detector", {"parallelism": 200}, "parallelism must not exceed maxParallelism"),
    (
        "flink",
        {"image": "i:1", "upgradeMode": "last-state", "highAvailability": False, "stateVolumeClaim": "c"},
        "upgradeMode last-state needs highAvailability",
    ),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD, ids=[m for _, _, m in BAD])
def test_invalid_pipelines_are_refused_naming_the_field(
    kube: Any, namespace: str, field: str, value: Any, message: str
) -> None:
    doc = _pipeline_doc()
    doc["spec"][field] = value
    result = _apply(kube, namespace, [doc], dry_run=True)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_dotted_name_is_refused(kube: Any, namespace: str) -> None:
    doc = _pipeline_doc()
    doc["metadata"]["name"] = "pay.ments"
    result = _apply(kube, namespace, [doc], dry_run=True)
    assert result.returncode != 0
    assert "must be a DNS-1035 label" in result.stderr


def test_transition_rules(kube: Any, namespace: str) -> None:
    assert _apply(kube, namespace, _samples()).returncode == 0

    def patch(kind: str, name: str, body: dict[str, Any]) -> Any:
        return kube.kubectl(
            "patch", kind, name, "-n", namespace, "--type=merge", "-p", json.dumps(body), check=False
        )

    shrink = patch("fp", "payments", {"spec": {"kafka": {"topics": {"partitions": 1}}}})
    assert shrink.returncode != 0 and "partitions can only be increased" in shrink.stderr
    assert patch("fp", "payments", {"spec": {"kafka": {"topics": {"partitions": 6}}}}).returncode == 0
    changed = patch("fm", "iforest-v1", {"spec": {"version": "v9"}})
    assert changed.returncode != 0 and "a FraudModel is immutable" in changed.stderr
    assert patch("fm", "iforest-v1", {"metadata": {"labels": {"team": "risk"}}}).returncode == 0


def test_scale_subresource(kube: Any, namespace: str) -> None:
    assert _apply(kube, namespace, _samples()).returncode == 0
    kube.kubectl("scale", "fp/payments", "-n", namespace, "--replicas=3")
    parallelism = kube.kubectl(
        "get", "fp", "payments", "-n", namespace, "-o", "jsonpath={.spec.detector.parallelism}"
    ).stdout
    assert parallelism == "3"
    too_wide = kube.kubectl("scale", "fp/payments", "-n", namespace, "--replicas=500", check=False)
    assert too_wide.returncode != 0 and "maxParallelism" in too_wide.stderr


def test_kubectl_explain_shows_the_descriptions(kube: Any) -> None:
    out = kube.kubectl("explain", "fraudpipeline.spec.detector").stdout
    assert "Share of the ML score" in out
    assert "kubectl scale fp/<name> --replicas=N" in out
    assert "Lowercase hex SHA-256" in kube.kubectl("explain", "fm.spec.artifact.sha256").stdout


def test_rendered_children_are_accepted(kube: Any, namespace: str) -> None:
    texts = "\n---\n".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.yaml")))
    rendered = render_documents(load_resources(texts, "samples", namespace))
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    result = _apply(kube, namespace, docs, dry_run=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("serverside-applied (server dry run)") == len(docs) == 15


def test_pod_template_is_admitted_under_restricted(kube: Any, namespace: str) -> None:
    kube.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    pipeline = FraudPipeline.model_validate(_pipeline_doc())
    pod = render_pod_template(pipeline, "0123456789abcdef")
    pod["metadata"]["name"] = "restricted-check"
    pod["spec"]["containers"][0]["image"] = pipeline.spec.flink.image
    create = ("create", "--dry-run=server", "-n", namespace, "-f", "-")
    admitted = kube.kubectl(*create, input=yaml.safe_dump(pod))
    assert "created (server dry run)" in admitted.stdout

    del pod["spec"]["securityContext"]["runAsNonRoot"]
    del pod["spec"]["containers"][0]["securityContext"]["runAsNonRoot"]
    refused = kube.kubectl(*create, input=yaml.safe_dump(pod), check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr

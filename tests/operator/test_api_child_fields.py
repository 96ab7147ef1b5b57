"""Spec fields that end up in children the API server validates: refused on the pipeline, naming the field.

Found by probing and by the resource fuzzing (tests/operator/fuzz): an egress CIDR that is none, a bootstrap
port above 65535, or a label key or value the API server refuses on a NetworkPolicy or PodMonitor, passed the
FraudPipeline's schema and failed only when the child was applied. Now the CRD (a pattern, or a CEL rule on
the map's keys) and pydantic both refuse them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.schema import openapi_schema
from fraud_operator.handlers.resolve import describe_error
from fraud_operator.render import render_all
from pydantic import BaseModel, ValidationError

from tests.conftest import KubeCluster

SAMPLE = Path(__file__).resolve().parents[2] / "crds" / "samples" / "fraudpipeline-payments.yaml"

# (section, field, bad value, the field path both refusals name)
BAD: list[tuple[str, str, Any, str]] = [
    ("networkPolicy", "egressCidrs", ["not-a-cidr"], "spec.networkPolicy.egressCidrs[0]"),
    ("networkPolicy", "egressCidrs", ["10.0.0.0/33"], "spec.networkPolicy.egressCidrs[0]"),
    ("networkPolicy", "prometheusPodLabels", {"app": "bad value!"}, "spec.networkPolicy.prometheusPodLabels"),
    ("networkPolicy", "prometheusPodLabels", {"-bad": "x"}, "spec.networkPolicy.prometheusPodLabels"),
    ("monitoring", "labels", {"bad key!": "v"}, "spec.monitoring.labels"),
    ("monitoring", "labels", {"team": "x" * 64}, "spec.monitoring.labels"),
    # A bootstrap port becomes a NetworkPolicy egress port, which must lie in 1-65535.
    ("kafka", "bootstrapServers", "kafka:99999", "spec.kafka.bootstrapServers"),
    ("kafka", "bootstrapServers", "a:9092,b:0", "spec.kafka.bootstrapServers"),
]
GOOD: list[tuple[str, str, Any]] = [
    ("networkPolicy", "egressCidrs", ["10.0.0.0/8", "192.168.1.7/32", "::/0", "2001:db8::/32"]),
    ("networkPolicy", "prometheusPodLabels", {"app.kubernetes.io/name": "prometheus", "tier": ""}),
    ("monitoring", "labels", {"example.com/team": "fraud_1", "release": "kube-prometheus-stack"}),
    ("kafka", "bootstrapServers", "a:1,b:65535,[::1]:9092"),
]


def _doc(section: str, field: str, value: Any, namespace: str = "default") -> dict[str, Any]:
    doc = copy.deepcopy(yaml.safe_load(SAMPLE.read_text(encoding="utf-8")))
    doc["metadata"]["namespace"] = namespace
    doc["spec"].setdefault(section, {})[field] = value
    return dict(doc)


@pytest.mark.parametrize(("section", "field", "value", "path"), BAD, ids=[f"{b[1]}={b[2]!r}" for b in BAD])
def test_pydantic_refuses_naming_the_field(section: str, field: str, value: Any, path: str) -> None:
    with pytest.raises(ValidationError) as info:
        FraudPipeline.model_validate(_doc(section, field, value))
    assert describe_error(info.value).startswith(path.split("[")[0]), describe_error(info.value)


@pytest.mark.parametrize(("section", "field", "value"), GOOD, ids=[g[1] for g in GOOD])
def test_valid_values_render(section: str, field: str, value: Any) -> None:
    assert render_all(FraudPipeline.model_validate(_doc(section, field, value)), None)


def test_a_key_pattern_becomes_a_cel_rule_on_the_map() -> None:
    class Labels(BaseModel):
        labels: dict[str, str]

    from fraud_operator.api.common import LabelKey, LabelValue

    class Keyed(BaseModel):
        labels: dict[LabelKey, LabelValue]

    plain = openapi_schema(Labels)["properties"]["labels"]
    keyed = openapi_schema(Keyed)["properties"]["labels"]
    assert "patternProperties" not in keyed and keyed["additionalProperties"]["pattern"]
    assert any("k.matches(" in rule["rule"] for rule in keyed["x-kubernetes-validations"])
    assert "x-kubernetes-validations" not in plain


@pytest.mark.cluster
@pytest.mark.parametrize(("section", "field", "value", "path"), BAD, ids=[f"{b[1]}={b[2]!r}" for b in BAD])
def test_api_server_refuses_naming_the_field(
    kube: KubeCluster, namespace: str, section: str, field: str, value: Any, path: str
) -> None:
    result = kube.kubectl(
        "apply", "--dry-run=server", "-f", "-", check=False, input=yaml.safe_dump(_doc(section, field, value))
    )
    assert result.returncode != 0
    assert path.split("[")[0] in result.stderr, result.stderr


@pytest.mark.cluster
@pytest.mark.parametrize(("section", "field", "value"), GOOD, ids=[g[1] for g in GOOD])
def test_api_server_accepts_the_pipeline_and_its_children(
    kube: KubeCluster, namespace: str, section: str, field: str, value: Any
) -> None:
    doc = _doc(section, field, value, namespace)
    children = render_all(FraudPipeline.model_validate(doc), None)
    result = kube.kubectl(
        "apply", "--dry-run=server", "-f", "-", check=False, input=yaml.safe_dump_all([doc, *children])
    )
    assert result.returncode == 0, result.stderr

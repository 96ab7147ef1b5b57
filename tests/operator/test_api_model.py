"""FraudModel spec validation."""

from __future__ import annotations

from typing import Any

import pytest
from fraud_operator.api.model import FraudModel
from pydantic import ValidationError


def test_sample_model_parses(model: FraudModel) -> None:
    assert model.spec.algorithm == "isolation_forest"
    assert model.spec.metrics.auc == pytest.approx(0.782768)
    assert model.spec.training_window.end > model.spec.training_window.start
    assert model.status is None


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("spec", "artifact", "sha256"), "ABC", "spec.artifact.sha256"),
        (("spec", "artifact", "uri"), "s3://bucket/model", "spec.artifact.uri"),
        (("spec", "algorithm"), "deep_magic", "spec.algorithm"),
        (("spec", "metrics", "auc"), 1.2, "spec.metrics.auc"),
        (("spec", "metrics", "averagePrecision"), -0.1, "spec.metrics.averagePrecision"),
        (("spec", "trainingWindow", "end"), "2018-07-01T00:00:00Z", "end: must be after start"),
        (("spec", "version"), "", "spec.version"),
        (("spec", "featureSchemaId"), "has spaces", "spec.featureSchemaId"),
    ],
)
def test_invalid_model_is_refused_naming_the_field(
    model_doc: dict[str, Any], path: tuple[str, ...], value: Any, field: str
) -> None:
    node = model_doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValidationError) as info:
        FraudModel.model_validate(model_doc)
    message = " | ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in info.value.errors())
    assert field in message


def test_status_round_trips_in_camel_case(model_doc: dict[str, Any]) -> None:
    model_doc["status"] = {"phase": "Rejected", "reason": "Sha256Mismatch", "usedBy": ["payments"]}
    model = FraudModel.model_validate(model_doc)
    assert model.status is not None
    dumped = model.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped["usedBy"] == ["payments"]
    assert dumped["phase"] == "Rejected"

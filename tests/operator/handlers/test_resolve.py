"""The pipeline's model gates (spec.modelPolicy), each one named in ModelResolved when it fails."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.handlers.resolve import resolve_model

# The sample model's training window ends 2018-07-31.
NOW = datetime(2026, 4, 17, tzinfo=UTC)  # the sample model's training data ended 2026-03-16T23:59:59Z


def _resolve(pipeline_doc: dict[str, Any], model_doc: dict[str, Any], **policy: Any) -> Any:
    pipeline_doc["spec"]["modelPolicy"] = {**pipeline_doc["spec"]["modelPolicy"], **policy}
    return resolve_model(
        FraudPipeline.model_validate(pipeline_doc), model_doc | {"status": {"phase": "Ready"}}, NOW
    )


def test_every_gate_is_named(pipeline_doc: dict[str, Any], model_doc: dict[str, Any]) -> None:
    model, finding = _resolve(pipeline_doc, model_doc, minAuc=0.9, minAveragePrecision=0.5, maxAgeDays=30)
    assert model is None
    assert (finding.status, finding.reason) == ("False", "ModelPolicyViolation")
    assert "AUC 0.782768 is below spec.modelPolicy.minAuc 0.9" in finding.message
    assert "average precision 0.287881 is below spec.modelPolicy.minAveragePrecision 0.5" in finding.message
    assert "training data ended 31 days ago, spec.modelPolicy.maxAgeDays is 30" in finding.message


def test_card_precision_gate_needs_the_metric(
    pipeline_doc: dict[str, Any], model_doc: dict[str, Any]
) -> None:
    del model_doc["spec"]["metrics"]["cardPrecisionAt100"]
    model, finding = _resolve(pipeline_doc, model_doc, minCardPrecisionAt100=0.25)
    assert model is None and finding.reason == "ModelPolicyViolation"
    assert (
        "metrics.cardPrecisionAt100 is missing, spec.modelPolicy.minCardPrecisionAt100 is 0.25"
        in finding.message
    )
    model_doc["spec"]["metrics"]["cardPrecisionAt100"] = 0.2
    model, finding = _resolve(pipeline_doc, model_doc, minCardPrecisionAt100=0.25)
    assert model is None
    assert "card precision@100 0.2 is below spec.modelPolicy.minCardPrecisionAt100 0.25" in finding.message
    model, finding = _resolve(pipeline_doc, model_doc, minCardPrecisionAt100=0.2)
    assert model is not None and finding.reason == "ModelReady"


def test_a_model_within_every_gate_resolves(pipeline_doc: dict[str, Any], model_doc: dict[str, Any]) -> None:
    model, finding = _resolve(pipeline_doc, model_doc, minAuc=0.75, minAveragePrecision=0.1, maxAgeDays=60)
    assert model is not None and model.metadata.name == "iforest-v1"
    assert (finding.status, finding.reason) == ("True", "ModelReady")


def test_a_stale_generation_is_not_rolled_to(pipeline_doc: dict[str, Any], model_doc: dict[str, Any]) -> None:
    model_doc["metadata"]["generation"] = 2
    pipeline = FraudPipeline.model_validate(pipeline_doc)
    body = model_doc | {"status": {"phase": "Ready", "observedGeneration": 1}}
    model, finding = resolve_model(pipeline, body, NOW)
    assert model is None and finding.reason == "ModelNotReady"
    assert "generation 1, now at 2" in finding.message

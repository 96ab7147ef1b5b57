"""Checks that turn API objects into typed models, phrased as conditions (pure, no client)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline, ModelPolicy
from fraud_operator.handlers.status import Finding
from pydantic import ValidationError

__all__ = ["describe_error", "model_problem", "parse_model", "parse_pipeline", "resolve_model"]


def describe_error(error: ValidationError) -> str:
    """One line per problem, each starting with the field path in the object's camelCase spelling."""
    lines = []
    for item in error.errors():
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{path}: {message}" if path else message)
    return "; ".join(lines)


def _document(body: Mapping[str, Any]) -> dict[str, Any]:
    metadata = body.get("metadata") or {}
    fields = {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "labels": dict(metadata.get("labels") or {}),
        "generation": metadata.get("generation"),
        "uid": metadata.get("uid"),
    }
    return {
        "metadata": {key: value for key, value in fields.items() if value is not None},
        "spec": dict(body.get("spec") or {}),
    }


def parse_pipeline(body: Mapping[str, Any]) -> FraudPipeline:
    """The typed pipeline; raises ValidationError naming the field (the status is not validated)."""
    return FraudPipeline.model_validate(_document(body))


def parse_model(body: Mapping[str, Any]) -> FraudModel:
    """The typed model; raises ValidationError naming the field."""
    return FraudModel.model_validate(_document(body))


def model_problem(model: FraudModel, now: datetime) -> tuple[str, str] | None:
    """A reason and message when a model must be rejected regardless of the pipeline using it."""
    end = model.spec.training_window.end
    end = end if end.tzinfo is not None else end.replace(tzinfo=UTC)
    if end > now + timedelta(minutes=5):
        return "TrainingWindowInFuture", f"spec.trainingWindow.end {end.isoformat()} lies in the future"
    return None


def _policy_violations(model: FraudModel, policy: ModelPolicy, now: datetime) -> list[str]:
    metrics = model.spec.metrics
    problems = []
    if policy.min_auc is not None and metrics.auc < policy.min_auc:
        problems.append(f"AUC {metrics.auc} is below spec.modelPolicy.minAuc {policy.min_auc}")
    if policy.min_average_precision is not None and metrics.average_precision < policy.min_average_precision:
        problems.append(
            f"average precision {metrics.average_precision} is below spec.modelPolicy.minAveragePrecision "
            f"{policy.min_average_precision}"
        )
    floor = policy.min_card_precision_at100
    if floor is not None:
        cp = metrics.card_precision_at100
        if cp is None:
            problems.append(
                f"metrics.cardPrecisionAt100 is missing, spec.modelPolicy.minCardPrecisionAt100 is {floor}"
            )
        elif cp < floor:
            problems.append(
                f"card precision@100 {cp} is below spec.modelPolicy.minCardPrecisionAt100 {floor}"
            )
    if policy.max_age_days is not None:
        end = model.spec.training_window.end
        end = end if end.tzinfo is not None else end.replace(tzinfo=UTC)
        age = (now - end).days
        if age > policy.max_age_days:
            problems.append(
                f"training data ended {age} days ago, spec.modelPolicy.maxAgeDays is {policy.max_age_days}"
            )
    return problems


def resolve_model(
    pipeline: FraudPipeline, body: Mapping[str, Any] | None, now: datetime, field: str = "spec.modelRef"
) -> tuple[FraudModel | None, Finding]:
    """The pipeline's active model if it may be used, and the ModelResolved condition saying why (not).

    ``field`` is the reference resolved (spec.shadowModelRef for the shadow model); messages name it.
    """
    name = pipeline.spec.model_ref.name
    namespace = pipeline.metadata.namespace
    if body is None:
        return None, Finding(
            "ModelResolved",
            "False",
            "ModelNotFound",
            f"{field}: FraudModel {name} not found in namespace {namespace}",
        )
    try:
        model = parse_model(body)
    except ValidationError as exc:
        return None, Finding(
            "ModelResolved", "False", "ModelRejected", f"{field}: FraudModel {name}: {describe_error(exc)}"
        )
    status = body.get("status") or {}
    phase = status.get("phase")
    if phase == "Rejected":
        why = status.get("message") or status.get("reason") or "rejected"
        return None, Finding(
            "ModelResolved", "False", "ModelRejected", f"{field}: FraudModel {name} is Rejected: {why}"
        )
    observed = status.get("observedGeneration")
    generation = (body.get("metadata") or {}).get("generation")
    if phase == "Ready" and observed is not None and generation is not None and observed != generation:
        # Changed since it was validated (e.g. a new artifact): never roll to an unchecked spec.
        phase = f"Ready for generation {observed}, now at {generation}"
    if phase != "Ready":
        return None, Finding(
            "ModelResolved",
            "False",
            "ModelNotReady",
            f"{field}: FraudModel {name} is not validated yet (phase {phase})",
        )
    violations = _policy_violations(model, pipeline.spec.model_policy, now)
    if violations:
        return None, Finding(
            "ModelResolved",
            "False",
            "ModelPolicyViolation",
            f"{field}: FraudModel {name}: " + "; ".join(violations),
        )
    return model, Finding(
        "ModelResolved",
        "True",
        "ModelReady",
        f"FraudModel {name} version {model.spec.version} ({model.spec.algorithm}) passes the model policy",
    )

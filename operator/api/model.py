"""The FraudModel API (streamflow.io/v1alpha1): a trained model published by a data scientist.

A FraudModel is immutable once created (the API server enforces it with a CEL transition rule): a running
pipeline must never see the artifact under a model name change; a new model version is a new object.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from fraud_operator.api.common import API_VERSION, ApiModel, Condition, ObjectMeta, StatusModel, cel
from pydantic import Field, StringConstraints, model_validator

__all__ = [
    "ALGORITHMS",
    "AlertBudget",
    "Algorithm",
    "ComparedModel",
    "ComparisonWindow",
    "FraudModel",
    "FraudModelSpec",
    "FraudModelStatus",
    "ModelAlerting",
    "ModelArtifact",
    "ModelMetrics",
    "ModelPhase",
    "ShadowComparison",
    "TrainingWindow",
]

Algorithm = Literal["isolation_forest", "logistic_regression", "hist_gradient_boosting", "random_forest"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)

ModelPhase = Literal["Pending", "Ready", "Rejected"]

Score = Annotated[float, Field(ge=0.0, le=1.0)]


class ModelArtifact(ApiModel):
    """Where the serialized model lives and the digest that proves it is the one that was evaluated."""

    uri: Annotated[str, StringConstraints(pattern=r"^(file:///|https://)\S+$", max_length=2048)] = Field(
        description="file:///path (a volume mounted into the job) or https:// URL of the model artifact."
    )
    sha256: Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{64}$")] = Field(
        description="Lowercase hex SHA-256 of the artifact; the job refuses an artifact that does not match."
    )


class ModelMetrics(ApiModel):
    """Offline evaluation metrics of the model on its validation split."""

    auc: Score = Field(description="Area under the ROC curve, in [0, 1].")
    average_precision: Score = Field(description="Average precision (area under the precision-recall curve).")
    precision_at_alert_rate: Score | None = Field(
        default=None, description="Precision when alerting on the top alertRate share of transactions."
    )
    alert_rate: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Alert rate that precisionAtAlertRate was measured at."
    )
    card_precision_at100: Score | None = Field(
        default=None,
        description="Card precision@100 per day (the Fraud Detection Handbook's: the share of each day's "
        "100 highest-scored cards that had a fraud, cards detected on an earlier day removed, mean over the "
        "days): what a team reviewing 100 cards a day would find.",
    )


class AlertBudget(ApiModel):
    """The threshold that keeps the detector within one alert budget, as measured when it was trained."""

    alerts_per_day: int = Field(ge=1, le=1_000_000, description="The budget: alerts a day.")
    threshold: Score = Field(
        description="Lowest detector score threshold that raised at most alertsPerDay alerts a day on the "
        "validation rows (the score the detector emits: this model and the rules, as combined)."
    )
    validation_alerts_per_day: float = Field(
        ge=0.0, description="Alerts a day at that threshold on the validation rows (at most the budget)."
    )
    evaluation_alerts_per_day: float | None = Field(
        default=None, ge=0.0, description="Alerts a day at that threshold on the later evaluation window."
    )


class ModelAlerting(ApiModel):
    """Alert thresholds by budget: a pipeline's spec.detector.alertBudget picks its threshold from here."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.budgets.all(a, self.budgets.all(b, !(a.alertsPerDay < b.alertsPerDay)"
                " || a.threshold >= b.threshold))",
                "a larger budget must not have a higher threshold",
                ".budgets",
            ),
            (
                "self.budgets.all(a, self.budgets.exists_one(b, b.alertsPerDay == a.alertsPerDay))",
                "each alertsPerDay appears once",
                ".budgets",
            ),
        )
    }

    events_per_day: float = Field(
        ge=0.0, description="Events a day of the validation traffic the budgets were measured on."
    )
    budgets: list[AlertBudget] = Field(
        min_length=1, max_length=32, description="One threshold per budget, in increasing alertsPerDay."
    )

    @model_validator(mode="after")
    def _check(self) -> ModelAlerting:
        for a in self.budgets:
            for b in self.budgets:
                if a.alerts_per_day < b.alerts_per_day and a.threshold < b.threshold:
                    raise ValueError("budgets: a larger budget must not have a higher threshold")
        if len({b.alerts_per_day for b in self.budgets}) != len(self.budgets):
            raise ValueError("budgets: each alertsPerDay appears once")
        return self

    def threshold_for(self, alerts_per_day: int) -> AlertBudget | None:
        """The entry of the largest budget not above ``alerts_per_day`` (None: every budget is above it)."""
        fitting = [b for b in self.budgets if b.alerts_per_day <= alerts_per_day]
        return max(fitting, key=lambda b: b.alerts_per_day) if fitting else None


class TrainingWindow(ApiModel):
    """Event-time window of the training data."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(("self.end > self.start", "end must be after start", ".end"))
    }

    start: datetime = Field(description="First event time included in training (RFC 3339).")
    end: datetime = Field(description="Last event time included in training (RFC 3339).")

    @model_validator(mode="after")
    def _check(self) -> TrainingWindow:
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        return self


class FraudModelSpec(ApiModel):
    """A trained fraud model: its artifact, the features it expects and how well it scored offline."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            ("self == oldSelf", "a FraudModel is immutable; publish a new FraudModel for a new version"),
        )
    }

    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", max_length=63)] = (
        Field(description="Version of the model, e.g. 2026.11.29-1 or v4.")
    )
    algorithm: Algorithm = Field(description="Learning algorithm of the model.")
    artifact: ModelArtifact = Field(description="The serialized model and its digest.")
    feature_schema_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]+$", max_length=128)] = (
        Field(description="Id of the feature schema (names, order, version) the model was trained on.")
    )
    metrics: ModelMetrics = Field(description="Offline evaluation metrics.")
    training_window: TrainingWindow = Field(description="Event-time window of the training data.")
    description: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        default=None, description="Free-text notes, e.g. a link to the model card."
    )
    alerting: ModelAlerting | None = Field(
        default=None,
        description="Alert thresholds by budget, measured when the model was trained (`model train`).",
    )


class ComparedModel(StatusModel):
    """One model's figures on the events both models scored."""

    version: str | None = Field(default=None, description="spec.version of the model.")
    auc: float | None = Field(
        default=None,
        description="AUC-ROC on the labeled paired events (absent when the labels cannot define it).",
    )
    average_precision: float | None = Field(
        default=None, description="Average precision on the labeled paired events."
    )
    card_precision_at100: float | None = Field(
        default=None, description="Card precision@100 per day on the labeled paired events."
    )
    mean_score: float | None = Field(default=None, description="Mean score on the paired events.")
    alerts_at_threshold: int | None = Field(
        default=None, description="Paired events scored at or above the pipeline's alert threshold."
    )
    recorded_alerts: int | None = Field(
        default=None, description="Alerts the detector recorded for this model's scores (active model only)."
    )


class ComparisonWindow(StatusModel):
    """Event-time range of the compared events."""

    start: datetime | None = Field(default=None, description="Event time of the first paired event.")
    end: datetime | None = Field(default=None, description="Event time of the last paired event.")


class ShadowComparison(StatusModel):
    """This (shadow) model against a pipeline's active model on the events both scored.

    Written by the operator from gold.model_scores (``fraud_models.compare``); fields added by later
    versions of the comparison are kept, so the schema stays open.
    """

    model_config = StatusModel.model_config | {
        "json_schema_extra": {"x-kubernetes-preserve-unknown-fields": True}
    }

    pipeline: str | None = Field(default=None, description="FraudPipeline whose scores were compared.")
    active_model: str | None = Field(
        default=None, description="FraudModel the pipeline's job runs as active."
    )
    active_version: str | None = Field(default=None, description="spec.version of the active model.")
    shadow_version: str | None = Field(default=None, description="spec.version of this (shadow) model.")
    paired_events: int | None = Field(default=None, description="Events scored by both models.")
    unpaired_active: int | None = Field(default=None, description="Events scored by the active model only.")
    unpaired_shadow: int | None = Field(default=None, description="Events scored by the shadow model only.")
    labeled_events: int | None = Field(default=None, description="Paired events with a fraud label.")
    frauds: int | None = Field(default=None, description="Paired events labeled as fraud.")
    threshold: float | None = Field(default=None, description="Alert threshold of the pipeline.")
    agreement_at_threshold: float | None = Field(
        default=None, description="Share of paired events on which both models make the same alert decision."
    )
    both_alert: int | None = Field(default=None, description="Paired events both models alert on.")
    active_only_alert: int | None = Field(
        default=None, description="Paired events only the active model alerts on."
    )
    shadow_only_alert: int | None = Field(
        default=None, description="Paired events only the shadow model alerts on."
    )
    mean_score_delta: float | None = Field(
        default=None, description="Mean shadow score minus mean active score."
    )
    psi: float | None = Field(
        default=None, description="Population stability index of the shadow scores against the active ones."
    )
    active: ComparedModel | None = Field(default=None, description="Figures of the active model.")
    shadow: ComparedModel | None = Field(default=None, description="Figures of this (shadow) model.")
    window: ComparisonWindow | None = Field(default=None, description="Event-time range compared.")
    computed_at: datetime | None = Field(default=None, description="When these figures were computed.")


class FraudModelStatus(StatusModel):
    """Observed state of a model, written by the operator."""

    phase: ModelPhase | None = Field(
        default=None, description="Pending until validated, then Ready or Rejected (see reason and message)."
    )
    reason: str | None = Field(
        default=None, description="CamelCase reason of the phase, e.g. Sha256Mismatch."
    )
    message: str | None = Field(default=None, description="Human-readable explanation of the phase.")
    used_by: list[str] = Field(
        default_factory=list,
        description="Names of the FraudPipelines that use this model (active or shadow).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation that the operator last validated."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Conditions such as Validated.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    comparison: ShadowComparison | None = Field(
        default=None,
        description=(
            "Side-by-side comparison with a pipeline's active model from shadow scoring; when several "
            "pipelines shadow this model, the one compared last (see pipeline)."
        ),
    )


class FraudModel(ApiModel):
    """A whole FraudModel object as read from YAML or the API server."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    api_version: Literal["streamflow.io/v1alpha1"] = Field(default=API_VERSION, description="API version.")
    kind: Literal["FraudModel"] = Field(default="FraudModel", description="Kind.")
    metadata: ObjectMeta = Field(description="Object metadata.")
    spec: FraudModelSpec = Field(description="Desired state.")
    status: FraudModelStatus | None = Field(default=None, description="Observed state.")

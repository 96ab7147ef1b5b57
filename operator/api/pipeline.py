"""The FraudPipeline API (streamflow.io/v1alpha1): what a platform engineer declares for one fraud pipeline.

Every cross-field rule exists twice on purpose: as a CEL rule that the API server enforces on ``kubectl
apply`` and as a pydantic validator so that ``streamflow render`` and the operator refuse the same input
offline.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Literal

from fraud_operator.api.common import (
    API_VERSION,
    DNS1035_LABEL,
    ApiModel,
    Condition,
    K8sName,
    LabelKey,
    LabelValue,
    LocalObjectReference,
    ObjectMeta,
    StatusModel,
    cel,
)
from fraud_operator.api.detector import (
    BlocklistRule,
    DetectorRules,
    DetectorSpec,
    HighValueRule,
    ImpossibleTravelRule,
    MlAnomalyRule,
    RuleBase,
    TerminalRiskRule,
    UnusualHourRule,
    VelocityRule,
)
from fraud_operator.api.flink import (
    FLINK_VERSIONS,
    MANAGED_FLINK_KEYS,
    FlinkSpec,
    FlinkVersion,
    JobManagerSpec,
    Resources,
    TaskManagerSpec,
)
from fraud_operator.api.kafka import (
    TOPIC_ROLES,
    KafkaCredentialsRef,
    KafkaSpec,
    TopicDefaults,
    TopicOverride,
    TopicRole,
)
from pydantic import AfterValidator, Field, StringConstraints, model_validator

__all__ = [
    "FLINK_VERSIONS",
    "MANAGED_FLINK_KEYS",
    "MAX_PIPELINE_NAME",
    "TOPIC_ROLES",
    "BlocklistRule",
    "DatabaseSchedule",
    "DatabaseSpec",
    "DetectorRules",
    "DetectorSpec",
    "DisruptionBudgetSpec",
    "FlinkSpec",
    "FlinkVersion",
    "FraudPipeline",
    "FraudPipelineSpec",
    "FraudPipelineStatus",
    "HighValueRule",
    "ImpossibleTravelRule",
    "JobManagerSpec",
    "KafkaCredentialsRef",
    "KafkaSpec",
    "MlAnomalyRule",
    "ModelPolicy",
    "ModelRoll",
    "MonitoringSpec",
    "NetworkPolicySpec",
    "Resources",
    "RuleBase",
    "ShadowSummary",
    "TaskManagerSpec",
    "TerminalRiskRule",
    "TopicDefaults",
    "TopicOverride",
    "TopicRole",
    "UnusualHourRule",
    "VelocityRule",
]

_DNS1035 = re.compile(DNS1035_LABEL)

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# IPv4 exactly; IPv6 by its shape (the validator parses it), so the API server refuses what is no CIDR.
CIDR_PATTERN = (
    rf"^({_OCTET}(\.{_OCTET}){{3}}/(3[0-2]|[12]?[0-9])"
    r"|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$"
)


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32") from None
    return value


Cidr = Annotated[str, StringConstraints(pattern=CIDR_PATTERN, max_length=64), AfterValidator(_check_cidr)]

# Child names such as "<name>-rest" (a Service, DNS-1035, 63 chars) and label values must stay valid.
MAX_PIPELINE_NAME = 45


class DatabaseSchedule(ApiModel):
    """A recurring database task that the operator runs as a CronJob."""

    name: Annotated[str, StringConstraints(pattern=DNS1035_LABEL, max_length=40)] = Field(
        description="Name of the schedule, unique within the pipeline; part of the CronJob name."
    )
    schedule: Annotated[str, StringConstraints(pattern=r"^(@\w+|(\S+\s+){4}\S+)$", max_length=128)] = Field(
        description="Cron expression in the CronJob syntax, e.g. '*/15 * * * *' or '@daily'."
    )
    task: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=63)] = Field(
        description="The `streamflow db` subcommand to run, e.g. transform."
    )
    suspend: bool = Field(default=False, description="Suspend this schedule without deleting it.")


class DatabaseSpec(ApiModel):
    """The CloudNativePG cluster that receives alerts and holds the feature store."""

    cnpg_cluster: Annotated[str, StringConstraints(pattern=DNS1035_LABEL, max_length=50)] = Field(
        description="Name of the CloudNativePG Cluster in this namespace; the job writes to <name>-rw."
    )
    database: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$", max_length=63)] = Field(
        default="app", description="Database name inside the cluster."
    )
    credentials_secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="Secret with keys username and password; default: CNPG's app secret <cluster>-app.",
    )
    schedules: list[DatabaseSchedule] = Field(
        default_factory=list,
        max_length=16,
        description="Recurring database tasks run as CronJobs.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class ModelPolicy(ApiModel):
    """Gates a FraudModel must pass before the pipeline uses it, and how a model roll behaves."""

    min_auc: float | None = Field(default=None, ge=0.0, le=1.0, description="Minimum AUC-ROC of the model.")
    min_average_precision: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Minimum average precision of the model."
    )
    min_card_precision_at100: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Minimum card precision@100 per day of the model; a model without that metric fails it.",
    )
    max_age_days: int | None = Field(
        default=None, ge=1, le=3650, description="Maximum age of the model's training window end, in days."
    )
    roll_timeout_seconds: int = Field(
        default=600,
        ge=30,
        le=86400,
        description="Time the new job has to reach RUNNING after a model roll before it counts as failed.",
    )
    auto_rollback: bool = Field(
        default=True, description="Roll back to the previous model automatically when a roll fails."
    )
    history_limit: int = Field(
        default=10, ge=1, le=100, description="Number of model rolls kept in status.modelHistory."
    )


class NetworkPolicySpec(ApiModel):
    """A default-deny NetworkPolicy for the pipeline's pods with the minimal allows the job needs."""

    enabled: bool = Field(default=True, description="Render the NetworkPolicy.")
    prometheus_namespace: K8sName = Field(
        default="monitoring", description="Namespace of Prometheus, allowed to scrape the metrics port."
    )
    prometheus_pod_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "prometheus"},
        max_length=8,
        description="Labels of the Prometheus pods allowed to scrape the metrics port.",
    )
    flink_operator_namespace: K8sName = Field(
        default="flink-operator",
        description="Namespace of the Flink Kubernetes Operator, allowed to reach the JobManager REST port.",
    )
    egress_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        max_length=16,
        description="CIDRs reachable on TCP 443/6443 (Kubernetes API, object storage, artifacts).",
    )


class MonitoringSpec(ApiModel):
    """Scraping of the detector's metrics (Flink's Prometheus reporter) by the Prometheus Operator."""

    enabled: bool = Field(
        default=True,
        description=(
            "Render a PodMonitor (monitoring.coreos.com/v1) for the Flink pods' metrics port. Skipped, and "
            "said in the Monitored condition, where the Prometheus Operator's CRD is not installed."
        ),
    )
    interval: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(s|m|h)$", max_length=16)] = Field(
        default="30s", description="Scrape interval, e.g. 30s or 1m."
    )
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=8,
        description="Extra labels of the PodMonitor, to match your Prometheus' podMonitorSelector.",
    )


class DisruptionBudgetSpec(ApiModel):
    """PodDisruptionBudgets for the JobManager and the TaskManagers."""

    enabled: bool = Field(default=True, description="Render the PodDisruptionBudgets.")
    job_manager_max_unavailable: int = Field(
        default=1, ge=0, le=3, description="JobManager pods that voluntary disruptions may take down at once."
    )
    task_manager_max_unavailable: int = Field(
        default=1,
        ge=0,
        le=1024,
        description="TaskManager pods that voluntary disruptions may take down at once.",
    )


class FraudPipelineSpec(ApiModel):
    """Desired state of a fraud pipeline: Kafka topics, the Flink detector job, its model, guard rails."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "!has(self.shadowModelRef) || self.shadowModelRef.name != self.modelRef.name",
                "shadowModelRef must name a different model than modelRef",
                ".shadowModelRef.name",
            ),
        )
    }

    kafka: KafkaSpec = Field(description="Kafka cluster and topics of the pipeline.")
    database: DatabaseSpec = Field(description="PostgreSQL (CloudNativePG) database of the pipeline.")
    detector: DetectorSpec = Field(
        default_factory=DetectorSpec, description="Scoring and parallelism of the job."
    )
    model_ref: LocalObjectReference = Field(description="The FraudModel that scores transactions (FR-006).")
    shadow_model_ref: LocalObjectReference | None = Field(
        default=None, description="A second FraudModel scored on every event without affecting alerts."
    )
    model_policy: ModelPolicy = Field(
        default_factory=ModelPolicy, description="Gates and roll behaviour for models."
    )
    flink: FlinkSpec = Field(description="The Flink deployment running the detector.")
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec, description="The NetworkPolicy of the pipeline's pods."
    )
    disruption_budget: DisruptionBudgetSpec = Field(
        default_factory=DisruptionBudgetSpec, description="PodDisruptionBudgets for the Flink pods."
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec, description="Prometheus scraping of the detector's metrics."
    )
    suspend: bool = Field(
        default=False, description="Suspend the job (with a savepoint) without deleting anything."
    )
    topic_deletion_policy: Literal["Retain", "Delete"] = Field(
        default="Retain",
        description="What happens to topics created through the admin API when the pipeline is deleted.",
    )

    @model_validator(mode="after")
    def _check(self) -> FraudPipelineSpec:
        if self.shadow_model_ref is not None and self.shadow_model_ref.name == self.model_ref.name:
            raise ValueError("shadowModelRef.name: must name a different model than modelRef")
        return self


class ModelRoll(StatusModel):
    """One change of the active model, kept in status.modelHistory."""

    from_model: str | None = Field(default=None, description="Model active before the roll.")
    to_model: str = Field(description="Model the roll switched to.")
    at: datetime = Field(description="When the roll started (RFC 3339).")
    result: Literal["InProgress", "Succeeded", "Failed", "RolledBack"] = Field(
        description="Outcome of the roll."
    )
    reason: str = Field(default="", description="Why the roll ended as it did.")


class ShadowSummary(StatusModel):
    """Short summary of the shadow comparison; the full figures are in the shadow FraudModel's status."""

    model: str | None = Field(default=None, description="The shadow FraudModel compared.")
    active_model: str | None = Field(default=None, description="The active FraudModel compared against.")
    reason: str | None = Field(
        default=None,
        description="Compared, WaitingForScores, WaitingForDatabase or ComparisonFailed.",
    )
    message: str | None = Field(default=None, description="Human-readable state of the comparison.")
    paired_events: int | None = Field(default=None, description="Events scored by both models.")
    labeled_events: int | None = Field(default=None, description="Paired events with a fraud label.")
    agreement_at_threshold: float | None = Field(
        default=None, description="Share of paired events with the same alert decision from both models."
    )
    active_auc: float | None = Field(default=None, description="AUC-ROC of the active model on them.")
    shadow_auc: float | None = Field(default=None, description="AUC-ROC of the shadow model on them.")
    mean_score_delta: float | None = Field(
        default=None, description="Mean shadow score minus mean active score."
    )
    computed_at: datetime | None = Field(default=None, description="When the figures were computed.")


class FraudPipelineStatus(StatusModel):
    """Observed state of a fraud pipeline, written by the operator."""

    observed_generation: int | None = Field(
        default=None, description="metadata.generation that the operator last reconciled."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing, Degraded and specific ones such as TopicsReady, JobRunning.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    active_model: str | None = Field(default=None, description="Name of the FraudModel the running job uses.")
    shadow_model: str | None = Field(
        default=None, description="Name of the FraudModel scored in shadow mode."
    )
    job_state: str | None = Field(
        default=None, description="Job state reported by the Flink operator (jobStatus.state), e.g. RUNNING."
    )
    lifecycle_state: str | None = Field(
        default=None, description="Lifecycle state of the FlinkDeployment, e.g. STABLE, DEPLOYED, FAILED."
    )
    parallelism: int | None = Field(
        default=None, description="Parallelism of the running job (scale subresource)."
    )
    selector: str | None = Field(default=None, description="Label selector of the pipeline's Flink pods.")
    config_hash: str | None = Field(
        default=None, description="Hash of the detector configuration last applied."
    )
    flink_deployment: str | None = Field(default=None, description="Name of the FlinkDeployment.")
    alert_threshold: float | None = Field(
        default=None,
        description="Score the job alerts at: spec.detector.alertThreshold, or the active model's threshold "
        "for spec.detector.alertBudget (live control messages can still change it).",
    )
    topics: list[str] = Field(default_factory=list, description="Names of the pipeline's Kafka topics.")
    model_history: list[ModelRoll] = Field(
        default_factory=list, description="Most recent model rolls, newest last."
    )
    schema_version: int | None = Field(
        default=None, description="Version of the database schema migrations applied."
    )
    shadow: ShadowSummary | None = Field(
        default=None, description="Summary of the comparison of the shadow model with the active model."
    )


class FraudPipeline(ApiModel):
    """A whole FraudPipeline object as read from YAML or the API server."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    api_version: Literal["streamflow.io/v1alpha1"] = Field(default=API_VERSION, description="API version.")
    kind: Literal["FraudPipeline"] = Field(default="FraudPipeline", description="Kind.")
    metadata: ObjectMeta = Field(description="Object metadata.")
    spec: FraudPipelineSpec = Field(description="Desired state.")
    status: FraudPipelineStatus | None = Field(default=None, description="Observed state.")

    @model_validator(mode="after")
    def _check_name(self) -> FraudPipeline:
        name = self.metadata.name
        if len(name) > MAX_PIPELINE_NAME or not _DNS1035.match(name):
            raise ValueError(
                f"metadata.name: {name!r} must be a DNS-1035 label of at most {MAX_PIPELINE_NAME} characters "
                "(lowercase letters, digits and '-', starting with a letter)"
            )
        return self

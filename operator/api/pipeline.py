"""The FraudPipeline API (streamflow.io/v1alpha1): what a platform engineer declares for one fraud pipeline.

Every cross-field rule exists twice on purpose: as a CEL rule that the API server enforces on ``kubectl
apply`` and as a pydantic validator so that ``streamflow render`` and the operator refuse the same input
offline.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, get_args

from fraud_operator.api.common import (
    API_VERSION,
    DNS1035_LABEL,
    ApiModel,
    Condition,
    K8sName,
    LocalObjectReference,
    ObjectMeta,
    StatusModel,
    cel,
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
    "NetworkPolicySpec",
    "Resources",
    "RuleBase",
    "TaskManagerSpec",
    "TerminalRiskRule",
    "TopicDefaults",
    "TopicOverride",
    "TopicRole",
    "UnusualHourRule",
    "VelocityRule",
]

# The Flink Kubernetes Operator 1.15 CRD accepts exactly these values for spec.flinkVersion.
FlinkVersion = Literal[
    "v1_13", "v1_14", "v1_15", "v1_16", "v1_17", "v1_18", "v1_19", "v1_20", "v2_0", "v2_1", "v2_2"
]
FLINK_VERSIONS: tuple[str, ...] = get_args(FlinkVersion)

TopicRole = Literal["transactions", "alerts", "dlq", "labels", "control"]
TOPIC_ROLES: tuple[str, ...] = get_args(TopicRole)

_DNS1035 = re.compile(DNS1035_LABEL)

# Child names such as "<name>-rest" (a Service, DNS-1035, 63 chars) and label values must stay valid.
MAX_PIPELINE_NAME = 45

# Flink settings the operator derives from the spec; extraConfiguration may not override them.
MANAGED_FLINK_KEYS: tuple[str, ...] = (
    "execution.checkpointing.mode",
    "execution.checkpointing.interval",
    "execution.checkpointing.dir",
    "execution.checkpointing.savepoint-dir",
    "state.backend.type",
    "high-availability.type",
    "high-availability.storageDir",
    "taskmanager.numberOfTaskSlots",
    "metrics.reporter.prom.factory.class",
    "metrics.reporter.prom.port",
    "pipeline.max-parallelism",
)

HostPortList = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(,[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5})*$", max_length=1024
    ),
]
FlinkMemory = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(k|kb|m|mb|g|gb)$", max_length=32)]
StorageUri = Annotated[
    str, StringConstraints(pattern=r"^(file|s3|s3a|s3p|gs|abfss|wasbs|hdfs|oss)://\S+$", max_length=512)
]
Weight = Annotated[float, Field(ge=0.0, le=1.0)]


def _check_retention(value: int | None) -> int | None:
    if value is not None and value != -1 and value < 60000:
        raise ValueError("retentionMs must be -1 or at least 60000 (1m)")
    return value


class KafkaCredentialsRef(ApiModel):
    """Secret holding the SASL credentials the detector uses for Kafka; only referenced, never copied."""

    name: K8sName = Field(description="Name of the Secret in the pipeline's namespace.")
    username_key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="username", description="Key in the Secret that holds the SASL user name."
    )
    password_key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="password", description="Key in the Secret that holds the SASL password."
    )


class TopicDefaults(ApiModel):
    """Settings applied to every topic of the pipeline unless overridden per role."""

    partitions: int = Field(
        default=3,
        ge=1,
        le=10000,
        description="Partitions per topic. Can be increased later, never decreased.",
        json_schema_extra=cel(("self >= oldSelf", "partitions can only be increased, never decreased")),
    )
    replicas: int | None = Field(
        default=None,
        ge=1,
        le=32767,
        description="Replication factor per topic; the broker's default.replication.factor when unset.",
    )
    retention_ms: Annotated[int, AfterValidator(_check_retention)] = Field(
        default=604_800_000,
        ge=-1,
        description="retention.ms of each topic in milliseconds; -1 keeps records forever. Default 7 days.",
        json_schema_extra=cel(
            ("self == -1 || self >= 60000", "retentionMs must be -1 or at least 60000 (1m)")
        ),
    )


class TopicOverride(ApiModel):
    """Per-role deviation from the topic defaults; the role is the key, so a role cannot appear twice."""

    role: TopicRole = Field(description="Which of the pipeline's topics this override applies to.")
    partitions: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="Partitions of this topic. Can be increased later, never decreased.",
    )
    replicas: int | None = Field(
        default=None, ge=1, le=32767, description="Replication factor of this topic."
    )
    retention_ms: Annotated[int | None, AfterValidator(_check_retention)] = Field(
        default=None,
        ge=-1,
        description="retention.ms of this topic in milliseconds; -1 keeps records forever.",
        json_schema_extra=cel(
            ("self == -1 || self >= 60000", "retentionMs must be -1 or at least 60000 (1m)")
        ),
    )


class KafkaSpec(ApiModel):
    """Where the pipeline's Kafka topics live and how the detector connects to them."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "has(self.bootstrapServers) || has(self.strimziCluster)",
                "set bootstrapServers, strimziCluster, or both",
            ),
            (
                "!self.securityProtocol.startsWith('SASL') || has(self.credentialsSecretRef)",
                "SASL security protocols need credentialsSecretRef",
                ".credentialsSecretRef",
            ),
        )
    }

    bootstrap_servers: HostPortList | None = Field(
        default=None,
        description=(
            "Comma-separated host:port list of the Kafka bootstrap servers. When only strimziCluster is set, "
            "the Strimzi bootstrap service <cluster>-kafka-bootstrap:9092 in the pipeline's namespace "
            "is used."
        ),
    )
    strimzi_cluster: Annotated[str, StringConstraints(pattern=DNS1035_LABEL, max_length=63)] | None = Field(
        default=None,
        description=(
            "Name of a Strimzi Kafka cluster in the pipeline's namespace. When set, topics are managed as "
            "KafkaTopic objects (kafka.strimzi.io/v1); otherwise directly through the Kafka admin API."
        ),
    )
    topic_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$", max_length=200)] | None = (
        Field(
            default=None,
            description="Prefix of the topic names <prefix>.<role>; defaults to the pipeline's name.",
        )
    )
    topics: TopicDefaults = Field(
        default_factory=TopicDefaults, description="Partitions, replication and retention of every topic."
    )
    topic_overrides: list[TopicOverride] = Field(
        default_factory=list,
        max_length=5,
        description="Per-role overrides of the topic defaults, at most one per role.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["role"]},
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security.protocol used by the detector."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism used with the SASL security protocols."
    )
    credentials_secret_ref: KafkaCredentialsRef | None = Field(
        default=None,
        description="Secret with the Kafka credentials, passed to the job as environment variables only.",
    )

    @model_validator(mode="after")
    def _check(self) -> KafkaSpec:
        if self.bootstrap_servers is None and self.strimzi_cluster is None:
            raise ValueError("set bootstrapServers, strimziCluster, or both")
        if self.security_protocol.startswith("SASL") and self.credentials_secret_ref is None:
            raise ValueError("credentialsSecretRef: SASL security protocols need credentialsSecretRef")
        roles = [o.role for o in self.topic_overrides]
        duplicates = sorted({r for r in roles if roles.count(r) > 1})
        if duplicates:
            raise ValueError(f"topicOverrides: role {', '.join(duplicates)} appears more than once")
        return self


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


class RuleBase(ApiModel):
    """Fields every rule has; the detector adds a hit's weight to the rule score."""

    enabled: bool = Field(default=True, description="Whether the rule runs.")
    weight: Weight = Field(description="Contribution of a hit to the rule score, in [0, 1].")


class HighValueRule(RuleBase):
    """FR-001: the amount is far above the customer's own history (z-score against running mean and std)."""

    weight: Weight = Field(default=0.6, description="Weight of a hit in the rule score.")
    min_history: int = Field(
        default=5,
        ge=2,
        le=10000,
        description="Past transactions of the customer needed to fire.",
    )
    z_threshold: float = Field(
        default=4.0, gt=0.0, le=1000.0, description="Standard deviations above the customer's mean amount."
    )
    min_std_ratio: float = Field(
        default=0.25,
        ge=0.0,
        le=10.0,
        description="Floor of the std as a fraction of the mean (steady spenders are not flagged for cents).",
    )
    min_amount: float = Field(default=0.0, ge=0.0, description="Amounts below this never fire the rule.")


class VelocityRule(RuleBase):
    """FR-002: more than maxCount transactions of one customer within windowSeconds."""

    weight: Weight = Field(default=0.6, description="Weight of a hit in the rule score.")
    max_count: int = Field(
        default=5,
        ge=1,
        le=31,
        description="Transactions allowed within the window (at most 31: the state keeps 32 timestamps).",
    )
    window_seconds: float = Field(
        default=600.0, gt=0.0, le=604800.0, description="Length of the sliding window in seconds."
    )


class ImpossibleTravelRule(RuleBase):
    """FR-003: consecutive geo-located transactions too far apart for the time between them."""

    weight: Weight = Field(default=0.8, description="Weight of a hit in the rule score.")
    max_speed_kmh: float = Field(
        default=900.0, gt=0.0, le=100000.0, description="Travel speed in km/h above which the rule fires."
    )
    min_distance_km: float = Field(
        default=100.0, ge=0.0, description="Shorter distances never fire (GPS noise, neighbouring terminals)."
    )


class UnusualHourRule(RuleBase):
    """FR-004: the customer rarely pays at this hour of day (UTC)."""

    weight: Weight = Field(default=0.55, description="Weight of a hit in the rule score.")
    min_history: int = Field(
        default=30,
        ge=1,
        le=100000,
        description="Past transactions of the customer needed to fire.",
    )
    max_share: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Fire when the share of past transactions within two hours of this hour is below this.",
    )


class BlocklistRule(RuleBase):
    """FR-005: customers or terminals on a blocklist (control messages add and remove entries at run time)."""

    weight: Weight = Field(default=1.0, description="Weight of a hit in the rule score.")
    customers: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list,
        max_length=1000,
        description="Customer ids blocked from the start.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    terminals: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list,
        max_length=1000,
        description="Terminal ids blocked from the start.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class MlAnomalyRule(RuleBase):
    """FR-006: the model scores the transaction as anomalous (a rule hit with a reason, besides alpha)."""

    weight: Weight = Field(default=0.6, description="Weight of a hit in the rule score.")
    threshold: float = Field(default=0.8, ge=0.0, le=1.0, description="Model score that fires it.")


class TerminalRiskRule(RuleBase):
    """FR-007: frauds at the terminal were confirmed recently (labels count only once delivered)."""

    weight: Weight = Field(default=0.3, description="Weight of a hit in the rule score.")
    min_frauds: int = Field(default=1, ge=1, le=8, description="Confirmed frauds in the window that fire.")
    window_seconds: float = Field(
        default=2419200.0,
        gt=0.0,
        le=31536000.0,
        description="Window of confirmed frauds (s).",
    )


class DetectorRules(ApiModel):
    """Thresholds and weights of the rules FR-001 to FR-007 (the detector's documented defaults)."""

    high_value: HighValueRule = Field(default_factory=HighValueRule, description="FR-001 high value.")
    velocity: VelocityRule = Field(default_factory=VelocityRule, description="FR-002 velocity.")
    impossible_travel: ImpossibleTravelRule = Field(
        default_factory=ImpossibleTravelRule, description="FR-003 impossible travel."
    )
    unusual_hour: UnusualHourRule = Field(default_factory=UnusualHourRule, description="FR-004 unusual hour.")
    blocklist: BlocklistRule = Field(default_factory=BlocklistRule, description="FR-005 blocklist.")
    ml_anomaly: MlAnomalyRule = Field(default_factory=MlAnomalyRule, description="FR-006 ML anomaly.")
    terminal_risk: TerminalRiskRule = Field(
        default_factory=TerminalRiskRule, description="FR-007 terminal risk (labels)."
    )


class DetectorSpec(ApiModel):
    """How the detector job scores transactions and how wide it runs."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.parallelism <= self.maxParallelism",
                "parallelism must not exceed maxParallelism (keyed state cannot be rescaled beyond it)",
                ".parallelism",
            ),
        )
    }

    parallelism: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="Parallelism of the Flink job; `kubectl scale fp/<name> --replicas=N` sets this field.",
    )
    max_parallelism: int = Field(
        default=128,
        ge=1,
        le=32768,
        description="Flink max parallelism (key groups); the upper bound for later rescaling with state.",
    )
    alpha: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Share of the ML score: score = (1 - alpha) * ruleScore + alpha * modelScore.",
    )
    alert_threshold: float = Field(
        default=0.4, ge=0.0, le=1.0, description="Combined score at or above which an alert is raised."
    )
    state_ttl_seconds: int = Field(
        default=7776000,
        ge=3600,
        description="Keyed state of a key inactive this long is dropped.",
    )
    label_delay_seconds: int = Field(
        default=604800,
        ge=0,
        description="How long after a transaction its label becomes known.",
    )
    rules: DetectorRules = Field(default_factory=DetectorRules, description="Rule thresholds and weights.")

    @model_validator(mode="after")
    def _check(self) -> DetectorSpec:
        if self.parallelism > self.max_parallelism:
            raise ValueError(
                f"parallelism: {self.parallelism} exceeds maxParallelism {self.max_parallelism} "
                "(keyed state cannot be rescaled beyond it)"
            )
        return self


class ModelPolicy(ApiModel):
    """Gates a FraudModel must pass before the pipeline uses it, and how a model roll behaves."""

    min_auc: float | None = Field(default=None, ge=0.0, le=1.0, description="Minimum AUC-ROC of the model.")
    min_average_precision: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Minimum average precision of the model."
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


class Resources(ApiModel):
    """CPU and memory of one Flink process (the Flink operator's resource block)."""

    cpu: float = Field(default=1.0, ge=0.1, le=64.0, description="CPU cores.")
    memory: FlinkMemory = Field(
        default="2048m", description="Total process memory in Flink syntax, e.g. 2048m or 2g."
    )


class JobManagerSpec(ApiModel):
    """The Flink JobManager."""

    resources: Resources = Field(default_factory=Resources, description="CPU and memory of the JobManager.")
    replicas: int = Field(
        default=1, ge=1, le=3, description="JobManager replicas; more than 1 needs highAvailability."
    )


class TaskManagerSpec(ApiModel):
    """The Flink TaskManagers."""

    resources: Resources = Field(default_factory=Resources, description="CPU and memory of each TaskManager.")
    task_slots: int = Field(
        default=1, ge=1, le=64, description="Task slots per TaskManager (taskmanager.numberOfTaskSlots)."
    )


class FlinkSpec(ApiModel):
    """The Flink deployment that runs the detector (rendered as a FlinkDeployment of the Flink operator)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.upgradeMode != 'last-state' || self.highAvailability",
                "upgradeMode last-state needs highAvailability: true",
                ".upgradeMode",
            ),
            (
                "!self.storageUri.startsWith('file:') || self.storageUri.startsWith('file:///flink-data')",
                "file:// storageUri must be under file:///flink-data (the writable state volume)",
                ".storageUri",
            ),
            (
                "self.jobManager.replicas == 1 || self.highAvailability",
                "more than one JobManager replica needs highAvailability: true",
                ".jobManager.replicas",
            ),
            (
                repr(list(MANAGED_FLINK_KEYS)) + ".all(k, !(k in self.extraConfiguration))",
                "extraConfiguration must not set keys the operator manages: " + ", ".join(MANAGED_FLINK_KEYS),
                ".extraConfiguration",
            ),
        )
    }

    image: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")] = Field(
        description="Container image with Flink, PyFlink and the fraud_jobs package."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Pull policy of the image."
    )
    flink_version: FlinkVersion = Field(
        default="v2_2", description="Flink version of the image, as the Flink operator names it."
    )
    service_account: K8sName = Field(
        default="flink",
        description="Service account of the Flink pods (needs rights on pods and configmaps).",
    )
    python_jar_uri: Annotated[
        str, StringConstraints(pattern=r"^(local|file|https?)://\S+\.jar$", max_length=512)
    ] = Field(
        default="local:///opt/flink/opt/flink-python-2.2.1.jar",
        description="flink-python jar of the image that provides the PythonDriver entry class.",
    )
    job_manager: JobManagerSpec = Field(default_factory=JobManagerSpec, description="The JobManager.")
    task_manager: TaskManagerSpec = Field(default_factory=TaskManagerSpec, description="The TaskManagers.")
    checkpoint_interval_seconds: int = Field(
        default=60, ge=1, le=86400, description="Interval of the exactly-once checkpoints in seconds."
    )
    state_backend: Literal["rocksdb", "hashmap"] = Field(
        default="rocksdb", description="Flink state backend (state.backend.type)."
    )
    upgrade_mode: Literal["savepoint", "last-state", "stateless"] = Field(
        default="savepoint", description="How the Flink operator upgrades the job; savepoint keeps all state."
    )
    storage_uri: StorageUri = Field(
        default="file:///flink-data",
        description="Base URI for checkpoints, savepoints and HA metadata (one subdirectory per pipeline).",
    )
    state_volume_claim: K8sName | None = Field(
        default=None,
        description="PersistentVolumeClaim mounted at /flink-data so file:// state survives pod restarts.",
    )
    model_volume_claim: K8sName | None = Field(
        default=None,
        description="PersistentVolumeClaim with model artifacts, read-only at /opt/streamflow/models.",
    )
    high_availability: bool = Field(
        default=False, description="Kubernetes HA for the JobManager; required for last-state upgrades."
    )
    extra_configuration: dict[str, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict,
        max_length=64,
        description="Additional flinkConfiguration entries; keys the operator manages are refused.",
    )

    @model_validator(mode="after")
    def _check(self) -> FlinkSpec:
        if self.upgrade_mode == "last-state" and not self.high_availability:
            raise ValueError("upgradeMode: last-state needs highAvailability: true")
        if self.storage_uri.startswith("file:") and not self.storage_uri.startswith("file:///flink-data"):
            raise ValueError(
                "storageUri: file:// storage must be under file:///flink-data (the writable state volume)"
            )
        if self.job_manager.replicas > 1 and not self.high_availability:
            raise ValueError(
                "jobManager.replicas: more than one JobManager replica needs highAvailability: true"
            )
        managed = sorted(set(self.extra_configuration) & set(MANAGED_FLINK_KEYS))
        if managed:
            raise ValueError(f"extraConfiguration: keys managed by the operator: {', '.join(managed)}")
        return self


class NetworkPolicySpec(ApiModel):
    """Default-deny NetworkPolicies for the pipeline's pods with the minimal allows the job needs."""

    enabled: bool = Field(default=True, description="Render the NetworkPolicies.")
    prometheus_namespace: K8sName = Field(
        default="monitoring", description="Namespace of Prometheus, allowed to scrape the metrics port."
    )
    prometheus_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "prometheus"},
        max_length=8,
        description="Labels of the Prometheus pods allowed to scrape the metrics port.",
    )
    flink_operator_namespace: K8sName = Field(
        default="flink-operator",
        description="Namespace of the Flink Kubernetes Operator, allowed to reach the JobManager REST port.",
    )
    egress_cidrs: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        max_length=16,
        description="CIDRs reachable on TCP 443/6443 (Kubernetes API, object storage, artifacts).",
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
        default_factory=NetworkPolicySpec, description="NetworkPolicies for the pipeline's pods."
    )
    disruption_budget: DisruptionBudgetSpec = Field(
        default_factory=DisruptionBudgetSpec, description="PodDisruptionBudgets for the Flink pods."
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
    topics: list[str] = Field(default_factory=list, description="Names of the pipeline's Kafka topics.")
    model_history: list[ModelRoll] = Field(
        default_factory=list, description="Most recent model rolls, newest last."
    )
    schema_version: int | None = Field(
        default=None, description="Version of the database schema migrations applied."
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

"""Flink part of the FraudPipeline API: the FlinkDeployment that runs the detector."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from fraud_operator.api.common import ApiModel, K8sName, cel
from pydantic import Field, StringConstraints, model_validator

__all__ = [
    "FLINK_VERSIONS",
    "MANAGED_FLINK_KEYS",
    "FlinkSpec",
    "FlinkVersion",
    "JobManagerSpec",
    "Resources",
    "TaskManagerSpec",
]

# The Flink Kubernetes Operator 1.15 CRD accepts exactly these values for spec.flinkVersion.
FlinkVersion = Literal[
    "v1_13", "v1_14", "v1_15", "v1_16", "v1_17", "v1_18", "v1_19", "v1_20", "v2_0", "v2_1", "v2_2"
]
FLINK_VERSIONS: tuple[str, ...] = get_args(FlinkVersion)

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

FlinkMemory = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(k|kb|m|mb|g|gb)$", max_length=32)]
StorageUri = Annotated[
    str, StringConstraints(pattern=r"^(file|s3|s3a|s3p|gs|abfss|wasbs|hdfs|oss)://\S+$", max_length=512)
]


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

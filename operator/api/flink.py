"""Flink part of the FraudPipeline API: the FlinkDeployment that runs the detector."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from fraud_operator.api.common import ApiModel, K8sName, LocalObjectReference, cel
from fraud_operator.api.storage import OBJECT_STORE_SCHEMES, STORAGE_URI_PATTERN
from pydantic import Field, StringConstraints, model_validator

__all__ = [
    "CREDENTIAL_KEY_PREFIXES",
    "CREDENTIAL_KEY_SUFFIXES",
    "FLINK_VERSIONS",
    "MANAGED_FLINK_KEYS",
    "FlinkSpec",
    "FlinkVersion",
    "JobManagerSpec",
    "Resources",
    "StorageCredentials",
    "TaskManagerSpec",
]

# What both the Flink Kubernetes Operator 1.15 (v1_13..v2_2, but it ignores v1_13/v1_14) and our job image
# (Flink 2.2.1, tests/shipping/test_dockerfile.py) support: the image's own minor only.
FlinkVersion = Literal["v2_2"]
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

# Credentials come only from Secrets or workload identity, never through the Flink configuration (stored in a
# ConfigMap by the Flink operator and readable in the FlinkDeployment).
CREDENTIAL_KEY_SUFFIXES: tuple[str, ...] = (
    "access-key",
    "secret-key",
    "access.key",
    "secret.key",
    "private.key",
    "client.secret",
    "sas.token",
)
CREDENTIAL_KEY_PREFIXES: tuple[str, ...] = ("fs.azure.account.key.",)

FlinkMemory = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(k|kb|m|mb|g|gb)$", max_length=32)]
StorageUri = Annotated[str, StringConstraints(pattern=STORAGE_URI_PATTERN, max_length=512)]
AnnotationKey = Annotated[str, StringConstraints(max_length=253)]

# CEL: state survives a pod replacement on an object store or on the named claim.
_OBJECT_STORE_CEL = " || ".join(f"self.storageUri.startsWith('{s}://')" for s in OBJECT_STORE_SCHEMES)
_DURABLE_CEL = f"({_OBJECT_STORE_CEL} || has(self.stateVolumeClaim))"
_DURABLE_HINT = (
    "durable storage (stateVolumeClaim for file://, or an object store: "
    + ", ".join(f"{s}://" for s in OBJECT_STORE_SCHEMES)
    + ")"
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


class StorageCredentials(ApiModel):
    """How the Flink pods authenticate to the object store; never written into the Flink configuration."""

    secret_ref: LocalObjectReference | None = Field(
        default=None,
        description=(
            "Secret with the object store's credentials: keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(s3), AZURE_STORAGE_KEY (wasb, wasbs) become environment variables; credentials.json (gs) is "
            "mounted read-only as GOOGLE_APPLICATION_CREDENTIALS. Not for abfs: use workload identity."
        ),
    )
    service_account_annotations: dict[AnnotationKey, Annotated[str, StringConstraints(max_length=1024)]] = (
        Field(
            default_factory=dict,
            max_length=16,
            description=(
                "Annotations of the rendered ServiceAccount for workload identity, e.g. eks.amazonaws.com/"
                "role-arn, iam.gke.io/gcp-service-account, azure.workload.identity/client-id."
            ),
        )
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
                f"self.upgradeMode == 'stateless' || self.allowStateLoss || {_DURABLE_CEL}",
                f"upgradeMode savepoint and last-state need {_DURABLE_HINT}; "
                "allowStateLoss: true accepts losing state (development only)",
                ".upgradeMode",
            ),
            (
                f"!self.highAvailability || {_DURABLE_CEL}",
                f"highAvailability needs {_DURABLE_HINT} for high-availability.storageDir; "
                "set highAvailability: false with allowStateLoss",
                ".highAvailability",
            ),
            (
                "!has(self.stateVolumeClaim) || self.storageUri.startsWith('file:')",
                "stateVolumeClaim holds file:// state only; an object store needs no claim",
                ".stateVolumeClaim",
            ),
            (
                "!has(self.storageCredentials) || !has(self.storageCredentials.secretRef) "
                "|| !self.storageUri.startsWith('file:')",
                "storageCredentials.secretRef is for object stores; file:// state needs none",
                ".storageCredentials.secretRef",
            ),
            (
                "!has(self.storageCredentials) || !has(self.storageCredentials.secretRef) "
                "|| !self.storageUri.startsWith('abfs')",
                "storageCredentials.secretRef is not supported for abfs:// (Flink reads its account key only "
                "from the Flink configuration): use workload identity (serviceAccountAnnotations)",
                ".storageCredentials.secretRef",
            ),
            (
                "!has(self.serviceAccount) || !has(self.storageCredentials) "
                "|| !has(self.storageCredentials.serviceAccountAnnotations) "
                "|| size(self.storageCredentials.serviceAccountAnnotations) == 0",
                "storageCredentials.serviceAccountAnnotations go on the ServiceAccount the operator "
                "renders; annotate your own serviceAccount yourself",
                ".storageCredentials.serviceAccountAnnotations",
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
            (
                "self.extraConfiguration.all(k, "
                + " && ".join(
                    [f"!k.endsWith('{x}')" for x in CREDENTIAL_KEY_SUFFIXES]
                    + [f"!k.startsWith('{x}')" for x in CREDENTIAL_KEY_PREFIXES]
                )
                + ")",
                "extraConfiguration must not carry credentials: use storageCredentials (a Secret) or "
                "workload identity",
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
    service_account: K8sName | None = Field(
        default=None,
        description=(
            "Existing service account of the Flink pods (it needs the JobManager's rights on pods and "
            "configmaps). Unset: the operator renders <name>-flink with a least-privilege Role."
        ),
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
    changelog: bool = Field(
        default=False,
        description=(
            "Flink's changelog state backend: a checkpoint uploads the state changes since the previous "
            "one (to <storageUri>/.../changelog) and full snapshots are materialized in the background, so "
            "checkpoints and exactly-once alerts finish sooner. Restores then run in CLAIM mode (Flink "
            "requires it): the savepoint an upgrade starts from belongs to the job, which deletes it once "
            "later checkpoints subsume it. Sets state.changelog.* and the claim mode, over "
            "extraConfiguration's."
        ),
    )
    upgrade_mode: Literal["savepoint", "last-state", "stateless"] = Field(
        default="savepoint", description="How the Flink operator upgrades the job; savepoint keeps all state."
    )
    storage_uri: StorageUri = Field(
        default="file:///flink-data",
        description=(
            "Base URI for checkpoints, savepoints and HA metadata (one subdirectory per pipeline): file:// "
            "under /flink-data on stateVolumeClaim, or an object store whose plugin the job image carries."
        ),
    )
    state_volume_claim: K8sName | None = Field(
        default=None,
        description=(
            "Existing PersistentVolumeClaim (ReadWriteMany: every Flink pod mounts it) at /flink-data, so "
            "file:// state survives pod replacement. Not owned by the pipeline: savepoints outlive it."
        ),
    )
    storage_credentials: StorageCredentials | None = Field(
        default=None, description="Credentials of the object store, only from Secrets or workload identity."
    )
    allow_state_loss: bool = Field(
        default=False,
        description=(
            "Development only: accept savepoint/last-state upgrades on non-durable storage (an emptyDir "
            "per pod), where a replaced JobManager pod loses every checkpoint and savepoint."
        ),
    )
    model_volume_claim: K8sName | None = Field(
        default=None,
        description="PersistentVolumeClaim with model artifacts, read-only at /opt/streamflow/models.",
    )
    high_availability: bool = Field(
        default=True,
        description=(
            "Kubernetes HA for the JobManager (ConfigMaps plus high-availability.storageDir on the durable "
            "storage); required for last-state upgrades."
        ),
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
        self._check_storage()
        managed = sorted(set(self.extra_configuration) & set(MANAGED_FLINK_KEYS))
        if managed:
            raise ValueError(f"extraConfiguration: keys managed by the operator: {', '.join(managed)}")
        secrets = sorted(
            k
            for k in self.extra_configuration
            if k.endswith(CREDENTIAL_KEY_SUFFIXES) or k.startswith(CREDENTIAL_KEY_PREFIXES)
        )
        if secrets:
            raise ValueError(
                f"extraConfiguration: must not carry credentials ({', '.join(secrets)}): use "
                "storageCredentials (a Secret) or workload identity"
            )
        return self

    @property
    def durable(self) -> bool:
        """Whether state survives a pod replacement: an object store, or file:// on a named claim."""
        return not self.storage_uri.startswith("file:") or self.state_volume_claim is not None

    def _check_storage(self) -> None:
        if self.upgrade_mode != "stateless" and not self.allow_state_loss and not self.durable:
            raise ValueError(
                f"upgradeMode: {self.upgrade_mode} needs {_DURABLE_HINT}; "
                "allowStateLoss: true accepts losing state (development only)"
            )
        if self.high_availability and not self.durable:
            raise ValueError(
                f"highAvailability needs {_DURABLE_HINT} for high-availability.storageDir; "
                "set highAvailability: false with allowStateLoss"
            )
        if self.state_volume_claim is not None and not self.storage_uri.startswith("file:"):
            raise ValueError("stateVolumeClaim: holds file:// state only; an object store needs no claim")
        credentials = self.storage_credentials
        if credentials is not None and credentials.secret_ref is not None:
            if self.storage_uri.startswith("file:"):
                raise ValueError(
                    "storageCredentials.secretRef: is for object stores; file:// state needs none"
                )
            if self.storage_uri.startswith("abfs"):
                raise ValueError(
                    "storageCredentials.secretRef: not supported for abfs:// (Flink reads its account key "
                    "only from the Flink configuration): use workload identity (serviceAccountAnnotations)"
                )
        if credentials is not None and credentials.service_account_annotations and self.service_account:
            raise ValueError(
                "storageCredentials.serviceAccountAnnotations: go on the ServiceAccount the operator "
                "renders; annotate your own serviceAccount yourself"
            )

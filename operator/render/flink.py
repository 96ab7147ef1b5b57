"""The FlinkDeployment (flink.apache.org/v1beta1) that runs the detector with the PythonDriver.

The pod template is built to pass Pod Security ``restricted``: non-root, no privilege escalation, all
capabilities dropped, RuntimeDefault seccomp and a read-only root filesystem with emptyDir volumes for the
directories Flink and Python write to. Credentials arrive only as ``secretKeyRef`` environment variables or
a read-only Secret volume (GCS's key file), never in the Flink configuration. State lives on the claim
named by spec.flink.stateVolumeClaim or on an object store (docs/state.md).
"""

from __future__ import annotations

from typing import Any

from fraud_jobs.flink.settings import CHANGELOG_PATH
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.storage import STATE_MOUNT, plugin_for
from fraud_operator.render.config import (
    ENV_DB_PASSWORD,
    ENV_DB_USER,
    ENV_KAFKA_PASSWORD,
    ENV_KAFKA_USERNAME,
    config_hash,
    detector_config,
)
from fraud_operator.render.naming import (
    CONFIG_FILE,
    CONFIG_HASH_ANNOTATION,
    CONFIG_MOUNT,
    FLINK_CONTAINER,
    FLINK_UID,
    METRICS_PORT,
    METRICS_PORT_NAME,
    common_labels,
    configmap_name,
    flinkdeployment_name,
    pod_selector,
)
from fraud_operator.render.rbac import flink_service_account

__all__ = [
    "DETECTOR_MODULE",
    "MODEL_CACHE_MOUNT",
    "MODEL_MOUNT",
    "PYTHON_DRIVER",
    "ROCKSDB_DEFAULTS",
    "STATE_MOUNT",
    "STORAGE_SECRET_MOUNT",
    "flink_configuration",
    "render_flinkdeployment",
    "render_pod_template",
]

PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"
ROCKSDB_DEFAULTS = {
    "execution.checkpointing.incremental": "true",
    "state.backend.rocksdb.use-bloom-filter": "true",
    "state.backend.rocksdb.compression.per.level": "LZ4_COMPRESSION",
}
"""Flink options the operator sets, unless extraConfiguration does, for RocksDB state: checkpoints upload
only new files; each SST file has a bloom filter, because the detector looks up one key per event and most
customers' keys are not in the memtable (each customer pays now and then), so without a filter a lookup
searches every level-0 file; and LZ4 instead of Snappy, because every checkpoint flushes the memtables and
the compactions that follow rewrite the state over and over: on a stream of many customers LZ4 sustained
12-21% more events per second (docs/performance.md, steps 6 and 7)."""
DETECTOR_MODULE = "fraud_jobs.detector"
STORAGE_SECRET_MOUNT = "/var/run/secrets/streamflow/storage"
MODEL_MOUNT = "/opt/streamflow/models"
MODEL_CACHE_MOUNT = "/opt/streamflow/model-cache"
"""Where the job caches https:// artifacts (the image's STREAMFLOW_MODEL_CACHE): an emptyDir, because the
root filesystem is read-only and the model claim is mounted read-only; it outlives container restarts."""
_PROMETHEUS_REPORTER = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
_AZURE_KEY_PROVIDER = "org.apache.flink.fs.azurefs.EnvironmentVariableKeyProvider"
_AZURE_WORKLOAD_IDENTITY = "azure.workload.identity/client-id"
_WRITABLE_DIRS = {"tmp": "/tmp", "flink-log": "/opt/flink/log", "model-cache": MODEL_CACHE_MOUNT}


def _storage_base(pipeline: FraudPipeline) -> str:
    base = pipeline.spec.flink.storage_uri.rstrip("/")
    return f"{base}/{pipeline.metadata.namespace}/{pipeline.metadata.name}"


def flink_configuration(pipeline: FraudPipeline) -> dict[str, str]:
    """flinkConfiguration: exactly-once checkpoints, state backend, storage paths, metrics, HA, slots."""
    flink = pipeline.spec.flink
    base = _storage_base(pipeline)
    conf: dict[str, str] = dict(flink.extra_configuration)
    conf.update(
        {
            "taskmanager.numberOfTaskSlots": str(flink.task_manager.task_slots),
            "pipeline.max-parallelism": str(pipeline.spec.detector.max_parallelism),
            "execution.checkpointing.mode": "EXACTLY_ONCE",
            "execution.checkpointing.interval": f"{flink.checkpoint_interval_seconds}s",
            "execution.checkpointing.dir": f"{base}/checkpoints",
            "execution.checkpointing.savepoint-dir": f"{base}/savepoints",
            "state.backend.type": flink.state_backend,
            "metrics.reporter.prom.factory.class": _PROMETHEUS_REPORTER,
            "metrics.reporter.prom.port": str(METRICS_PORT),
        }
    )
    conf.setdefault("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    conf.setdefault("io.tmp.dirs", "/tmp")
    conf.setdefault("restart-strategy.type", "exponential-delay")
    if flink.state_backend == "rocksdb":
        for key, value in ROCKSDB_DEFAULTS.items():
            conf.setdefault(key, value)
    if flink.changelog:
        conf["state.changelog.enabled"] = "true"
        conf["state.changelog.storage"] = "filesystem"
        conf[CHANGELOG_PATH] = f"{base}/changelog"
        # A restore in NO_CLAIM mode (Flink's default) demands a full first checkpoint, which the changelog
        # backend cannot take: every checkpoint would fail. CLAIM hands the restored snapshot to the job.
        conf["execution.state-recovery.claim-mode"] = "CLAIM"
    if flink.high_availability:
        conf["high-availability.type"] = "kubernetes"
        conf["high-availability.storageDir"] = f"{base}/ha"
    conf.update(_credential_configuration(pipeline))
    return dict(sorted(conf.items()))


def _uses_storage_secret(pipeline: FraudPipeline) -> bool:
    credentials = pipeline.spec.flink.storage_credentials
    return credentials is not None and credentials.secret_ref is not None


def _credential_configuration(pipeline: FraudPipeline) -> dict[str, str]:
    """Non-secret settings that point Flink at the Secret's credentials (wasb/wasbs: the key provider)."""
    uri = pipeline.spec.flink.storage_uri
    if not _uses_storage_secret(pipeline) or not uri.startswith("wasb"):
        return {}
    # wasbs://<container>@<account>.blob.core.windows.net/<path>: the key provider is set per account host.
    host = uri.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
    return {f"fs.azure.account.keyprovider.{host}": _AZURE_KEY_PROVIDER}


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    spec = pipeline.spec
    env: list[dict[str, Any]] = []
    credentials = spec.kafka.credentials_secret_ref
    if credentials is not None:
        env.append(_secret_env(ENV_KAFKA_USERNAME, credentials.name, credentials.username_key))
        env.append(_secret_env(ENV_KAFKA_PASSWORD, credentials.name, credentials.password_key))
    db_secret = spec.database.credentials_secret_ref
    db_secret_name = db_secret.name if db_secret is not None else f"{spec.database.cnpg_cluster}-app"
    env.append(_secret_env(ENV_DB_USER, db_secret_name, "username"))
    env.append(_secret_env(ENV_DB_PASSWORD, db_secret_name, "password"))
    env.extend(_storage_env(pipeline))
    return env


def _storage_env(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    """The object store's credentials from storageCredentials.secretRef (keys named like the variables)."""
    credentials = pipeline.spec.flink.storage_credentials
    plugin = plugin_for(pipeline.spec.flink.storage_uri)
    if credentials is None or credentials.secret_ref is None or plugin is None:
        return []
    secret = credentials.secret_ref.name
    env = [_secret_env(name, secret, name) for name in plugin.secret_env]
    if plugin.secret_file is not None:
        env.append(
            {
                "name": "GOOGLE_APPLICATION_CREDENTIALS",
                "value": f"{STORAGE_SECRET_MOUNT}/{plugin.secret_file}",
            }
        )
    return env


def _volumes(pipeline: FraudPipeline) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    flink = pipeline.spec.flink
    volumes: list[dict[str, Any]] = [
        {"name": "detector-config", "configMap": {"name": configmap_name(pipeline)}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "detector-config", "mountPath": CONFIG_MOUNT, "readOnly": True},
    ]
    for name, path in _WRITABLE_DIRS.items():
        volumes.append({"name": name, "emptyDir": {}})
        mounts.append({"name": name, "mountPath": path})
    if flink.state_volume_claim is not None:
        volumes.append(
            {"name": "flink-data", "persistentVolumeClaim": {"claimName": flink.state_volume_claim}}
        )
        mounts.append({"name": "flink-data", "mountPath": STATE_MOUNT})
    elif flink.storage_uri.startswith("file:"):
        # Only with allowStateLoss or stateless upgrades (the API refuses the rest): file:// state on an
        # emptyDir survives container restarts, not a replaced pod.
        volumes.append({"name": "flink-data", "emptyDir": {}})
        mounts.append({"name": "flink-data", "mountPath": STATE_MOUNT})
    plugin = plugin_for(flink.storage_uri)
    credentials = flink.storage_credentials
    if plugin is not None and plugin.secret_file is not None and _uses_storage_secret(pipeline):
        assert credentials is not None and credentials.secret_ref is not None
        volumes.append(
            {
                "name": "storage-credentials",
                "secret": {
                    "secretName": credentials.secret_ref.name,
                    "items": [{"key": plugin.secret_file, "path": plugin.secret_file}],
                },
            }
        )
        mounts.append({"name": "storage-credentials", "mountPath": STORAGE_SECRET_MOUNT, "readOnly": True})
    if flink.model_volume_claim is not None:
        volumes.append(
            {
                "name": "models",
                "persistentVolumeClaim": {"claimName": flink.model_volume_claim, "readOnly": True},
            }
        )
        mounts.append({"name": "models", "mountPath": MODEL_MOUNT, "readOnly": True})
    return volumes, mounts


def render_pod_template(pipeline: FraudPipeline, digest: str) -> dict[str, Any]:
    """Pod template shared by JobManager and TaskManagers (the Flink operator merges it into its pods)."""
    volumes, mounts = _volumes(pipeline)
    labels = {**common_labels(pipeline, "detector"), **pod_selector(pipeline)}
    credentials = pipeline.spec.flink.storage_credentials
    if credentials is not None and _AZURE_WORKLOAD_IDENTITY in credentials.service_account_annotations:
        labels["azure.workload.identity/use"] = "true"  # the Azure webhook injects tokens only then
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": labels, "annotations": {CONFIG_HASH_ANNOTATION: digest}},
        "spec": {
            "automountServiceAccountToken": True,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": FLINK_UID,
                "runAsGroup": FLINK_UID,
                "fsGroup": FLINK_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": FLINK_CONTAINER,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": FLINK_UID,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "env": _env(pipeline),
                    "ports": [{"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT, "protocol": "TCP"}],
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
        },
    }


def render_flinkdeployment(
    pipeline: FraudPipeline, model: FraudModel | None, shadow_model: FraudModel | None = None
) -> dict[str, Any]:
    """The FlinkDeployment of the detector; the pod template's config hash rolls the job on change."""
    spec = pipeline.spec
    flink = spec.flink
    digest = config_hash(detector_config(pipeline, model, shadow_model))
    return {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {
            "name": flinkdeployment_name(pipeline),
            "namespace": pipeline.metadata.namespace,
            "labels": common_labels(pipeline, "detector"),
            "annotations": {CONFIG_HASH_ANNOTATION: digest},
        },
        "spec": {
            "image": flink.image,
            "imagePullPolicy": flink.image_pull_policy,
            "flinkVersion": flink.flink_version,
            "mode": "native",
            "serviceAccount": flink_service_account(pipeline),
            "flinkConfiguration": flink_configuration(pipeline),
            "podTemplate": render_pod_template(pipeline, digest),
            "jobManager": {
                "replicas": flink.job_manager.replicas,
                "resource": {
                    "cpu": flink.job_manager.resources.cpu,
                    "memory": flink.job_manager.resources.memory,
                },
            },
            "taskManager": {
                "resource": {
                    "cpu": flink.task_manager.resources.cpu,
                    "memory": flink.task_manager.resources.memory,
                },
            },
            "job": {
                "jarURI": flink.python_jar_uri,
                "entryClass": PYTHON_DRIVER,
                "args": ["-pym", DETECTOR_MODULE, "--config", f"{CONFIG_MOUNT}/{CONFIG_FILE}"],
                "parallelism": spec.detector.parallelism,
                "upgradeMode": flink.upgrade_mode,
                "state": "suspended" if spec.suspend else "running",
            },
        },
    }

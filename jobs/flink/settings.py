"""The detector job's settings: the operator's ``detector.json`` plus optional local Flink knobs.

The file never holds secrets: Kafka and PostgreSQL credentials are read from the environment variables the
file *names* (the FlinkDeployment fills them from Secrets). A ``password``-like key in the file is refused by
``extra="forbid"``, so a secret cannot slip in unnoticed. No pyflink here: the settings are tested and
validated before any JVM starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from fraud_jobs.config import DetectorConfig
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "CHANGELOG_PATH",
    "CheckpointSettings",
    "DatabaseSettings",
    "FlinkSettings",
    "JobSettings",
    "KafkaSettings",
    "ModelSettings",
    "SettingsError",
    "TopicSettings",
    "load_settings",
]


CHANGELOG_PATH = "state.changelog.dstl.dfs.base-path"


class SettingsError(ValueError):
    """The job cannot start with these settings (bad file, missing environment variable)."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class _Lenient(BaseModel):
    """Sections the operator owns and may extend: unknown keys are ignored, known ones validated."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


def _env(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name)
    if not value:
        raise SettingsError(f"{what}: environment variable {name} is not set")
    return value


class KafkaSettings(_Strict):
    bootstrap_servers: str = Field(min_length=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    username_env: str | None = None
    password_env: str | None = None
    consumer_group: str = Field(min_length=1)
    transactional_id_prefix: str = Field(min_length=1)
    alert_delivery: Literal["exactly-once", "at-least-once"] = "exactly-once"
    """The alerts topic's guarantee (spec.detector.alertDelivery); scores and the DLQ stay exactly-once."""

    def client_properties(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Kafka client properties (security included); credentials come from the environment only."""
        props = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None or not self.username_env or not self.password_env:
                raise SettingsError(
                    f"kafka: {self.security_protocol} needs sasl_mechanism, username_env and password_env"
                )
            user = _env(environ, self.username_env, "kafka username")
            password = _env(environ, self.password_env, "kafka password")
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if self.sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            props["sasl.mechanism"] = self.sasl_mechanism
            props["sasl.jaas.config"] = (
                f"{module} required username={json.dumps(user)} password={json.dumps(password)};"
            )
        return props


class TopicSettings(_Lenient):
    transactions: str = Field(min_length=1)
    alerts: str = Field(min_length=1)
    dlq: str = Field(min_length=1)
    labels: str = Field(min_length=1)
    control: str = Field(min_length=1)
    scores: str | None = None
    """Optional: one score record per valid transaction (tests, benchmarks, shadow evaluation)."""


class DatabaseSettings(_Lenient):
    host: str | None = None
    port: int = Field(default=5432, ge=1, le=65535)
    database: str | None = None
    user_env: str | None = None
    password_env: str | None = None
    dsn_env: str | None = None
    """Alternative to host/port/database/user/password: an environment variable holding a full DSN."""
    table: str = Field(default="gold.fact_fraud_alerts", pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
    model_scores_table: str = Field(
        default="gold.model_scores", pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"
    )
    """Where both models' scores go when a shadow model is set (migrations 007/008)."""
    model_scores_batch_rows: int = Field(default=500, ge=1)
    model_scores_flush_ms: int = Field(default=200, ge=1)
    """A model-score batch is written when this many rows wait, or this long after the first one."""

    def dsn(self, environ: Mapping[str, str]) -> str:
        """A libpq connection string; the password only ever comes from the environment."""
        if self.dsn_env:
            return _env(environ, self.dsn_env, "database DSN")
        if not (self.host and self.database and self.user_env and self.password_env):
            raise SettingsError("database: give dsn_env, or host, database, user_env and password_env")
        user = _env(environ, self.user_env, "database user")
        password = _env(environ, self.password_env, "database password")
        parts = {"host": self.host, "port": str(self.port), "dbname": self.database, "user": user}
        quoted = " ".join(f"{k}='{v}'" for k, v in parts.items())
        escaped = password.replace("\\", "\\\\").replace("'", "\\'")
        return f"{quoted} password='{escaped}'"


class ModelSettings(_Lenient):
    name: str | None = None
    version: str
    uri: str = Field(min_length=1)
    sha256: str | None = None
    feature_schema_id: str | None = None


class CheckpointSettings(_Lenient):
    mode: Literal["EXACTLY_ONCE"] = "EXACTLY_ONCE"
    interval_seconds: float = Field(default=30.0, gt=0.0)


class FlinkSettings(_Strict):
    """Local/job-level Flink knobs; in the cluster the FlinkDeployment's flinkConfiguration provides most.

    ``None`` means "leave the cluster's value alone".
    """

    parallelism: int | None = Field(default=None, ge=1)
    state_backend: Literal["hashmap", "rocksdb"] | None = None
    changelog: bool | None = None
    """Flink's changelog state backend: each checkpoint uploads the state changes since the previous one
    (under ``<checkpoint_dir>/changelog``) instead of a snapshot of all of it, and the full snapshot is
    materialized in the background. Checkpoints, and with them exactly-once alerts, finish sooner
    (docs/performance.md)."""
    checkpoint_dir: str | None = None
    restore_from: str | None = None
    """A savepoint or retained checkpoint to start from (execution.state-recovery.path)."""
    execution_mode: Literal["thread", "process"] = "thread"
    bundle_size: int = Field(default=1000, ge=1)
    bundle_time_ms: int = Field(default=50, ge=1)
    """Python bundles (process mode only: thread mode calls Python per element, without bundles)."""
    buffer_timeout_ms: int | None = Field(default=10, ge=0)
    """Network buffers between the keyed stages flush at least this often (None: Flink's 100 ms). At
    alert-pipeline rates a buffer rarely fills, so Flink's 100 ms per hop was most of the event-to-alert
    latency (benchmarks/detector.py: in-job p50 ~260 ms at 100 ms, ~50 ms at 10 ms, same load)."""
    state_cache_size: int = Field(default=10000, ge=0)
    jars: str | None = None
    """pipeline.jars (local runs); the cluster image ships the connectors in lib/."""
    starting_offsets: Literal["group", "earliest", "latest"] = "group"
    bounded: bool = False
    """Stop at the offsets that are latest when the job starts (benchmarks, backfills)."""
    transaction_timeout_ms: int = Field(default=600_000, ge=1000)
    extra: dict[str, str] = Field(default_factory=dict)
    """Any further Flink options, set as given (e.g. ``rest.port`` for a local run's REST API)."""

    @model_validator(mode="after")
    def _changelog_has_a_place(self) -> FlinkSettings:
        if self.changelog and self.checkpoint_dir is None and CHANGELOG_PATH not in self.extra:
            raise ValueError(f"changelog needs checkpoint_dir (or {CHANGELOG_PATH} in extra) to write to")
        return self

    @property
    def changelog_path(self) -> str | None:
        """Where the changelog goes: ``<checkpoint_dir>/changelog`` unless ``extra`` names a place."""
        if not self.changelog:
            return None
        return self.extra.get(CHANGELOG_PATH) or f"{(self.checkpoint_dir or '').rstrip('/')}/changelog"


class JobSettings(_Lenient):
    """The whole ``detector.json`` as the job reads it."""

    schema_version: Literal[1] = 1
    pipeline: dict[str, str] = Field(default_factory=lambda: {"name": "detector", "namespace": "local"})
    kafka: KafkaSettings
    topics: TopicSettings
    database: DatabaseSettings | None = None
    detector: DetectorConfig = DetectorConfig()
    model: ModelSettings | None = None
    shadow_model: ModelSettings | None = None
    """Scored beside ``model`` on the same features and rule hits; never changes alerts."""
    checkpointing: CheckpointSettings = CheckpointSettings()
    flink: FlinkSettings = FlinkSettings()

    @property
    def job_name(self) -> str:
        namespace = self.pipeline.get("namespace", "local")
        return f"fraud-detector-{namespace}-{self.pipeline.get('name', 'detector')}"

    def with_flink(self, **changes: Any) -> JobSettings:
        """A copy with some Flink knobs changed (CLI overrides, tests)."""
        flink = FlinkSettings.model_validate({**self.flink.model_dump(), **changes})
        return self.model_copy(update={"flink": flink})


def load_settings(path: str | Path) -> JobSettings:
    """Read and validate a detector config JSON; raises SettingsError naming the file and the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read detector config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"detector config {path}: expected a JSON object, got {type(data).__name__}")
    try:
        return JobSettings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(f"detector config {path}: {exc}") from exc

"""Every ``STREAMFLOW_*`` setting of the operator, declared once: name, type, default and meaning.

Modules read a setting through its declaration (``KAFKA_TIMEOUT_SECONDS.value()``), at the moment they need
it, so a test can change the environment between calls. :func:`load` reads them all at once: the operator
calls it at start-up, so a bad value stops it with one message naming every bad variable instead of
failing in the middle of a reconcile. :data:`CATALOG` adds the settings the job and the command line read
(declared in their own packages, which must not import this one) for the table in docs/settings.md and the
chart's README (``python -m fraud_operator.settings_docs`` regenerates it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraud_jobs import env_settings as job_settings
from fraud_models import env_settings as model_settings
from fraud_models.env_settings import (
    Setting,
    SettingError,
    boolean,
    host_port,
    path,
    positive_int,
    positive_seconds,
)

__all__ = [
    "ARTIFACT_CACHE",
    "ARTIFACT_MAX_BYTES",
    "ARTIFACT_TIMEOUT_SECONDS",
    "CATALOG",
    "DB_HOST_OVERRIDE",
    "KAFKA_TIMEOUT_SECONDS",
    "MIGRATIONS_DIR",
    "OPERATOR_SETTINGS",
    "RESYNC_SECONDS",
    "SHADOW_COMPARE_SECONDS",
    "TOPIC_DELETE_TIMEOUT_SECONDS",
    "VERIFY_ARTIFACTS",
    "CatalogEntry",
    "SettingError",
    "SettingsError",
    "load",
]

RESYNC_SECONDS: Setting[float] = Setting(
    "STREAMFLOW_RESYNC_SECONDS",
    positive_seconds,
    30.0,
    "Interval of the level checks of what no watch reports (a pipeline's topics on the broker in admin-API "
    "mode, its database schema, a model's age), each object at its own offset so the checks spread over "
    "the interval; watch events trigger every other reconcile (read at start-up).",
)
SHADOW_COMPARE_SECONDS: Setting[float] = Setting(
    "STREAMFLOW_SHADOW_COMPARE_SECONDS",
    positive_seconds,
    300.0,
    "Interval of a pipeline's shadow comparison (it scans gold.model_scores; read at start-up).",
)
TOPIC_DELETE_TIMEOUT_SECONDS: Setting[float] = Setting(
    "STREAMFLOW_TOPIC_DELETE_TIMEOUT_SECONDS",
    positive_seconds,
    60.0,
    "How long deleting a pipeline with topicDeletionPolicy Delete retries an unreachable Kafka before it "
    "releases the finalizer with a Warning naming the topics left behind.",
)
KAFKA_TIMEOUT_SECONDS: Setting[float] = Setting(
    "STREAMFLOW_KAFKA_TIMEOUT_SECONDS",
    positive_seconds,
    15.0,
    "Timeout of one Kafka admin request (topic reconcile in admin-API mode).",
)
VERIFY_ARTIFACTS: Setting[bool] = Setting(
    "STREAMFLOW_VERIFY_ARTIFACTS",
    boolean,
    True,
    "Load every FraudModel's artifact as the job will before a pipeline may roll to it; false leaves the "
    "check to the job (ArtifactVerified=Unknown).",
)
ARTIFACT_CACHE: Setting[Path] = Setting(
    "STREAMFLOW_ARTIFACT_CACHE",
    path,
    None,
    "Directory where the operator caches downloaded `https://` artifacts while verifying them.",
    default_doc="`$TMPDIR/streamflow-artifacts` (the chart's `/tmp` emptyDir)",
)
ARTIFACT_MAX_BYTES: Setting[int] = Setting(
    "STREAMFLOW_ARTIFACT_MAX_BYTES",
    positive_int,
    32 * 1024 * 1024,
    "Largest artifact the operator fetches; a larger one is Rejected (ArtifactTooLarge). The cache keeps "
    "at most four times this many bytes.",
    default_doc="`33554432` (32 MiB)",
)
ARTIFACT_TIMEOUT_SECONDS: Setting[float] = Setting(
    "STREAMFLOW_ARTIFACT_TIMEOUT_SECONDS",
    positive_seconds,
    30.0,
    "Timeout of one artifact download, and of loading it in a child process to verify it.",
)
DB_HOST_OVERRIDE: Setting[tuple[str, int]] = Setting(
    "STREAMFLOW_DB_HOST_OVERRIDE",
    host_port,
    None,
    "Replaces the CNPG `-rw` Service address for every pipeline: for an operator running outside the "
    "cluster (tests, local development). An operator setting on purpose, never a pipeline field: whoever "
    "edits a pipeline must not choose where the database password goes.",
    default_doc="unset (the `<cluster>-rw` Service)",
)
MIGRATIONS_DIR: Setting[Path] = Setting(
    "STREAMFLOW_MIGRATIONS_DIR",
    path,
    None,
    "Directory of the `NNN_name.sql` schema migrations the operator and `streamflow db migrate` apply.",
    default_doc="the migrations shipped with the package",
)

OPERATOR_SETTINGS: tuple[Setting[Any], ...] = (
    RESYNC_SECONDS,
    SHADOW_COMPARE_SECONDS,
    TOPIC_DELETE_TIMEOUT_SECONDS,
    KAFKA_TIMEOUT_SECONDS,
    VERIFY_ARTIFACTS,
    ARTIFACT_CACHE,
    ARTIFACT_MAX_BYTES,
    ARTIFACT_TIMEOUT_SECONDS,
    DB_HOST_OVERRIDE,
    MIGRATIONS_DIR,
)


@dataclass(frozen=True)
class CatalogEntry:
    """A setting and who reads it; ``operator`` settings are the ones the chart's ``env`` map takes."""

    setting: Setting[Any]
    read_by: str
    operator: bool


CATALOG: tuple[CatalogEntry, ...] = (
    *(
        CatalogEntry(s, "operator, `streamflow db`" if s is MIGRATIONS_DIR else "operator", operator=True)
        for s in OPERATOR_SETTINGS
    ),
    CatalogEntry(model_settings.MODEL_CACHE, "job image, `streamflow model`", operator=False),
    CatalogEntry(model_settings.PG_DSN, "`streamflow db`, `streamflow model compare`", operator=False),
    CatalogEntry(model_settings.DB_DSN, "`streamflow model compare`", operator=False),
    *(
        CatalogEntry(
            s,
            "the detector job"
            if s in (job_settings.DETECTOR_JAR, job_settings.DETECTOR_JAR_CACHE)
            else "`streamflow job run`",
            operator=False,
        )
        for s in job_settings.SETTINGS
    ),
)


class SettingsError(SettingError):
    """One or more settings are invalid; the message lists each variable and what is wrong with it."""

    def __init__(self, errors: list[SettingError]) -> None:
        super().__init__("invalid settings: " + "; ".join(str(e) for e in errors))
        self.errors = errors


def load(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every operator setting's value by variable name; raises :class:`SettingsError` naming each bad one."""
    values: dict[str, Any] = {}
    errors: list[SettingError] = []
    for setting in OPERATOR_SETTINGS:
        try:
            values[setting.name] = setting.read(environ)
        except SettingError as exc:
            errors.append(exc)
    if errors:
        raise SettingsError(errors)
    return values

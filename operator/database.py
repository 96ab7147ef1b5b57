"""The database step of a FraudPipeline reconcile: wait for CNPG, then migrate the schema as the app user.

CloudNativePG creates the database and its application user but no tables, so the operator applies
``sql/migrations`` itself: it waits until the ``postgresql.cnpg.io/v1`` Cluster reports Ready, reads the
credentials from the ``<cluster>-app`` Secret (or ``spec.database.credentialsSecretRef``) and runs
:func:`fraud_operator.db.migrate` against the Cluster's ``-rw`` Service. The result is one
:class:`DatabaseOutcome` that the handler turns into the ``SchemaMigrated`` condition.

The password lives only in a local DSN string inside :func:`reconcile_database`; every message that leaves
this module has been redacted against that DSN, so logs, Events and status never carry it.

``STREAMFLOW_DB_HOST_OVERRIDE=host:port`` replaces the ``-rw`` Service address, for tests and local
development where the operator runs outside the cluster and cannot resolve Service names. It is an
environment variable of the operator process on purpose, not an annotation on the pipeline: whoever may
edit a pipeline must not be able to send the app user's password to a host of their choosing.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from fraud_operator.api.common import ConditionStatus
from fraud_operator.api.conditions import set_condition
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.db import (
    DatabaseUnavailable,
    MigrationError,
    MigrationFailure,
    MigrationResult,
    migrate,
)
from fraud_operator.db.dsn import redact
from fraud_operator.settings import DB_HOST_OVERRIDE, SettingError
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from psycopg import conninfo

__all__ = [
    "CNPG_API_VERSION",
    "CNPG_HEALTHY_PHASE",
    "CNPG_PORT",
    "CONDITION_TYPE",
    "HOST_OVERRIDE_ENV",
    "AppConnection",
    "DatabaseOutcome",
    "app_connection",
    "backoff_delay",
    "cnpg_cluster_readiness",
    "credentials_secret_name",
    "reconcile_database",
    "rw_service_host",
]

log = logging.getLogger(__name__)
# (dsn, migrations dir) -> (monotonic time, schema version) of the latest complete migrate() of a database
_current: dict[tuple[str, str], tuple[float, int]] = {}
# (namespace, CNPG cluster, Secret, database) -> (monotonic time, the connection app_connection() found)
_connections: dict[tuple[str, str, str, str], tuple[float, AppConnection]] = {}

CONDITION_TYPE = "SchemaMigrated"
HOST_OVERRIDE_ENV = DB_HOST_OVERRIDE.name
CNPG_GROUP = "postgresql.cnpg.io"
CNPG_VERSION = "v1"
CNPG_API_VERSION = f"{CNPG_GROUP}/{CNPG_VERSION}"
CNPG_PORT = 5432
# CNPG 1.30 (api/v1/cluster_types.go): PhaseHealthy, and the Ready condition (ConditionClusterReady) it keeps
# in step with the phase: True/ClusterIsReady when healthy, False/ClusterIsNotReady otherwise.
CNPG_HEALTHY_PHASE = "Cluster in healthy state"
CNPG_READY_CONDITION = "Ready"
# Phases in which CNPG waits for a human: still "not ready", but the pipeline is Degraded, not Progressing.
_CNPG_STUCK_PHASES = frozenset(
    {
        "Cluster is in an unrecoverable state, needs manual intervention",
        "Waiting for user action",
    }
)
_MAX_MESSAGE = 2000

# (first delay, cap) in seconds per reason; the delay doubles with every consecutive attempt.
_BACKOFF: dict[str, tuple[float, float]] = {
    "ClusterNotReady": (10.0, 60.0),
    "ClusterNotFound": (15.0, 300.0),
    "SecretNotFound": (10.0, 120.0),
    "SecretInvalid": (30.0, 600.0),
    "KubernetesApiError": (10.0, 300.0),
    "HostOverrideInvalid": (60.0, 600.0),
    "DatabaseUnavailable": (10.0, 300.0),
    "MigrationFailed": (60.0, 900.0),
    "MigrationIntegrity": (300.0, 1800.0),
}


@dataclass(frozen=True)
class DatabaseOutcome:
    """What the database step found, ready to become the ``SchemaMigrated`` condition.

    ``status`` is "True" only when every migration is applied (``schema_version`` is then set).
    ``degraded`` tells the handler to report the pipeline Degraded rather than merely Progressing;
    ``retry_after_s`` is set whenever trying again later can change the answer. ``message`` is safe to
    publish: it never contains a password or a DSN.
    """

    status: ConditionStatus
    reason: str
    message: str
    schema_version: int | None = None
    applied: tuple[int, ...] = ()
    retry_after_s: float | None = None
    degraded: bool = False
    type: str = CONDITION_TYPE

    @property
    def migrated(self) -> bool:
        """The schema is at the newest version."""
        return self.status == "True"

    def apply_to(
        self,
        conditions: Iterable[Mapping[str, Any]],
        *,
        observed_generation: int | None,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """``conditions`` with ``SchemaMigrated`` set from this outcome (see :func:`set_condition`)."""
        return set_condition(
            conditions,
            self.type,
            self.status,
            self.reason,
            self.message,
            observed_generation=observed_generation,
            now=now,
        )


class _Stop(Exception):
    """Internal: a step found a reason not to go on; carries the outcome."""

    def __init__(self, outcome: DatabaseOutcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def backoff_delay(reason: str, attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (0 = first retry) after a failure with ``reason``."""
    first, cap = _BACKOFF.get(reason, (30.0, 600.0))
    return float(min(cap, first * 2 ** max(0, min(attempt, 16))))


def _failure(reason: str, message: str, attempt: int, *, degraded: bool = True) -> DatabaseOutcome:
    return DatabaseOutcome(
        status="False",
        reason=reason,
        message=message[:_MAX_MESSAGE],
        retry_after_s=backoff_delay(reason, attempt),
        degraded=degraded,
    )


def credentials_secret_name(pipeline: FraudPipeline) -> str:
    """``spec.database.credentialsSecretRef.name``, else CNPG's application Secret ``<cluster>-app``."""
    ref = pipeline.spec.database.credentials_secret_ref
    return ref.name if ref is not None else f"{pipeline.spec.database.cnpg_cluster}-app"


def rw_service_host(pipeline: FraudPipeline, namespace: str) -> str:
    """DNS name of the Cluster's read-write Service, resolvable from the operator's own namespace."""
    return f"{pipeline.spec.database.cnpg_cluster}-rw.{namespace}.svc"


def cnpg_cluster_readiness(cluster: Mapping[str, Any]) -> tuple[bool, str]:
    """(ready, description) of a CNPG Cluster object as CNPG 1.30 writes its status.

    The Ready condition decides when CNPG wrote one; a status without conditions (older CNPG) counts as
    ready only in the phase "Cluster in healthy state".
    """
    status = cluster.get("status") or {}
    phase = str(status.get("phase") or "")
    phase_reason = str(status.get("phaseReason") or "")
    condition = next(
        (c for c in status.get("conditions") or [] if c.get("type") == CNPG_READY_CONDITION),
        None,
    )
    if not phase and condition is None:
        return False, "CNPG has not reported a status yet (is the CloudNativePG operator running?)"
    parts = [f"phase {phase!r}" if phase else "no phase"]
    if phase_reason:
        parts.append(f"({phase_reason})")
    if condition is not None:
        ready = condition.get("status") == "True"
        parts.append(f"Ready={condition.get('status')} ({condition.get('reason') or 'no reason'})")
    else:
        ready = phase == CNPG_HEALTHY_PHASE
    ready_instances, instances = status.get("readyInstances"), status.get("instances")
    if instances is not None:
        parts.append(f"{ready_instances or 0}/{instances} instances ready")
    return ready, " ".join(parts)


def _api_failure(exc: ApiException, what: str, attempt: int) -> DatabaseOutcome:
    # Only the status line: the response body of a Secret request is never put into a message.
    reason = str(exc.reason or "").strip()
    if exc.status == 403:
        return _failure(
            "KubernetesApiError",
            f"the operator may not read {what} (403 Forbidden): grant it get on that resource",
            attempt,
        )
    return _failure("KubernetesApiError", f"reading {what} failed: HTTP {exc.status} {reason}", attempt)


def _read_cluster(api_client: Any, namespace: str, name: str, attempt: int) -> Mapping[str, Any]:
    try:
        cluster = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            CNPG_GROUP, CNPG_VERSION, namespace, "clusters", name
        )
    except ApiException as exc:
        if exc.status == 404:
            raise _Stop(
                _failure(
                    "ClusterNotFound",
                    f"CNPG Cluster {namespace}/{name} ({CNPG_API_VERSION}) does not exist "
                    "(spec.database.cnpgCluster)",
                    attempt,
                )
            ) from None
        raise _Stop(_api_failure(exc, f"CNPG Cluster {namespace}/{name}", attempt)) from None
    assert isinstance(cluster, Mapping)
    return cluster


def _read_secret(api_client: Any, namespace: str, name: str, attempt: int) -> dict[str, str]:
    what = f"Secret {namespace}/{name}"
    try:
        secret = client.CoreV1Api(api_client).read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise _Stop(
                _failure(
                    "SecretNotFound",
                    f"{what} with the database credentials does not exist "
                    "(CNPG creates <cluster>-app with the cluster; "
                    "or set spec.database.credentialsSecretRef)",
                    attempt,
                )
            ) from None
        raise _Stop(_api_failure(exc, what, attempt)) from None
    decoded: dict[str, str] = {}
    for key, value in (secret.data or {}).items():
        try:
            decoded[key] = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _Stop(
                _failure("SecretInvalid", f"{what}: key {key} is not base64-encoded UTF-8 text", attempt)
            ) from None
    return decoded


@dataclass(frozen=True)
class _Credentials:
    user: str
    password: str
    port: int


def _credentials(data: Mapping[str, str], what: str, attempt: int) -> _Credentials:
    """User, password and port from CNPG's keys (username/user, password, port) or, failing those, uri."""
    from_uri: dict[str, Any] = {}
    if data.get("uri"):
        try:
            from_uri = conninfo.conninfo_to_dict(data["uri"])
        except psycopg.Error:
            raise _Stop(
                _failure("SecretInvalid", f"{what}: key uri is not a postgresql:// URI", attempt)
            ) from None
    user = data.get("username") or data.get("user") or str(from_uri.get("user") or "")
    password = data.get("password") or str(from_uri.get("password") or "")
    missing = [key for key, value in (("username", user), ("password", password)) if not value]
    if missing:
        raise _Stop(
            _failure(
                "SecretInvalid",
                f"{what} has no {' and no '.join(missing)} (expected keys username and password, or uri)",
                attempt,
            )
        )
    raw_port = data.get("port") or str(from_uri.get("port") or CNPG_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise _Stop(_failure("SecretInvalid", f"{what}: key port is not a TCP port: {raw_port!r}", attempt))
    return _Credentials(user, password, int(raw_port))


def _address(default_host: str, default_port: int, attempt: int) -> tuple[str, int]:
    try:
        override = DB_HOST_OVERRIDE.read()
    except SettingError as exc:
        raise _Stop(_failure("HostOverrideInvalid", f"{exc} (a setting of the operator)", attempt)) from None
    return override if override is not None else (default_host, default_port)


def _scrub(message: str, dsn: str, password: str) -> str:
    scrubbed = redact(message, dsn)
    return (scrubbed.replace(password, "***") if password else scrubbed)[:_MAX_MESSAGE]


@dataclass(frozen=True)
class AppConnection:
    """Where and as whom the operator reaches the pipeline's database; ``scrub`` makes text publishable."""

    dsn: str = field(repr=False)
    password: str = field(repr=False)
    target: str  # user@host:port/dbname, safe to show

    def scrub(self, message: str) -> str:
        """``message`` without the DSN or the password, cut to the status message limit."""
        return _scrub(message, self.dsn, self.password)


def app_connection(
    api_client: Any, namespace: str, pipeline: FraudPipeline, *, attempt: int = 0
) -> AppConnection | DatabaseOutcome:
    """The app user's connection to the pipeline's database, or the outcome saying why there is none yet.

    Waits for the CNPG Cluster to be ready and reads the credentials Secret, exactly as the migration step
    does, so every database client of the operator honours the same Secret and host override.
    """
    database = pipeline.spec.database
    cluster_name = database.cnpg_cluster
    try:
        cluster = _read_cluster(api_client, namespace, cluster_name, attempt)
        ready, description = cnpg_cluster_readiness(cluster)
        if not ready:
            phase = str((cluster.get("status") or {}).get("phase") or "")
            return _failure(
                "ClusterNotReady",
                f"waiting for CNPG Cluster {cluster_name} to become ready: {description}",
                attempt,
                degraded=phase in _CNPG_STUCK_PHASES,
            )
        secret_name = credentials_secret_name(pipeline)
        what = f"Secret {namespace}/{secret_name}"
        credentials = _credentials(_read_secret(api_client, namespace, secret_name, attempt), what, attempt)
        host, port = _address(rw_service_host(pipeline, namespace), credentials.port, attempt)
    except _Stop as stop:
        log.info("database of pipeline %s/%s: %s", namespace, pipeline.metadata.name, stop.outcome.message)
        return stop.outcome
    dsn = conninfo.make_conninfo(
        host=host, port=port, dbname=database.database, user=credentials.user, password=credentials.password
    )
    return AppConnection(
        dsn=dsn, password=credentials.password, target=f"{credentials.user}@{host}:{port}/{database.database}"
    )


def reconcile_database(
    api_client: Any,
    namespace: str,
    pipeline: FraudPipeline,
    *,
    attempt: int = 0,
    migrations_dir: Path | None = None,
    lock_timeout_s: float = 60.0,
    fresh_within: float = 0.0,
) -> DatabaseOutcome:
    """Bring the pipeline's database schema up to date; never raises for cluster, Secret or database trouble.

    Blocking (Kubernetes reads and a PostgreSQL session): call it from a sync handler or a thread.
    ``attempt`` is the number of consecutive failed attempts so far (kopf's ``retry``) and lengthens
    ``retry_after_s``. ``migrations_dir`` defaults to ``$STREAMFLOW_MIGRATIONS_DIR`` or the packaged
    migrations. ``fresh_within``: a schema this process brought up to date (same database, same user,
    same migrations) less than that many seconds ago is not checked again: pipelines sharing a database
    then cost one PostgreSQL session per interval, not one each (1,000 at a cold start). Within that
    interval the CNPG Cluster and the Secret that led to that database are not read again either (2,000
    reads at a cold start of 1,000); a failure forgets both.
    """
    database = pipeline.spec.database
    where = (namespace, database.cnpg_cluster, credentials_secret_name(pipeline), database.database)
    known = _connections.get(where)
    if known is not None and time.monotonic() - known[0] < fresh_within:
        found = known[1]
    else:
        connection = app_connection(api_client, namespace, pipeline, attempt=attempt)
        if isinstance(connection, DatabaseOutcome):
            _connections.pop(where, None)
            return connection
        found = connection
        _connections[where] = (time.monotonic(), found)
    target = found.target
    key = (found.dsn, str(migrations_dir))
    recent = _current.get(key)
    try:
        if recent is not None and time.monotonic() - recent[0] < fresh_within:
            result = MigrationResult(applied=(), schema_version=recent[1])
        else:
            result = migrate(found.dsn, migrations_dir, lock_timeout_s=lock_timeout_s)
            _current[key] = (time.monotonic(), result.schema_version)
    except MigrationError as exc:
        _current.pop(key, None)
        _connections.pop(where, None)
        message = f"migration {exc.name} failed and was rolled back: {exc.db_error}"
        outcome = _failure(exc.reason, found.scrub(message), attempt)
    except (MigrationFailure, DatabaseUnavailable) as exc:
        _current.pop(key, None)
        _connections.pop(where, None)
        outcome = _failure(exc.reason, found.scrub(str(exc)), attempt)
    else:
        # The condition says where the schema is, the same on every reconcile (a message naming this
        # reconcile's migrations would change on the next one); what was applied goes into an Event.
        return DatabaseOutcome(
            status="True",
            reason="Migrated",
            message=f"schema of {target} at version {result.schema_version}",
            schema_version=result.schema_version,
            applied=result.applied,
        )
    log.warning("database of pipeline %s/%s: %s", namespace, pipeline.metadata.name, outcome.message)
    return outcome

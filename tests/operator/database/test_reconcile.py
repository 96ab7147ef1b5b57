"""reconcile_database on the real API server (CNPG CRDs, status written as CNPG would) and real PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.database import (
    CONDITION_TYPE,
    HOST_OVERRIDE_ENV,
    DatabaseOutcome,
    backoff_delay,
    cnpg_cluster_readiness,
    reconcile_database,
)
from fraud_operator.db.migrations import MIGRATIONS_DIR_ENV, load_migrations
from kubernetes import client
from streamflow_dev.standins.cnpg import (
    CNPG_HEALTHY_PHASE,
    AppDatabase,
    write_cnpg_app_secret,
    write_cnpg_cluster,
    write_cnpg_cluster_not_ready,
    write_cnpg_cluster_ready,
)

from tests.conftest import KubeCluster
from tests.operator.database.conftest import CLUSTER, pipeline_in

N = len(load_migrations())


def _tables(app: AppDatabase) -> set[str]:
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    return {r[0] for r in rows}


def _cnpg_serves(
    kube: KubeCluster, namespace: str, app_db: AppDatabase, pipeline_doc: dict[str, Any], **secret: Any
) -> FraudPipeline:
    """CNPG's cluster Ready with the app Secret of ``app_db`` (``secret``: write_cnpg_app_secret's options),
    and the sample pipeline using it."""
    write_cnpg_cluster_ready(kube.api_client, namespace, CLUSTER)
    write_cnpg_app_secret(kube.api_client, namespace, CLUSTER, app_db, **secret)
    return pipeline_in(pipeline_doc, namespace, app_db.dbname)


def _visible_text(outcome: DatabaseOutcome) -> str:
    conditions = outcome.apply_to([], observed_generation=3, now=datetime.now(UTC))
    return repr(outcome) + repr(conditions)


# ---------------------------------------------------------------- pure: CNPG's status as CNPG writes it


def test_ready_condition_decides_over_phase() -> None:
    ready = {"status": {"phase": CNPG_HEALTHY_PHASE, "conditions": [{"type": "Ready", "status": "True"}]}}
    stale = {"status": {"phase": CNPG_HEALTHY_PHASE, "conditions": [{"type": "Ready", "status": "False"}]}}
    assert cnpg_cluster_readiness(ready)[0] is True
    assert cnpg_cluster_readiness(stale)[0] is False


def test_phase_alone_counts_without_conditions() -> None:
    assert cnpg_cluster_readiness({"status": {"phase": CNPG_HEALTHY_PHASE}})[0] is True
    ready, text = cnpg_cluster_readiness({"status": {"phase": "Creating a new replica"}})
    assert not ready and "Creating a new replica" in text
    ready, text = cnpg_cluster_readiness({})
    assert not ready and "has not reported a status" in text


def test_backoff_doubles_up_to_a_cap() -> None:
    delays = [backoff_delay("DatabaseUnavailable", attempt) for attempt in range(8)]
    assert delays[:3] == [10.0, 20.0, 40.0]
    assert delays == sorted(delays) and delays[-1] == 300.0


# ---------------------------------------------------------------- against the API server and PostgreSQL


@pytest.mark.cluster
@pytest.mark.postgres
def test_ready_cluster_migrates_the_real_database_as_the_app_user(
    kube: KubeCluster,
    namespace: str,
    app_db: AppDatabase,
    rw_host_override: str,
    pipeline_doc: dict[str, Any],
) -> None:
    pipeline = _cnpg_serves(kube, namespace, app_db, pipeline_doc)

    outcome = reconcile_database(kube.api_client, namespace, pipeline)

    assert (outcome.status, outcome.reason, outcome.schema_version) == ("True", "Migrated", N)
    assert outcome.applied == tuple(range(1, N + 1))
    assert outcome.retry_after_s is None and not outcome.degraded
    tables = _tables(app_db)
    assert {"public.schema_migrations", "gold.fact_fraud_alerts", "gold.customer_features"} <= tables
    with psycopg.connect(app_db.dsn, autocommit=True) as conn:
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    assert owners == [(app_db.user,)]
    [condition] = outcome.apply_to([], observed_generation=2, now=datetime.now(UTC))
    assert condition["type"] == CONDITION_TYPE == "SchemaMigrated"
    assert (condition["status"], condition["reason"], condition["observedGeneration"]) == (
        "True",
        "Migrated",
        2,
    )
    assert f"version {N}" in condition["message"]
    assert app_db.password not in _visible_text(outcome)

    again = reconcile_database(kube.api_client, namespace, pipeline)
    assert (again.status, again.schema_version, again.applied) == ("True", N, ())
    # A later reconcile leaves the condition as it was: its message names the version, not what was applied.
    assert again.message == outcome.message


@pytest.mark.cluster
@pytest.mark.postgres
def test_credentials_secret_ref_with_only_username_and_password(
    kube: KubeCluster,
    namespace: str,
    app_db: AppDatabase,
    rw_host_override: str,
    pipeline_doc: dict[str, Any],
) -> None:
    write_cnpg_cluster_ready(kube.api_client, namespace, CLUSTER)
    client.CoreV1Api(kube.api_client).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="db-owner"),
            type="kubernetes.io/basic-auth",
            string_data={"username": app_db.user, "password": app_db.password},
        ),
    )
    pipeline = pipeline_in(pipeline_doc, namespace, app_db.dbname, credentialsSecretRef={"name": "db-owner"})

    outcome = reconcile_database(kube.api_client, namespace, pipeline)

    assert (outcome.status, outcome.schema_version) == ("True", N)


@pytest.mark.cluster
@pytest.mark.postgres
def test_cluster_not_ready_waits_and_touches_no_database(
    kube: KubeCluster,
    namespace: str,
    app_db: AppDatabase,
    rw_host_override: str,
    pipeline_doc: dict[str, Any],
) -> None:
    write_cnpg_cluster_not_ready(kube.api_client, namespace, CLUSTER, phase="Setting up primary")
    write_cnpg_app_secret(kube.api_client, namespace, CLUSTER, app_db)
    pipeline = pipeline_in(pipeline_doc, namespace, app_db.dbname)

    outcome = reconcile_database(kube.api_client, namespace, pipeline)

    assert (outcome.status, outcome.reason) == ("False", "ClusterNotReady")
    assert "Setting up primary" in outcome.message and "ClusterIsNotReady" in outcome.message
    assert not outcome.degraded and outcome.retry_after_s == backoff_delay("ClusterNotReady", 0)
    assert outcome.schema_version is None
    assert _tables(app_db) == set()

    write_cnpg_cluster_ready(kube.api_client, namespace, CLUSTER)
    assert reconcile_database(kube.api_client, namespace, pipeline).schema_version == N


@pytest.mark.cluster
def test_cluster_without_status_and_missing_cluster(
    kube: KubeCluster, namespace: str, pipeline_doc: dict[str, Any]
) -> None:
    pipeline = pipeline_in(pipeline_doc, namespace, "app")

    missing = reconcile_database(kube.api_client, namespace, pipeline, attempt=2)
    assert (missing.status, missing.reason, missing.degraded) == ("False", "ClusterNotFound", True)
    assert f"{namespace}/{CLUSTER}" in missing.message
    assert missing.retry_after_s == backoff_delay("ClusterNotFound", 2)

    write_cnpg_cluster(kube.api_client, namespace, CLUSTER)
    fresh = reconcile_database(kube.api_client, namespace, pipeline)
    assert fresh.reason == "ClusterNotReady" and "has not reported a status" in fresh.message


@pytest.mark.cluster
@pytest.mark.postgres
def test_missing_or_incomplete_secret(
    kube: KubeCluster, namespace: str, app_db: AppDatabase, pipeline_doc: dict[str, Any]
) -> None:
    write_cnpg_cluster_ready(kube.api_client, namespace, CLUSTER)
    pipeline = pipeline_in(pipeline_doc, namespace, app_db.dbname)

    missing = reconcile_database(kube.api_client, namespace, pipeline)
    assert (missing.reason, missing.degraded) == ("SecretNotFound", True)
    assert f"{CLUSTER}-app" in missing.message

    write_cnpg_app_secret(
        kube.api_client, namespace, CLUSTER, app_db, drop_keys=("password", "uri", "pgpass", "fqdn-uri")
    )
    incomplete = reconcile_database(kube.api_client, namespace, pipeline)
    assert incomplete.reason == "SecretInvalid"
    assert "no password" in incomplete.message
    assert app_db.password not in _visible_text(incomplete)


@pytest.mark.cluster
@pytest.mark.postgres
def test_wrong_password_is_database_unavailable_and_retried(
    kube: KubeCluster,
    namespace: str,
    app_db: AppDatabase,
    rw_host_override: str,
    pipeline_doc: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "Wr0ng-Passw0rd-" + app_db.user
    pipeline = _cnpg_serves(kube, namespace, app_db, pipeline_doc, password=wrong)

    with caplog.at_level("DEBUG"):
        first = reconcile_database(kube.api_client, namespace, pipeline, attempt=0)
        later = reconcile_database(kube.api_client, namespace, pipeline, attempt=3)

    assert (first.status, first.reason, first.degraded) == ("False", "DatabaseUnavailable", True)
    assert "password authentication failed" in first.message
    assert app_db.user in first.message
    assert first.retry_after_s is not None and later.retry_after_s is not None
    assert later.retry_after_s > first.retry_after_s
    for text in (_visible_text(first), _visible_text(later), caplog.text):
        assert wrong not in text and app_db.password not in text
    assert _tables(app_db) == set()

    write_cnpg_app_secret(kube.api_client, namespace, CLUSTER, app_db)  # CNPG rotates it back
    assert reconcile_database(kube.api_client, namespace, pipeline, attempt=4).schema_version == N


@pytest.mark.cluster
@pytest.mark.postgres
def test_a_secret_with_only_the_uri_is_enough(
    kube: KubeCluster,
    namespace: str,
    app_db: AppDatabase,
    rw_host_override: str,
    pipeline_doc: dict[str, Any],
) -> None:
    pipeline = _cnpg_serves(
        kube,
        namespace,
        app_db,
        pipeline_doc,
        drop_keys=("username", "user", "password", "port"),
        secret_type="Opaque",
    )

    assert reconcile_database(kube.api_client, namespace, pipeline).schema_version == N


@pytest.mark.cluster
@pytest.mark.postgres
def test_a_malformed_host_override_is_reported_not_guessed(
    kube: KubeCluster,
    namespace: str,
    app_db: AppDatabase,
    pipeline_doc: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(HOST_OVERRIDE_ENV, "localhost")
    pipeline = _cnpg_serves(kube, namespace, app_db, pipeline_doc)

    outcome = reconcile_database(kube.api_client, namespace, pipeline)

    assert (outcome.reason, outcome.degraded) == ("HostOverrideInvalid", True)
    assert HOST_OVERRIDE_ENV in outcome.message and "host:port" in outcome.message
    assert _tables(app_db) == set()


@pytest.mark.cluster
@pytest.mark.postgres
def test_failing_migration_is_named_with_the_db_error_and_leaves_no_trace(
    kube: KubeCluster,
    namespace: str,
    app_db: AppDatabase,
    rw_host_override: str,
    pipeline_doc: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "001_good.sql").write_text("CREATE TABLE public.good_one (id integer PRIMARY KEY);\n")
    (tmp_path / "002_bad_division.sql").write_text(
        "CREATE TABLE public.half_done (id integer);\nINSERT INTO public.half_done VALUES (1 / 0);\n"
    )
    monkeypatch.setenv(MIGRATIONS_DIR_ENV, str(tmp_path))
    pipeline = _cnpg_serves(kube, namespace, app_db, pipeline_doc)

    outcome = reconcile_database(kube.api_client, namespace, pipeline)

    assert (outcome.status, outcome.reason, outcome.degraded) == ("False", "MigrationFailed", True)
    assert "002_bad_division" in outcome.message
    assert "22012" in outcome.message and "division by zero" in outcome.message
    assert outcome.retry_after_s == backoff_delay("MigrationFailed", 0)
    assert app_db.password not in _visible_text(outcome)
    assert _tables(app_db) == {"public.schema_migrations", "public.good_one"}
    with psycopg.connect(app_db.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM public.schema_migrations").fetchall() == [(1,)]


@pytest.mark.cluster
def test_secret_values_are_base64_as_the_api_server_stores_them(kube: KubeCluster, namespace: str) -> None:
    """Guards the helper itself: the Secret it writes decodes to CNPG's key set."""
    write_cnpg_cluster_ready(kube.api_client, namespace, CLUSTER)
    app = AppDatabase("app_x", "pw-x", "app_x", "127.0.0.1", 5432)
    write_cnpg_app_secret(kube.api_client, namespace, CLUSTER, app)
    secret = client.CoreV1Api(kube.api_client).read_namespaced_secret(f"{CLUSTER}-app", namespace)
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    assert set(data) == {
        "username", "user", "password", "dbname", "host", "port", "pgpass",
        "uri", "jdbc-uri", "fqdn-uri", "fqdn-jdbc-uri",
    }  # fmt: skip
    assert data["host"] == f"{CLUSTER}-rw"
    assert data["uri"] == f"postgresql://app_x:pw-x@{CLUSTER}-rw.{namespace}:5432/app_x"
    assert secret.metadata.owner_references[0].kind == "Cluster"

"""Test helper that plays CloudNativePG, because no CNPG operator runs here.

It writes what CNPG 1.30 would write: a ``postgresql.cnpg.io/v1`` Cluster whose status (phase, phaseReason,
instances, the ``Ready`` condition) goes through the status subresource, and the ``<cluster>-app`` Secret
with CNPG's keys (``pkg/specs/secrets.go``: username, user, password, dbname, host, port, uri, pgpass,
jdbc-uri, fqdn-uri, fqdn-jdbc-uri). The credentials are real: :func:`cnpg_app_database` creates a login
role and a database it owns on the real local PostgreSQL, like CNPG's app user (no superuser, no
CREATEDB/CREATEROLE). As in a real cluster the Secret's host is the ``-rw`` Service name; tests reach the
local server through ``STREAMFLOW_DB_HOST_OVERRIDE``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from kubernetes import client
from kubernetes.client.exceptions import ApiException

__all__ = [
    "CNPG_HEALTHY_PHASE",
    "AppDatabase",
    "cnpg_app_database",
    "cnpg_ready_app_database",
    "write_cnpg_app_secret",
    "write_cnpg_cluster",
    "write_cnpg_cluster_not_ready",
    "write_cnpg_cluster_ready",
]

GROUP, VERSION, PLURAL = "postgresql.cnpg.io", "v1", "clusters"
CNPG_HEALTHY_PHASE = "Cluster in healthy state"


@dataclass(frozen=True)
class AppDatabase:
    """A login role and the database it owns on the real server, plus where that server listens."""

    user: str
    password: str
    dbname: str
    host: str
    port: int

    @property
    def dsn(self) -> str:
        """Direct DSN for assertions made by the test itself (never handed to the code under test)."""
        return f"postgresql://{self.user}:{quote(self.password)}@{self.host}:{self.port}/{self.dbname}"


@contextmanager
def cnpg_app_database(server_dsn: str, *, dbname: str | None = None) -> Iterator[AppDatabase]:
    """Create CNPG's app user and its database on the server of ``server_dsn``; drop both afterwards."""
    suffix = uuid.uuid4().hex[:10]
    user, name, password = f"app_{suffix}", dbname or f"app_{suffix}", f"pw-{uuid.uuid4().hex}"
    parts = urlsplit(server_dsn)
    assert parts.hostname and parts.port
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE ROLE {user} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'".encode()
        )
        conn.execute(f"CREATE DATABASE {name} OWNER {user}".encode())
    try:
        yield AppDatabase(user, password, name, parts.hostname, parts.port)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())
            conn.execute(f"DROP ROLE IF EXISTS {user}".encode())


@contextmanager
def cnpg_ready_app_database(
    api_client: Any, namespace: str, cluster: str, server_dsn: str, dbname: str
) -> Iterator[AppDatabase]:
    """A healthy CNPG ``cluster`` as the operator finds it: Ready, with the ``<cluster>-app`` Secret of a
    fresh app database ``dbname`` (one a crashed earlier run left behind is dropped first)."""
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'.encode())
    with cnpg_app_database(server_dsn, dbname=dbname) as app:
        write_cnpg_cluster_ready(api_client, namespace, cluster)
        write_cnpg_app_secret(api_client, namespace, cluster, app)
        yield app


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_cnpg_cluster(api_client: Any, namespace: str, name: str, *, instances: int = 1) -> dict[str, Any]:
    """Create the Cluster object as a user would (no status yet), or return it if it exists."""
    api = client.CustomObjectsApi(api_client)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "instances": instances,
            "storage": {"size": "1Gi"},
            "bootstrap": {"initdb": {"database": "app", "owner": "app"}},
        },
    }
    try:
        created: dict[str, Any] = api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        return created
    except ApiException as exc:
        if exc.status != 409:
            raise
    existing: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return existing


def _write_status(api_client: Any, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
    api = client.CustomObjectsApi(api_client)
    live = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    live["status"] = status
    written: dict[str, Any] = api.replace_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, live
    )
    return written


def _ready_condition(ready: bool, generation: int) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "ClusterIsReady" if ready else "ClusterIsNotReady",
        "message": "Cluster is Ready" if ready else "Cluster Is Not Ready",
        "lastTransitionTime": _now(),
        "observedGeneration": generation,
    }


def write_cnpg_cluster_ready(
    api_client: Any, namespace: str, name: str, *, instances: int = 1
) -> dict[str, Any]:
    """Create (if needed) the Cluster and report it healthy, as CNPG does once the primary serves."""
    cluster = write_cnpg_cluster(api_client, namespace, name, instances=instances)
    generation = int(cluster["metadata"].get("generation") or 1)
    names = [f"{name}-{i + 1}" for i in range(instances)]
    return _write_status(
        api_client,
        namespace,
        name,
        {
            "phase": CNPG_HEALTHY_PHASE,
            "instances": instances,
            "readyInstances": instances,
            "instanceNames": names,
            "instancesStatus": {"healthy": names},
            "currentPrimary": names[0],
            "targetPrimary": names[0],
            "writeService": f"{name}-rw",
            "readService": f"{name}-r",
            "conditions": [_ready_condition(True, generation)],
        },
    )


def write_cnpg_cluster_not_ready(
    api_client: Any,
    namespace: str,
    name: str,
    *,
    phase: str = "Setting up primary",
    phase_reason: str = "Creating primary instance",
) -> dict[str, Any]:
    """Create (if needed) the Cluster and report it not ready in ``phase`` (Ready False)."""
    cluster = write_cnpg_cluster(api_client, namespace, name)
    generation = int(cluster["metadata"].get("generation") or 1)
    return _write_status(
        api_client,
        namespace,
        name,
        {
            "phase": phase,
            "phaseReason": phase_reason,
            "instances": 1,
            "readyInstances": 0,
            "conditions": [_ready_condition(False, generation)],
        },
    )


def write_cnpg_app_secret(
    api_client: Any,
    namespace: str,
    cluster: str,
    app: AppDatabase,
    *,
    password: str | None = None,
    drop_keys: tuple[str, ...] = (),
    secret_type: str = "kubernetes.io/basic-auth",
) -> None:
    """Write ``<cluster>-app`` with CNPG's keys for ``app`` (``password`` overrides the real one).

    ``drop_keys`` leaves keys out to imitate hand-made Secrets; without username and password the API
    server needs ``secret_type="Opaque"``.
    """
    secret_password = app.password if password is None else password
    host = f"{cluster}-rw"
    namespaced, fqdn = f"{host}.{namespace}:5432", f"{host}.{namespace}.svc.cluster.local:5432"
    userinfo = f"{app.user}:{quote(secret_password, safe='')}"
    jdbc_query = f"?password={quote(secret_password, safe='')}&user={app.user}"
    data = {
        "username": app.user,
        "user": app.user,
        "password": secret_password,
        "dbname": app.dbname,
        "host": host,
        "port": "5432",
        "pgpass": f"{host}:5432:{app.dbname}:{app.user}:{secret_password}\n",
        "uri": f"postgresql://{userinfo}@{namespaced}/{app.dbname}",
        "jdbc-uri": f"jdbc:postgresql://{namespaced}/{app.dbname}{jdbc_query}",
        "fqdn-uri": f"postgresql://{userinfo}@{fqdn}/{app.dbname}",
        "fqdn-jdbc-uri": f"jdbc:postgresql://{fqdn}/{app.dbname}{jdbc_query}",
    }
    for key in drop_keys:
        data.pop(key)
    owner = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, cluster
    )
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(
            name=f"{cluster}-app",
            namespace=namespace,
            labels={
                "cnpg.io/cluster": cluster,
                "cnpg.io/userType": "app",
                "cnpg.io/reload": "true",
                "app.kubernetes.io/managed-by": "cloudnative-pg",
            },
            owner_references=[
                client.V1OwnerReference(
                    api_version=f"{GROUP}/{VERSION}",
                    kind="Cluster",
                    name=cluster,
                    uid=owner["metadata"]["uid"],
                    controller=True,
                )
            ],
        ),
        type=secret_type,
        data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    )
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespaced_secret(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_secret(f"{cluster}-app", namespace, body)

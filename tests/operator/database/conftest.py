"""Fixtures of the operator's database step: a pipeline in a test namespace, CNPG's app user on the server."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.database import HOST_OVERRIDE_ENV
from streamflow_dev.standins.cnpg import AppDatabase, cnpg_app_database

CLUSTER = "pg-main"


@pytest.fixture
def app_db(pg_server_dsn: str) -> Iterator[AppDatabase]:
    """CNPG's application user and the database it owns, on the real local PostgreSQL."""
    with cnpg_app_database(pg_server_dsn) as app:
        yield app


@pytest.fixture
def rw_host_override(app_db: AppDatabase, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the operator's `-rw` connection at the local server, as in development outside a cluster."""
    value = f"{app_db.host}:{app_db.port}"
    monkeypatch.setenv(HOST_OVERRIDE_ENV, value)
    return value


def pipeline_in(doc: dict[str, Any], namespace: str, database: str, **changes: Any) -> FraudPipeline:
    """The sample pipeline moved to ``namespace``, using CNPG cluster ``pg-main`` and ``database``."""
    doc = copy.deepcopy(doc)
    doc["metadata"]["namespace"] = namespace
    doc["spec"]["database"].update({"cnpgCluster": CLUSTER, "database": database, **changes})
    return FraudPipeline.model_validate(doc)

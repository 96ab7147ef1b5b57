"""Pipelines sharing a database: a schema this process found current moments ago is not checked again, and
neither are the CNPG Cluster and Secret that led to it."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fraud_operator import database
from fraud_operator.db import DatabaseUnavailable, MigrationResult


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every app_connection() call (it reads the Cluster and the Secret); it finds the same database."""
    calls: list[str] = []
    found = database.AppConnection(dsn="host=db dbname=app", password="pw", target="app@db:5432/app")

    def app_connection(api_client: Any, namespace: str, *_: Any, **__: Any) -> database.AppConnection:
        calls.append(namespace)
        return found

    monkeypatch.setattr(database, "app_connection", app_connection)
    monkeypatch.setattr(database, "_connections", {})
    return calls


@pytest.fixture
def migrations(monkeypatch: pytest.MonkeyPatch, lookups: list[str]) -> Iterator[list[str]]:
    """Every migrate() call, by DSN."""
    calls: list[str] = []
    monkeypatch.setattr(database, "_current", {})

    def migrate(dsn: str, *_: Any, **__: Any) -> MigrationResult:
        calls.append(dsn)
        return MigrationResult(applied=(), schema_version=8)

    monkeypatch.setattr(database, "migrate", migrate)
    yield calls


def _reconcile(fresh_within: float, namespace: str = "ns") -> database.DatabaseOutcome:
    db = SimpleNamespace(cnpg_cluster="pg", database="app", credentials_secret_ref=None)
    pipeline: Any = SimpleNamespace(metadata=SimpleNamespace(name="p"), spec=SimpleNamespace(database=db))
    return database.reconcile_database(None, namespace, pipeline, fresh_within=fresh_within)


def test_a_schema_current_moments_ago_is_not_checked_again(migrations: list[str], lookups: list[str]) -> None:
    assert _reconcile(30.0).schema_version == 8
    outcome = _reconcile(30.0)
    assert outcome.migrated and outcome.schema_version == 8
    assert len(migrations) == 1
    assert lookups == ["ns"]  # the Cluster and Secret were read once
    _reconcile(30.0, namespace="other")  # another namespace's Cluster is another database
    assert lookups == ["ns", "other"]


def test_without_freshness_every_call_checks(migrations: list[str], lookups: list[str]) -> None:
    """The level checks pass no freshness: they are what verifies the schema once per interval."""
    _reconcile(0.0)
    _reconcile(0.0)
    assert len(migrations) == 2
    assert len(lookups) == 2


def test_a_failure_forgets_the_schema(
    migrations: list[str], lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _reconcile(30.0)

    def unavailable(*_: Any, **__: Any) -> MigrationResult:
        raise DatabaseUnavailable("down")

    monkeypatch.setattr(database, "migrate", unavailable)
    assert not _reconcile(0.0).migrated
    monkeypatch.setattr(database, "migrate", lambda *a, **k: MigrationResult(applied=(9,), schema_version=9))
    assert _reconcile(30.0).schema_version == 9  # checked again, not taken from before the failure
    assert len(lookups) == 3  # the Cluster and Secret too

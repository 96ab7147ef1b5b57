"""Fixtures of the database tests: a freshly migrated database and a small helper to read and write it."""

from __future__ import annotations

import pytest
from fraud_operator.db.migrations import migrate

from tests.db.support import Db


@pytest.fixture
def migrated_dsn(postgres_dsn: str) -> str:
    """A fresh database with every migration applied."""
    migrate(postgres_dsn)
    return postgres_dsn


@pytest.fixture
def db(postgres_dsn: str) -> Db:
    return Db(postgres_dsn)

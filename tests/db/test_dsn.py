"""Credentials never leak: redaction, and real refused connections whose errors carry no password."""

from __future__ import annotations

import socket
import traceback
import uuid

import pytest
from fraud_operator.db.dsn import DatabaseUnavailable, describe, dsn_from_env, redact
from fraud_operator.db.migrations import migrate, status
from fraud_operator.db.quality import check_quality
from fraud_operator.db.transforms import run_transform

from tests.db.support import Db

SECRET = "Sup3r-s3cret-Pa55"


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://app:{SECRET}@db.example:5432/app",
        f"postgres://app:{SECRET.replace('-', '%2D')}@db.example/app?sslmode=require",
        f"host=db.example user=app password={SECRET} dbname=app",
        f"host=db.example user=app password='{SECRET}' dbname=app",
    ],
)
def test_redact_removes_dsn_and_password(dsn: str) -> None:
    text = f"failed for {dsn}: password {SECRET} rejected"

    cleaned = redact(text, dsn)

    assert SECRET not in cleaned
    assert "<dsn>" in cleaned and "password *** rejected" in cleaned
    assert SECRET not in describe(dsn)


def test_describe_names_the_database_without_password() -> None:
    assert describe(f"postgresql://app:{SECRET}@db.example:6543/fraud") == "app@db.example:6543/fraud"


def test_missing_dsn_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMFLOW_PG_DSN", raising=False)
    with pytest.raises(DatabaseUnavailable, match="STREAMFLOW_PG_DSN"):
        dsn_from_env(None)
    monkeypatch.setenv("STREAMFLOW_PG_DSN", "postgresql://x@h/d")
    assert dsn_from_env(None) == "postgresql://x@h/d"


def test_malformed_dsn_is_refused_without_echoing_it() -> None:
    dsn = f"postgresql://app:{SECRET}@db.example:notaport/app"

    with pytest.raises(DatabaseUnavailable) as raised:
        migrate(dsn)

    assert SECRET not in "".join(traceback.format_exception(raised.value))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_database_is_unavailable_without_password() -> None:
    dsn = f"postgresql://app:{SECRET}@127.0.0.1:{_free_port()}/app"

    with pytest.raises(DatabaseUnavailable) as raised:
        migrate(dsn)

    assert "app@127.0.0.1" in str(raised.value)
    assert SECRET not in "".join(traceback.format_exception(raised.value))


@pytest.mark.postgres
def test_wrong_password_never_appears_in_errors(db: Db) -> None:
    user = f"app_{uuid.uuid4().hex[:8]}"
    db.rows(f"CREATE ROLE {user} LOGIN PASSWORD 'the-right-one-{uuid.uuid4().hex}'")
    try:
        head, tail = db.dsn.split("://", 1)
        wrong = f"{head}://{user}:{SECRET}@{tail.split('@', 1)[1]}"
        errors: list[BaseException] = []
        for call in (
            lambda: migrate(wrong),
            lambda: status(wrong),
            lambda: run_transform(wrong, "bronze_to_silver"),
            lambda: check_quality(wrong),
        ):
            with pytest.raises(DatabaseUnavailable) as raised:
                call()
            errors.append(raised.value)
    finally:
        db.rows(f"DROP ROLE {user}")

    for error in errors:
        text = "".join(traceback.format_exception(error)) + repr(error)
        assert "password authentication failed" in text
        assert SECRET not in text
        assert wrong not in text

"""The local PostgreSQL is Debian's real server with real persistence and password authentication."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.postgres


def test_version_is_the_debian_server(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        row = conn.execute("SELECT version()").fetchone()
    assert row is not None
    assert row[0].startswith("PostgreSQL ") and "Debian" in row[0]


def test_a_table_survives_a_reconnect(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO kept VALUES (1, 'still here')")
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT v FROM kept WHERE id = 1").fetchone() == ("still here",)


def test_a_wrong_password_is_refused(postgres_dsn: str) -> None:
    scheme, rest = postgres_dsn.split("://", 1)
    userinfo, hostpart = rest.split("@", 1)
    user = userinfo.split(":", 1)[0]
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"{scheme}://{user}:wrong@{hostpart}", connect_timeout=5)
    assert "password authentication failed" in str(refused.value)

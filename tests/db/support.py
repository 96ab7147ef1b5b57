"""Plain SQL access for the database tests (imported as ``tests.db.support``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

__all__ = ["Db"]


@dataclass
class Db:
    """Plain SQL access to one test database (autocommit, one short connection per call)."""

    dsn: str

    def rows(self, sql: str, params: tuple[Any, ...] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(sql.encode(), params)
            return cur.fetchall() if cur.description else []

    def value(self, sql: str, params: tuple[Any, ...] | dict[str, Any] | None = None) -> Any:
        return self.rows(sql, params)[0][0]

    def load_bronze(self, payloads: Iterable[dict[str, Any]]) -> None:
        """Insert raw transaction payloads into bronze, as the Kafka loader would."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for payload in payloads:
                conn.execute("INSERT INTO bronze.raw_transactions (payload) VALUES (%s)", (Jsonb(payload),))

"""The database area: schema migrations, medallion transforms and data quality checks on PostgreSQL.

The operator imports :func:`migrate` from here; everything else is reachable as ``streamflow db ...``.
"""

from __future__ import annotations

from fraud_operator.db.dsn import DatabaseUnavailable
from fraud_operator.db.migrations import (
    MigrationError,
    MigrationFailure,
    MigrationIntegrityError,
    MigrationResult,
    migrate,
    status,
)

__all__ = [
    "DatabaseUnavailable",
    "MigrationError",
    "MigrationFailure",
    "MigrationIntegrityError",
    "MigrationResult",
    "migrate",
    "status",
]

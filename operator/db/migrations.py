"""Schema migrations: ordered SQL files applied once each, in their own transaction, under an advisory lock.

CNPG creates the database but not the tables, so the operator (and ``streamflow db migrate``) applies
``fraud_operator/sql/migrations/NNN_name.sql`` (package data, so every install carries them) as the
application user. History lives in ``public.schema_migrations``
(see :data:`HISTORY_DDL`). The runner refuses to touch a database whose history disagrees with the files
(an applied file changed, or a version missing from the middle), because applying around such a gap
leaves a schema nobody has tested.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.abc import Traversable
from importlib.resources import files

import psycopg
from fraud_operator.db.dsn import DatabaseUnavailable, connect, db_error, describe, redact
from fraud_operator.settings import MIGRATIONS_DIR
from psycopg.rows import TupleRow

__all__ = [
    "ADVISORY_LOCK_KEY",
    "HISTORY_DDL",
    "MIGRATIONS_DIR_ENV",
    "AppliedMigration",
    "Migration",
    "MigrationError",
    "MigrationFailure",
    "MigrationIntegrityError",
    "MigrationResult",
    "MigrationState",
    "default_migrations_dir",
    "load_migrations",
    "migrate",
    "status",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR_ENV = MIGRATIONS_DIR.name
# Fixed key of pg_advisory_lock shared by every runner of every version ("SFMIGRAT" in ASCII).
ADVISORY_LOCK_KEY = 0x53464D4947524154
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

# The migration history. Created by the runner (not by a migration) because it must exist before the first
# migration can be recorded; one row per applied version, written in the same transaction as the migration.
HISTORY_DDL = b"""
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version     integer PRIMARY KEY CHECK (version > 0),
    name        text NOT NULL,
    checksum    text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    applied_by  text NOT NULL DEFAULT current_user
)
"""


class MigrationFailure(Exception):
    """Base of everything :func:`migrate` raises; ``reason`` is a short word for status conditions."""

    reason = "MigrationFailed"


class MigrationError(MigrationFailure):
    """Migration ``name`` failed and was rolled back; ``db_error`` is the database's (redacted) error."""

    def __init__(self, name: str, db_error: str) -> None:
        super().__init__(f"migration {name} failed and was rolled back: {db_error}")
        self.name = name
        self.db_error = db_error


class MigrationIntegrityError(MigrationFailure):
    """The files and the database's history disagree; nothing was applied. ``problems`` lists each one."""

    reason = "MigrationIntegrity"

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("refusing to migrate: " + "; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: bytes
    checksum: str

    @property
    def label(self) -> str:
        """``NNN_name`` as in the file name."""
        return f"{self.version:03d}_{self.name}"


@dataclass(frozen=True)
class AppliedMigration:
    """A row of ``schema_migrations``."""

    version: int
    name: str
    checksum: str
    applied_at: datetime
    duration_ms: int


@dataclass(frozen=True)
class MigrationResult:
    """What one :func:`migrate` call did: versions it applied (possibly none) and the schema version now."""

    applied: tuple[int, ...]
    schema_version: int


@dataclass(frozen=True)
class MigrationState:
    """One line of :func:`status`: ``state`` is applied, pending, changed (checksum) or missing (no file)."""

    version: int
    name: str
    state: str
    applied_at: datetime | None
    duration_ms: int | None


def default_migrations_dir() -> Traversable:
    """``$STREAMFLOW_MIGRATIONS_DIR`` if set, else the migrations this package carries as package data."""
    override = MIGRATIONS_DIR.read()
    if override is not None:
        return override
    return files("fraud_operator").joinpath("sql", "migrations")


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """Read ``NNN_name.sql`` files in version order; versions must run 1..N without gaps or duplicates."""
    packaged = directory is None and MIGRATIONS_DIR.read() is None
    root = directory if directory is not None else default_migrations_dir()
    files_found = (
        sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
        if root.is_dir()
        else []
    )
    if packaged and not files_found:
        raise MigrationIntegrityError(
            [
                f"this install of fraud_operator carries no migrations ({root} is missing or empty): the "
                "wheel was built without its package data; reinstall streamflow from a release wheel, or set "
                f"{MIGRATIONS_DIR_ENV} to a directory of migrations"
            ]
        )
    if not root.is_dir():
        raise MigrationIntegrityError(
            [
                f"migrations directory {root} does not exist "
                f"(unset {MIGRATIONS_DIR_ENV} to use the packaged migrations, or point it at a directory)"
            ]
        )
    migrations: dict[int, Migration] = {}
    problems: list[str] = []
    for path in files_found:
        match = _FILE_NAME.match(path.name)
        if match is None:
            problems.append(f"{path.name}: file name is not NNN_lower_snake_name.sql")
            continue
        version = int(match.group(1))
        if version in migrations:
            problems.append(f"{path.name}: version {version} is also {migrations[version].label}.sql")
            continue
        sql = path.read_bytes()
        migrations[version] = Migration(version, match.group(2), sql, hashlib.sha256(sql).hexdigest())
    expected = set(range(1, max(migrations, default=0) + 1))
    problems.extend(f"migration {v:03d} is missing from {root}" for v in sorted(expected - set(migrations)))
    if problems:
        raise MigrationIntegrityError(problems)
    return [migrations[v] for v in sorted(migrations)]


def _history(conn: psycopg.Connection[TupleRow]) -> dict[int, AppliedMigration]:
    exists = conn.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at, duration_ms "
        "FROM public.schema_migrations ORDER BY version"
    ).fetchall()
    return {r[0]: AppliedMigration(*r) for r in rows}


def _integrity_problems(files: Sequence[Migration], history: dict[int, AppliedMigration]) -> list[str]:
    by_version = {m.version: m for m in files}
    problems: list[str] = []
    for applied in history.values():
        migration = by_version.get(applied.version)
        if migration is None:
            problems.append(f"applied migration {applied.version:03d}_{applied.name} has no file any more")
        elif migration.checksum != applied.checksum:
            problems.append(
                f"applied migration {migration.label} changed since it was applied "
                f"(checksum {applied.checksum[:12]}... in the database, "
                f"{migration.checksum[:12]}... on disk); "
                "add a new migration instead of editing an applied one"
            )
    newest = max(history, default=0)
    problems.extend(
        f"migration {m.label} is pending but {newest:03d} is already applied (missing from the middle)"
        for m in files
        if m.version < newest and m.version not in history
    )
    return problems


def _apply(conn: psycopg.Connection[TupleRow], migration: Migration, dsn: str) -> None:
    started = time.perf_counter()
    try:
        with conn.transaction():
            conn.execute(migration.sql)
            duration_ms = round((time.perf_counter() - started) * 1000)
            conn.execute(
                "INSERT INTO public.schema_migrations (version, name, checksum, duration_ms) "
                "VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name, migration.checksum, duration_ms),
            )
    except psycopg.Error as exc:
        if conn.closed:
            raise DatabaseUnavailable(
                f"lost the connection to {describe(dsn)} while applying {migration.label}: "
                + redact(str(exc).strip(), dsn)
            ) from None
        raise MigrationError(migration.label, db_error(exc, dsn)) from None
    log.info("applied migration %s in %d ms", migration.label, duration_ms)


def migrate(
    dsn: str, migrations_dir: Traversable | None = None, *, lock_timeout_s: float = 300.0
) -> MigrationResult:
    """Apply every pending migration in order; safe to call from many runners at once.

    Holds ``pg_advisory_lock(ADVISORY_LOCK_KEY)`` for the whole run, so concurrent runners queue and each
    migration is applied exactly once. Raises :class:`MigrationIntegrityError` before applying anything when
    history and files disagree, :class:`MigrationError` naming the first migration that fails (its
    transaction rolled back, later ones not attempted), :class:`DatabaseUnavailable` when the database
    cannot be reached. No error message contains the DSN or its password.
    """
    files = load_migrations(migrations_dir)
    with connect(dsn, application_name="streamflow-migrate") as conn:
        try:
            conn.execute(f"SET lock_timeout = {int(lock_timeout_s * 1000)}".encode())
            conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        except psycopg.Error as exc:
            raise DatabaseUnavailable(
                f"could not take the migration lock on {describe(dsn)}: {redact(str(exc).strip(), dsn)}"
            ) from None
        try:
            try:
                conn.execute(HISTORY_DDL)
                history = _history(conn)
            except psycopg.Error as exc:
                raise MigrationError("schema_migrations", db_error(exc, dsn)) from None
            problems = _integrity_problems(files, history)
            if problems:
                raise MigrationIntegrityError(problems)
            applied: list[int] = []
            for migration in files:
                if migration.version not in history:
                    _apply(conn, migration, dsn)
                    applied.append(migration.version)
        finally:
            # Closing the session releases the lock too, so a failed unlock must not mask the real error.
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    version = max([*history, *applied], default=0)
    log.info("schema of %s at version %d (%d applied now)", describe(dsn), version, len(applied))
    return MigrationResult(applied=tuple(applied), schema_version=version)


def status(dsn: str, migrations_dir: Traversable | None = None) -> list[MigrationState]:
    """Every known migration with its state, read-only (creates nothing, takes no lock)."""
    files = load_migrations(migrations_dir)
    with connect(dsn, application_name="streamflow-migrate-status") as conn:
        try:
            history = _history(conn)
        except psycopg.Error as exc:
            raise DatabaseUnavailable(
                f"cannot read migration history on {describe(dsn)}: {redact(str(exc).strip(), dsn)}"
            ) from None
    states: list[MigrationState] = []
    for m in files:
        row = history.get(m.version)
        if row is None:
            states.append(MigrationState(m.version, m.name, "pending", None, None))
        else:
            state = "applied" if row.checksum == m.checksum else "changed"
            states.append(MigrationState(m.version, m.name, state, row.applied_at, row.duration_ms))
    known = {m.version for m in files}
    states.extend(
        MigrationState(r.version, r.name, "missing", r.applied_at, r.duration_ms)
        for r in history.values()
        if r.version not in known
    )
    return sorted(states, key=lambda s: s.version)

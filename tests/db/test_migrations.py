"""The migration runner against a real PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fraud_operator.db.migrations import (
    MIGRATIONS_DIR_ENV,
    MigrationError,
    MigrationIntegrityError,
    default_migrations_dir,
    load_migrations,
    migrate,
    status,
)

from tests.db.support import Db

pytestmark = pytest.mark.postgres

SHIPPED = load_migrations()
N = len(SHIPPED)

EXPECTED_TABLES = {
    "bronze.raw_transactions",
    "bronze.fraud_labels",
    "bronze.dead_letter_events",
    "silver.transactions",
    "silver.rejected_transactions",
    "gold.dim_customer",
    "gold.dim_terminal",
    "gold.fact_transactions",
    "gold.fact_fraud_alerts",
    "gold.customer_features",
    "gold.terminal_features",
    "gold.model_scores",
}


def copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), target)
    return target


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    assert [m.version for m in SHIPPED] == list(range(1, N + 1))
    assert N >= 7


def test_fresh_database_gets_every_migration_and_history(db: Db) -> None:
    result = migrate(db.dsn)

    assert result.applied == tuple(range(1, N + 1))
    assert result.schema_version == N
    tables = {f"{s}.{t}" for s, t in db.rows("SELECT schemaname, tablename FROM pg_tables")}
    assert tables >= EXPECTED_TABLES | {"public.schema_migrations"}
    history = db.rows("SELECT version, name, checksum, duration_ms, applied_at FROM public.schema_migrations")
    assert [(v, n, c) for v, n, c, _, _ in sorted(history)] == [
        (m.version, m.name, m.checksum) for m in SHIPPED
    ]
    assert all(duration >= 0 and applied_at is not None for *_, duration, applied_at in history)
    disk = (default_migrations_dir() / "001_schemas.sql").read_bytes()
    assert history[0][2] == hashlib.sha256(disk).hexdigest()


def test_migrates_as_an_unprivileged_database_owner(db: Db) -> None:
    """As on CNPG: the app user owns its database but is no superuser and cannot create roles or databases."""
    suffix = uuid.uuid4().hex[:10]
    user, name, password = f"app_{suffix}", f"appdb_{suffix}", uuid.uuid4().hex
    db.rows(f"CREATE ROLE {user} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'")
    db.rows(f"CREATE DATABASE {name} OWNER {user}")
    try:
        head, tail = db.dsn.split("://", 1)
        host = tail.split("@", 1)[1].rsplit("/", 1)[0]
        app = Db(f"{head}://{user}:{password}@{host}/{name}")

        assert migrate(app.dsn).schema_version == N
        owners = {
            o
            for (o,) in app.rows(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname <> 'pg_catalog' "
                "AND schemaname <> 'information_schema'"
            )
        }
        assert owners == {user}
    finally:
        db.rows(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        db.rows(f"DROP ROLE IF EXISTS {user}")


def test_second_run_applies_nothing(db: Db) -> None:
    migrate(db.dsn)
    again = migrate(db.dsn)

    assert again.applied == ()
    assert again.schema_version == N
    assert db.value("SELECT count(*) FROM public.schema_migrations") == N


def test_racing_runners_apply_each_migration_once(db: Db, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    # A slow last migration keeps the first runner inside the lock while the others arrive.
    (directory / f"{N + 1:03d}_slow.sql").write_text(
        "SELECT pg_sleep(0.5);\nCREATE TABLE gold.slow (id int);\n"
    )
    runners = 6
    barrier = threading.Barrier(runners)

    def run() -> tuple[int, ...]:
        barrier.wait()
        return migrate(db.dsn, directory).applied

    with ThreadPoolExecutor(runners) as pool:
        results = list(pool.map(lambda _: run(), range(runners)))

    assert sorted(v for applied in results for v in applied) == list(range(1, N + 2))
    assert sum(1 for applied in results if applied) == 1
    assert db.value("SELECT count(*) FROM public.schema_migrations") == N + 1
    assert db.value("SELECT count(DISTINCT version) FROM public.schema_migrations") == N + 1


def test_racing_processes_apply_each_migration_once(db: Db, tmp_path: Path) -> None:
    """Separate processes, as two operator replicas would be."""
    directory = copy_migrations(tmp_path)
    (directory / f"{N + 1:03d}_slow.sql").write_text("SELECT pg_sleep(0.5);\n")
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from fraud_operator.db.migrations import migrate\n"
        "print(json.dumps(migrate(sys.argv[1], Path(sys.argv[2])).applied))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, db.dsn, str(directory)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]

    assert [proc.returncode for proc in procs] == [0, 0, 0, 0]
    applied = [v for out in outputs for v in json.loads(out)]
    assert sorted(applied) == list(range(1, N + 2))
    assert db.value("SELECT count(*) FROM public.schema_migrations") == N + 1


def test_changed_applied_migration_is_refused_and_nothing_applied(db: Db, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    migrate(db.dsn, directory)
    with (directory / "003_silver.sql").open("a") as f:
        f.write("\n-- an innocent-looking edit\n")
    (directory / f"{N + 1:03d}_next.sql").write_text("CREATE TABLE gold.next_thing (id int);\n")

    with pytest.raises(MigrationIntegrityError) as raised:
        migrate(db.dsn, directory)

    assert "003_silver" in str(raised.value) and "changed" in str(raised.value)
    assert db.value("SELECT to_regclass('gold.next_thing')") is None
    assert db.value("SELECT max(version) FROM public.schema_migrations") == N
    assert {s.version: s.state for s in status(db.dsn, directory)}[3] == "changed"


def test_file_missing_from_the_middle_is_refused(db: Db, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    migrate(db.dsn, directory)
    (directory / "004_gold_dimensions.sql").unlink()

    with pytest.raises(MigrationIntegrityError) as raised:
        migrate(db.dsn, directory)

    assert "004 is missing" in str(raised.value)


def test_gap_in_history_is_refused(db: Db, tmp_path: Path) -> None:
    """A version pending below the newest applied one (e.g. merged late from a branch) is refused."""
    migrate(db.dsn)
    db.rows("DELETE FROM public.schema_migrations WHERE version = 4")

    with pytest.raises(MigrationIntegrityError) as raised:
        migrate(db.dsn)

    assert "004_gold_dimensions is pending" in str(raised.value)
    assert "missing from the middle" in str(raised.value)
    assert db.value("SELECT count(*) FROM public.schema_migrations") == N - 1


def test_badly_named_or_duplicate_files_are_refused(tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    (directory / "8_oops.sql").write_text("SELECT 1;")
    (directory / "002_again.sql").write_text("SELECT 1;")

    with pytest.raises(MigrationIntegrityError) as raised:
        load_migrations(directory)

    assert "8_oops.sql: file name" in str(raised.value)
    assert "002_bronze.sql: version 2 is also 002_again.sql" in str(raised.value)


def test_migrations_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "001_only.sql").write_text("SELECT 1;")
    monkeypatch.setenv(MIGRATIONS_DIR_ENV, str(tmp_path))

    assert [m.label for m in load_migrations()] == ["001_only"]
    with pytest.raises(MigrationIntegrityError, match="does not exist"):
        load_migrations(tmp_path / "nowhere")


def test_failing_migration_leaves_no_trace_and_names_itself(db: Db, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    broken = directory / f"{N + 1:03d}_half_done.sql"
    broken.write_text(
        "CREATE TABLE gold.half_done (id int);\n"
        "INSERT INTO gold.half_done VALUES (1);\n"
        "CREATE INDEX half_done_idx ON gold.half_done (id);\n"
        "SELECT * FROM gold.no_such_table;\n"
    )

    with pytest.raises(MigrationError) as raised:
        migrate(db.dsn, directory)

    error = raised.value
    assert error.name == f"{N + 1:03d}_half_done"
    assert "42P01" in error.db_error and "no_such_table" in error.db_error
    assert f"{N + 1:03d}_half_done" in str(error)
    assert db.value("SELECT to_regclass('gold.half_done')") is None
    assert db.value("SELECT to_regclass('gold.half_done_idx')") is None
    assert db.value("SELECT max(version) FROM public.schema_migrations") == N

    broken.write_text("CREATE TABLE gold.half_done (id int);\n")
    fixed = migrate(db.dsn, directory)
    assert fixed.applied == (N + 1,)
    assert db.value("SELECT to_regclass('gold.half_done')::text") == "gold.half_done"


def test_status_lists_applied_and_pending(db: Db, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    assert {s.state for s in status(db.dsn, directory)} == {"pending"}
    assert db.value("SELECT to_regclass('public.schema_migrations')") is None  # status is read-only

    migrate(db.dsn, directory)
    (directory / f"{N + 1:03d}_later.sql").write_text("SELECT 1;\n")
    states = status(db.dsn, directory)

    assert [(s.version, s.state) for s in states] == [(v, "applied") for v in range(1, N + 1)] + [
        (N + 1, "pending")
    ]
    assert all(s.applied_at is not None for s in states[:N])

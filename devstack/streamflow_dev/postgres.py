"""A private PostgreSQL server from Debian's packages, on its own port and data directory.

Not the system service: ``initdb`` into the run directory, password authentication over TCP (so wrong
credentials are really refused), started as an unprivileged user because PostgreSQL refuses to run as root.
``restart_postgres`` starts the server again on the same data directory and port (after a crash, PostgreSQL
replays its WAL: the chaos tests).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .procs import ComponentError, ManagedProcess, free_port, start_process, wait_until

__all__ = ["PostgresEndpoints", "find_pg_bin", "restart_postgres", "start_postgres"]

SUPERUSER = "streamflow"


@dataclass(frozen=True)
class PostgresEndpoints:
    """How to reach the server: the superuser DSN (database ``postgres``) and the data directory."""

    dsn: str
    host: str
    port: int
    user: str
    password: str
    data_dir: Path
    log: Path | None = None


def find_pg_bin() -> Path:
    """The newest Debian PostgreSQL server bin directory (``/usr/lib/postgresql/N/bin``)."""
    override = os.environ.get("STREAMFLOW_PG_BIN")
    if override:
        return Path(override)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if not candidates:
        raise ComponentError("postgresql", "no server under /usr/lib/postgresql (apt-get install postgresql)")
    return candidates[-1].parent


def _run_as() -> list[str]:
    """Prefix that drops root to the ``postgres`` user; empty when not root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ComponentError(
            "postgresql", "running as root but there is no `postgres` user to run the server"
        ) from exc
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ComponentError("postgresql", "running as root but `runuser` is missing")
    return [runuser, "-u", "postgres", "--"]


def start_postgres(
    run_dir: Path, started: list[ManagedProcess], *, tied_to_parent: bool = False
) -> PostgresEndpoints:
    """initdb a fresh cluster in ``run_dir/postgres`` and start it on a free port."""
    bin_dir = find_pg_bin()
    pg_dir = run_dir / "postgres"
    data, sock = pg_dir / "data", pg_dir / "sock"
    pg_dir.mkdir(parents=True, exist_ok=True)
    sock.mkdir(exist_ok=True)
    password = secrets.token_urlsafe(18)
    pwfile = pg_dir / "pwfile"
    pwfile.write_text(password + "\n")
    prefix = _run_as()
    if prefix:
        info = pwd.getpwnam("postgres")
        for path in (pg_dir, sock, pwfile):
            os.chown(path, info.pw_uid, info.pw_gid)
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    init_log = logs / "postgres-initdb.log"
    with init_log.open("w") as fh:
        result = subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
        )
    pwfile.unlink()
    if result.returncode != 0:
        raise ComponentError("postgresql", "initdb failed", init_log)
    port = free_port()
    server_log = logs / "postgres.log"
    server_log.touch()
    if prefix:
        info = pwd.getpwnam("postgres")
        os.chown(server_log, info.pw_uid, info.pw_gid)
    endpoints = PostgresEndpoints(
        dsn=f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres",
        host="127.0.0.1",
        port=port,
        user=SUPERUSER,
        password=password,
        data_dir=data,
        log=server_log,
    )
    _start_server(endpoints, started, tied_to_parent=tied_to_parent)
    return endpoints


def _start_server(
    endpoints: PostgresEndpoints, started: list[ManagedProcess], *, tied_to_parent: bool
) -> ManagedProcess:
    assert endpoints.log is not None
    proc = start_process(
        "postgresql",
        [
            *_run_as(),
            str(find_pg_bin() / "postgres"),
            "-D",
            str(endpoints.data_dir),
            "-p",
            str(endpoints.port),
            "-k",
            str(endpoints.data_dir.parent / "sock"),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "max_prepared_transactions=20",
        ],
        endpoints.log,
        tied_to_parent=tied_to_parent,
    )
    started.append(proc)

    def ready() -> bool:
        import psycopg

        with psycopg.connect(endpoints.dsn, connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    wait_until("postgresql", ready, timeout=60, process=proc, what="accepting connections")
    return proc


def restart_postgres(
    endpoints: PostgresEndpoints, started: list[ManagedProcess], *, tied_to_parent: bool = False
) -> ManagedProcess:
    """Start the server of ``endpoints`` again on its data directory and port (it must not be running).

    fsync is off, so this survives a crash of the server's processes (the kernel keeps their writes), not
    one of the machine. Appends the process to ``started``.
    """
    if endpoints.log is None or not (endpoints.data_dir / "PG_VERSION").is_file():
        raise ComponentError("postgresql", f"no data directory to restart from: {endpoints.data_dir}")
    return _start_server(endpoints, started, tied_to_parent=tied_to_parent)

"""Connecting without ever leaking the password.

A DSN carries the application user's password (CNPG's ``<cluster>-app`` Secret). libpq echoes a malformed
connection string back in its error, and connection errors are what ends up in logs, Events and the
pipeline's status, so every database error we surface goes through :func:`redact` first.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import psycopg
from fraud_models.env_settings import PG_DSN
from psycopg import conninfo
from psycopg.rows import TupleRow

__all__ = [
    "DSN_ENV",
    "DatabaseUnavailable",
    "connect",
    "db_error",
    "describe",
    "dsn_from_env",
    "redact",
]

DSN_ENV = PG_DSN.name

_KEYWORD_PASSWORD = re.compile(r"""password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)""", re.IGNORECASE)
_URI_USERINFO = re.compile(r"(postgres(?:ql)?://[^:/@\s]*):([^@\s]*)@", re.IGNORECASE)


class DatabaseUnavailable(Exception):
    """The database could not be reached or refused us (wrong password, unknown host, ...).

    ``reason`` is a short machine-readable word for conditions; the message is already redacted.
    """

    reason = "DatabaseUnavailable"


def _secrets(dsn: str) -> list[str]:
    """Every spelling of the password that could appear in a message, longest first."""
    found: set[str] = set()
    try:
        password = conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        found.add(str(password))
    for match in _KEYWORD_PASSWORD.finditer(dsn):
        found.add(match.group(1).strip("'"))
    for match in _URI_USERINFO.finditer(dsn):
        found.update({match.group(2), unquote(match.group(2))})
    found.discard("")
    return sorted(found, key=len, reverse=True)


def redact(text: str, dsn: str) -> str:
    """``text`` with the DSN and its password replaced, so it is safe for logs, Events and status."""
    if dsn:
        text = text.replace(dsn, "<dsn>")
    for secret in _secrets(dsn):
        text = text.replace(secret, "***")
    text = _URI_USERINFO.sub(r"\1:***@", text)
    return _KEYWORD_PASSWORD.sub("password=***", text)


def db_error(exc: psycopg.Error, dsn: str) -> str:
    """One redacted line for a statement error: ``SQLSTATE: message (detail)``, no libpq LINE excerpt."""
    primary = exc.diag.message_primary or (str(exc).strip().splitlines() or ["unknown error"])[0]
    detail = f" ({exc.diag.message_detail})" if exc.diag.message_detail else ""
    return redact(f"{exc.sqlstate or 'error'}: {primary}{detail}", dsn)


def describe(dsn: str) -> str:
    """``user@host:port/dbname`` for messages: enough to tell databases apart, never the password."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        try:
            parts = urlsplit(dsn)
        except ValueError:
            return "<unparsable dsn>"
        user = parts.username or ""
        return f"{user}@{parts.hostname or ''}:{parts.port or ''}{parts.path}"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{params.get('user', '')}@{host}:{params.get('port', 5432)}/{params.get('dbname', '')}"


def dsn_from_env(dsn: str | None) -> str:
    """The given DSN, else ``$STREAMFLOW_PG_DSN``; a clear error when neither is set."""
    value = dsn or PG_DSN.read() or ""
    if not value:
        raise DatabaseUnavailable(f"no database given: pass --dsn or set {DSN_ENV}")
    return value


def connect(dsn: str, *, application_name: str, connect_timeout: int = 10) -> psycopg.Connection[TupleRow]:
    """An autocommit connection; failures raise :class:`DatabaseUnavailable` with a redacted message."""
    try:
        conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        raise DatabaseUnavailable(
            "invalid DSN: not a libpq connection string or postgresql:// URI (contents not shown)"
        ) from None
    try:
        return psycopg.connect(
            dsn, autocommit=True, connect_timeout=connect_timeout, application_name=application_name
        )
    except psycopg.Error as exc:
        message = redact(str(exc).strip(), dsn)
        raise DatabaseUnavailable(f"cannot connect to {describe(dsn)}: {message}") from None

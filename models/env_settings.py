"""Environment settings (``STREAMFLOW_*``): one declaration each, read and validated the same way everywhere.

The primitive lives in the lowest layer so that the operator, the job and the command line declare their
settings with the same types and error messages; :mod:`fraud_operator.settings` gathers all of them into
the documented table. This module also declares the settings that ``fraud_models`` itself reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = [
    "DB_DSN",
    "MODEL_CACHE",
    "PG_DSN",
    "SETTINGS",
    "Kind",
    "Setting",
    "SettingError",
    "boolean",
    "host_port",
    "path",
    "positive_int",
    "positive_seconds",
    "text",
]

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingError(ValueError):
    """A ``STREAMFLOW_*`` variable holds a value its setting refuses; the message names the variable."""


@dataclass(frozen=True)
class Kind(Generic[T]):
    """How a setting's text becomes a value: the parser and the name the docs show for it."""

    name: str
    parse: Callable[[str], T]
    # JSON schema of a value in the chart's ``env`` map (helm --set makes 30 a number and true a bool)
    schema: Mapping[str, object]


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive, finite number of seconds")
    return value


def _positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError("expected a positive whole number")
    return int(raw)


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def _host_port(raw: str) -> tuple[str, int]:
    host, _, port = raw.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port")
    return host, int(port)


_NUMBER = r"^[0-9]+(\.[0-9]+)?$"
positive_seconds: Kind[float] = Kind(
    "seconds",
    _seconds,
    {"type": ["number", "string"], "exclusiveMinimum": 0, "pattern": _NUMBER},
)
positive_int: Kind[int] = Kind(
    "bytes",
    _positive_int,
    {"type": ["integer", "string"], "minimum": 1, "pattern": "^[1-9][0-9]*$"},
)
boolean: Kind[bool] = Kind(
    "boolean",
    _boolean,
    {"enum": [True, False, *sorted(_TRUE | _FALSE)]},
)
host_port: Kind[tuple[str, int]] = Kind(
    "host:port",
    _host_port,
    {"type": "string", "pattern": r"^\[?[^\s\[\]]+\]?:[0-9]{1,5}$"},
)
path: Kind[Path] = Kind("path", Path, {"type": "string", "minLength": 1})
text: Kind[str] = Kind("text", str, {"type": "string", "minLength": 1})


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One ``STREAMFLOW_*`` variable: its type, default (None: unset means "not configured") and meaning.

    ``default_doc`` is what the docs show when the default is computed (a temp dir, a package path).
    ``secret`` settings may carry passwords: the chart takes them only from a Secret.
    """

    name: str
    kind: Kind[T]
    default: T | None
    description: str
    default_doc: str = ""
    secret: bool = False

    def raw(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The variable's text, stripped; None when unset or empty."""
        value = (os.environ if environ is None else environ).get(self.name, "").strip()
        return value or None

    def read(self, environ: Mapping[str, str] | None = None) -> T | None:
        """The parsed value, else the default; a bad value raises :class:`SettingError` naming it."""
        raw = self.raw(environ)
        if raw is None:
            return self.default
        try:
            return self.kind.parse(raw)
        except ValueError as exc:
            shown = "<redacted>" if self.secret else repr(raw)
            raise SettingError(f"{self.name}={shown}: {exc}") from None

    def value(self, environ: Mapping[str, str] | None = None) -> T:
        """:meth:`read` for a setting with a default (never None)."""
        found = self.read(environ)
        if found is None:
            raise SettingError(f"{self.name} is not set and has no default")
        return found

    @property
    def shown_default(self) -> str:
        """The default as the docs show it."""
        if self.default_doc:
            return self.default_doc
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)


PG_DSN: Setting[str] = Setting(
    "STREAMFLOW_PG_DSN",
    text,
    None,
    "PostgreSQL DSN of `streamflow db` and `streamflow model compare` when `--dsn` is not given; "
    "`streamflow dev env` sets it for the local stack.",
    secret=True,
)
DB_DSN: Setting[str] = Setting(
    "STREAMFLOW_DB_DSN",
    text,
    None,
    "DSN of the scored database for `streamflow model compare`, tried before STREAMFLOW_PG_DSN.",
    secret=True,
)
MODEL_CACHE: Setting[Path] = Setting(
    "STREAMFLOW_MODEL_CACHE",
    path,
    None,
    "Where the job (and `streamflow model`) caches `https://` model artifacts, keyed by sha256 and URL; "
    "the job image sets it to its emptyDir.",
    default_doc="~/.cache/streamflow/models",
)

SETTINGS: tuple[Setting[Any], ...] = (MODEL_CACHE, PG_DSN, DB_DSN)

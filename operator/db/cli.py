"""``streamflow db migrate|status|transform|check``: the database area's commands.

Every command takes ``--dsn`` or ``$STREAMFLOW_PG_DSN``; errors print a redacted message and exit 1, never a
traceback carrying the DSN.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fraud_models.argtypes import share
from fraud_models.durations import DURATION_HELP, format_duration, timedelta_arg
from fraud_operator.db.dsn import DSN_ENV, DatabaseUnavailable, dsn_from_env
from fraud_operator.db.migrations import MigrationFailure, migrate, status
from fraud_operator.db.quality import QualityCheckFailed, QualityThresholds, check_quality
from fraud_operator.db.transforms import DEFAULT_LABEL_DELAY, TRANSFORMS, TransformError, run_transform

__all__ = ["register"]

Command = Callable[[argparse.Namespace], int]


def _aware_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 timestamp") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add +00:00 or Z)")
    return value


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive amount")
    return value


def _cmd_migrate(args: argparse.Namespace) -> int:
    result = migrate(dsn_from_env(args.dsn), args.migrations_dir)
    applied = ", ".join(f"{v:03d}" for v in result.applied) or "nothing"
    print(f"applied {applied}; schema version {result.schema_version}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    states = status(dsn_from_env(args.dsn), args.migrations_dir)
    print(f"{'VERSION':<8} {'NAME':<28} {'STATE':<8} {'APPLIED AT':<26} DURATION")
    for s in states:
        applied_at = s.applied_at.isoformat(timespec="seconds") if s.applied_at else "-"
        duration = f"{s.duration_ms} ms" if s.duration_ms is not None else "-"
        print(f"{s.version:03d}      {s.name:<28} {s.state:<8} {applied_at:<26} {duration}")
    return 0 if all(s.state in {"applied", "pending"} for s in states) else 1


def _cmd_transform(args: argparse.Namespace) -> int:
    result = run_transform(dsn_from_env(args.dsn), args.name, as_of=args.as_of, label_delay=args.label_delay)
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
    print(f"{result.name}: {counts}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    limits = QualityThresholds(
        window=args.window,
        max_null_rate=args.max_null_rate,
        max_bad_amount_rate=args.max_bad_amount_rate,
        max_amount=args.max_amount,
        max_staleness=args.max_staleness,
    )
    for result in check_quality(dsn_from_env(args.dsn), limits):
        print(f"ok {result.name}: {result.detail}")
    return 0


def _guarded(func: Command) -> Command:
    """Turn the area's expected failures into a message on stderr and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (DatabaseUnavailable, MigrationFailure, TransformError, QualityCheckFailed) as exc:
            print(f"streamflow db {args.db_command}: {exc}", file=sys.stderr)
            return 1

    return run


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``db migrate|status|transform|check`` to the `streamflow` parser."""
    db = subparsers.add_parser("db", help="database schema, transforms and quality checks")
    commands = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)

    def add(name: str, help_text: str, func: Command) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
        parser.add_argument("--dsn", help=f"PostgreSQL DSN (default: ${DSN_ENV})")
        parser.set_defaults(func=_guarded(func))
        return parser

    for name, help_text, func in (
        ("migrate", "apply pending schema migrations", _cmd_migrate),
        ("status", "list applied and pending migrations", _cmd_status),
    ):
        add(name, help_text, func).add_argument(
            "--migrations-dir",
            type=Path,
            default=None,
            help="default: $STREAMFLOW_MIGRATIONS_DIR or the migrations the package carries",
        )

    transform = add("transform", "run one idempotent batch transform", _cmd_transform)
    transform.add_argument("name", choices=sorted(TRANSFORMS), help="the transform to run")
    transform.add_argument(
        "--as-of", type=_aware_datetime, default=None, help="feature time, ISO-8601 with zone (default: now)"
    )
    transform.add_argument(
        "--label-delay",
        type=timedelta_arg,
        default=DEFAULT_LABEL_DELAY,
        help=f"how long a label takes to arrive (refresh_features), {DURATION_HELP}; default 7d",
    )

    check = add("check", "run data quality checks; exit 1 listing every failure", _cmd_check)
    defaults = QualityThresholds()
    check.add_argument(
        "--window",
        type=timedelta_arg,
        default=defaults.window,
        help=f"how far back the checks look, {DURATION_HELP} "
        f"(default {format_duration(defaults.window.total_seconds())})",
    )
    check.add_argument(
        "--max-null-rate",
        type=share,
        default=defaults.max_null_rate,
        help=f"highest share of rows with a missing field, 0..1 (default {defaults.max_null_rate})",
    )
    check.add_argument(
        "--max-bad-amount-rate",
        type=share,
        default=defaults.max_bad_amount_rate,
        help=f"highest share of out-of-bounds amounts, 0..1 (default {defaults.max_bad_amount_rate})",
    )
    check.add_argument(
        "--max-amount",
        type=_amount,
        default=defaults.max_amount,
        help=f"amounts above this count as out of bounds (default {defaults.max_amount})",
    )
    check.add_argument(
        "--max-staleness",
        type=timedelta_arg,
        default=defaults.max_staleness,
        help=f"newest transaction at most this old, {DURATION_HELP} "
        f"(default {format_duration(defaults.max_staleness.total_seconds())})",
    )

"""``streamflow db ...`` end to end, through a parser built by this area's ``register`` as the CLI does.

Only this area's commands are registered, so another area's import problems cannot fail these tests.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest
from fraud_operator.db.cli import register
from fraud_operator.db.migrations import load_migrations

from tests.db.support import Db

pytestmark = pytest.mark.postgres


def main(argv: list[str]) -> int:
    """What ``streamflow`` does with argv, for the ``db`` commands."""
    parser = argparse.ArgumentParser(prog="streamflow")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_migrate_then_status(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    n = len(load_migrations())

    assert main(["db", "migrate", "--dsn", db.dsn]) == 0
    assert f"schema version {n}" in capsys.readouterr().out
    assert main(["db", "migrate", "--dsn", db.dsn]) == 0
    assert capsys.readouterr().out.startswith("applied nothing")

    assert main(["db", "status", "--dsn", db.dsn]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["VERSION", "NAME", "STATE"]
    assert [line.split()[2] for line in lines[1:]] == ["applied"] * n


def test_dsn_from_environment_transform_and_check(
    db: Db, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMFLOW_PG_DSN", db.dsn)
    assert main(["db", "migrate"]) == 0
    now = datetime.now(UTC)
    db.load_bronze(
        [
            {
                "transaction_id": "a",
                "customer_id": "c",
                "terminal_id": "t",
                "amount": 12.5,
                "event_time": now.isoformat(),
            },
            {
                "transaction_id": "b",
                "customer_id": "c",
                "terminal_id": "t",
                "amount": -1,
                "event_time": now.isoformat(),
            },
        ]
    )
    capsys.readouterr()

    assert main(["db", "transform", "bronze_to_silver"]) == 0
    assert capsys.readouterr().out.strip() == "bronze_to_silver: cleaned=1, rejected=1"
    assert main(["db", "transform", "silver_to_gold"]) == 0
    assert (
        main(["db", "transform", "refresh_features", "--as-of", now.isoformat(), "--label-delay", "7d"]) == 0
    )
    assert db.value("SELECT tx_count_1d FROM gold.customer_features WHERE customer_id = 'c'") == 1

    assert main(["db", "check"]) == 1
    err = capsys.readouterr().err
    assert "amount_bounds: 1 of 2 raw transactions" in err
    assert main(["db", "check", "--max-bad-amount-rate", "0.5"]) == 0
    assert "ok freshness" in capsys.readouterr().out


def test_failures_exit_1_with_a_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STREAMFLOW_PG_DSN", raising=False)
    assert main(["db", "status"]) == 1
    assert "pass --dsn or set STREAMFLOW_PG_DSN" in capsys.readouterr().err


def test_durations_read_like_every_other_command(capsys: pytest.CaptureFixture[str]) -> None:
    """Plain seconds or unit suffixes (fraud_models.durations); a bad value is a usage error."""
    parser = argparse.ArgumentParser(prog="streamflow")
    register(parser.add_subparsers(dest="command"))
    transform = ["db", "transform", "refresh_features", "--label-delay"]
    assert parser.parse_args([*transform, "604800"]).label_delay == timedelta(days=7)
    assert parser.parse_args([*transform, "1.5h"]).label_delay == timedelta(minutes=90)
    assert parser.parse_args(["db", "check", "--window", "15m"]).window == timedelta(minutes=15)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["db", "check", "--max-staleness", "a week"])
    assert exited.value.code == 2
    assert "argument --max-staleness: invalid duration 'a week'" in capsys.readouterr().err

"""Data quality checks: clean data passes, planted bad rows fail loudly with their counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fraud_operator.db.quality import QualityCheckFailed, QualityThresholds, check_quality
from fraud_operator.db.transforms import run_transform

from tests.db.support import Db

pytestmark = pytest.mark.postgres


def clean_payloads(now: datetime, n: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "transaction_id": f"tx-{i}",
            "customer_id": f"c{i % 3}",
            "terminal_id": f"term{i % 4}",
            "amount": 10.0 + i,
            "event_time": (now - timedelta(minutes=5 + i)).isoformat(),
        }
        for i in range(n)
    ]


@pytest.fixture
def clean(migrated_dsn: str) -> Db:
    db = Db(migrated_dsn)
    db.load_bronze(clean_payloads(datetime.now(UTC)))
    run_transform(db.dsn, "bronze_to_silver")
    return db


def insert_alerts(db: Db, alerts: list[tuple[str, str]]) -> None:
    for alert_id, transaction_id in alerts:
        db.rows(
            "INSERT INTO gold.fact_fraud_alerts (alert_id, transaction_id, customer_id, terminal_id, amount, "
            "score, rule_score, rule_hits, event_time, detection_time) "
            "VALUES (%s, %s, 'c0', 'term0', 950, 0.9, 0.9, "
            """'[{"code": "FR-001", "reason": "high value", "weight": 0.4}]', now(), now()) """
            "ON CONFLICT (alert_id) DO NOTHING",
            (alert_id, transaction_id),
        )


def test_clean_data_passes_every_check(clean: Db) -> None:
    insert_alerts(
        clean, [("a-1", "tx-1"), ("a-1", "tx-1"), ("a-2", "tx-2")]
    )  # a replayed sink write is absorbed

    results = check_quality(clean.dsn)

    assert {r.name for r in results} == {
        "null_rate",
        "amount_bounds",
        "duplicate_transactions",
        "duplicate_alerts",
        "freshness",
    }
    assert all(r.passed for r in results)
    assert clean.value("SELECT count(*) FROM gold.fact_fraud_alerts") == 2


def test_planted_bad_rows_fail_with_counts(clean: Db) -> None:
    now = datetime.now(UTC).isoformat()
    clean.load_bronze(
        [
            {"transaction_id": "tx-n1", "terminal_id": "t", "amount": 10, "event_time": now},
            {
                "transaction_id": "tx-n2",
                "customer_id": "",
                "terminal_id": "t",
                "amount": 10,
                "event_time": now,
            },
            {
                "transaction_id": "tx-neg",
                "customer_id": "c",
                "terminal_id": "t",
                "amount": -5,
                "event_time": now,
            },
            {
                "transaction_id": "tx-str",
                "customer_id": "c",
                "terminal_id": "t",
                "amount": "12",
                "event_time": now,
            },
            # Same id as a clean record, different contents.
            {
                "transaction_id": "tx-0",
                "customer_id": "c0",
                "terminal_id": "term0",
                "amount": 999,
                "event_time": now,
            },
        ]
    )
    insert_alerts(clean, [("a-1", "tx-1"), ("a-2", "tx-1"), ("a-3", "tx-2")])

    with pytest.raises(QualityCheckFailed) as raised:
        check_quality(clean.dsn)

    failures = {f.name: f for f in raised.value.failures}
    assert set(failures) == {"null_rate", "amount_bounds", "duplicate_transactions", "duplicate_alerts"}
    assert (failures["null_rate"].failed, failures["null_rate"].total) == (2, 15)
    assert "customer_id 2" in failures["null_rate"].detail
    assert (failures["amount_bounds"].failed, failures["amount_bounds"].total) == (2, 15)
    assert (failures["duplicate_transactions"].failed, failures["duplicate_transactions"].total) == (1, 14)
    assert (failures["duplicate_alerts"].failed, failures["duplicate_alerts"].total) == (1, 2)
    message = str(raised.value)
    assert message.startswith("4 data quality check(s) failed:")
    assert "2 of 15 raw transactions" in message and "1 of 2 alerted transactions" in message


def test_stale_or_empty_silver_fails_freshness(clean: Db) -> None:
    later = datetime.now(UTC) + timedelta(hours=3)
    with pytest.raises(QualityCheckFailed) as raised:
        check_quality(clean.dsn, QualityThresholds(window=timedelta(days=1)), now=later)
    assert [f.name for f in raised.value.failures] == ["freshness"]
    assert "limit 1:00:00" in raised.value.failures[0].detail

    clean.rows("TRUNCATE silver.transactions")
    with pytest.raises(QualityCheckFailed, match=r"silver\.transactions is empty"):
        check_quality(clean.dsn)


def test_thresholds_are_respected(clean: Db) -> None:
    now = datetime.now(UTC).isoformat()
    clean.load_bronze(
        [
            {
                "transaction_id": "tx-big",
                "customer_id": "c",
                "terminal_id": "t",
                "amount": 5000,
                "event_time": now,
            }
        ]
    )

    with pytest.raises(QualityCheckFailed, match="amount_bounds"):
        check_quality(clean.dsn, QualityThresholds(max_amount=1000))
    assert all(r.passed for r in check_quality(clean.dsn, QualityThresholds(max_amount=10000)))

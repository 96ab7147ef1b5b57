"""The medallion transforms on a small hand-computed fixture: expected rows, idempotence, label delay."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fraud_operator.db.transforms import TransformError, run_transform

from tests.db.support import Db

pytestmark = pytest.mark.postgres

AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def tx(tid: str, customer: str | None, terminal: str, amount: Any, when: Any, **extra: Any) -> dict[str, Any]:
    event_time = (AS_OF - when).isoformat() if isinstance(when, timedelta) else when
    payload = {
        "transaction_id": tid,
        "terminal_id": terminal,
        "amount": amount,
        "event_time": event_time,
        **extra,
    }
    if customer is not None:
        payload["customer_id"] = customer
    return payload


VALID = [
    tx("t1", "c1", "term1", 100.0, timedelta(hours=2)),
    tx(
        "t2",
        "c1",
        "term1",
        50.0,
        timedelta(days=3),
        schema_version=2,
        payment_method="card",
        channel="pos",
        currency="USD",
        lat=50.85,
        lon=4.35,
    ),
    tx("t3", "c1", "term2", 30.0, timedelta(days=20)),
    tx("t4", "c2", "term2", 10.0, timedelta(days=10)),
    tx("t5", "c3", "term2", 20.0, timedelta(days=7, hours=1)),
]
INVALID = {
    "t6": ("bad_amount", tx("t6", "c1", "term1", -5, timedelta(hours=1))),
    "t7": ("bad_customer_id", tx("t7", None, "term1", 5.0, timedelta(hours=1))),
    "t8": ("bad_event_time", tx("t8", "c1", "term1", 5.0, "not-a-time")),
    "t9": ("bad_amount", tx("t9", "c1", "term1", 2_000_000, timedelta(hours=1))),
    "t10": ("bad_amount", tx("t10", "c1", "term1", "12.5", timedelta(hours=1))),
    "t11": ("bad_location", tx("t11", "c1", "term1", 5.0, timedelta(hours=1), lat=123.0, lon=1.0)),
    "t12": ("bad_event_time", tx("t12", "c1", "term1", 5.0, "infinity")),
    "t13": ("bad_customer_id", tx("t13", 7, "term1", 5.0, timedelta(hours=1))),  # ids are strings, strictly
    "t14": ("bad_event_time", tx("t14", "c1", "term1", 5.0, "2026-11-01T10:00:00")),  # no offset: not guessed
    "t15": ("bad_event_time", tx("t15", "c1", "term1", 5.0, "2026-11-01")),
    "t16": ("bad_currency", tx("t16", "c1", "term1", 5.0, timedelta(hours=1), currency="eur")),
    "t17": ("bad_location", tx("t17", "c1", "term1", 5.0, timedelta(hours=1), lat=10.0)),
    "t18": ("bad_device_id", tx("t18", "c1", "term1", 5.0, timedelta(hours=1), device_id="d" * 129)),
}


@pytest.fixture
def loaded(migrated_dsn: str) -> Db:
    db = Db(migrated_dsn)
    # t1 is delivered twice (at-least-once); the redelivery must not become a second transaction.
    db.load_bronze([*VALID, VALID[0], *(payload for _, payload in INVALID.values())])
    db.rows(
        "INSERT INTO bronze.fraud_labels (transaction_id, is_fraud, confirmed_at) VALUES "
        "('t3', false, %(as_of)s - interval '15 days'), "
        "('t4', true, %(as_of)s - interval '2 days'), "
        "('t5', true, %(as_of)s + interval '1 day')",
        {"as_of": AS_OF},
    )
    return db


def snapshot(db: Db) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        "silver.transactions",
        "silver.rejected_transactions",
        "gold.dim_customer",
        "gold.dim_terminal",
        "gold.fact_transactions",
        "gold.customer_features",
        "gold.terminal_features",
    ]
    return {t: db.rows(f"SELECT * FROM {t} ORDER BY 1") for t in tables}


def run_all(dsn: str) -> dict[str, dict[str, int]]:
    return {
        name: run_transform(dsn, name, as_of=AS_OF).counts
        for name in ("bronze_to_silver", "silver_to_gold", "refresh_features")
    }


def test_bronze_to_silver_dedupes_and_rejects_with_reasons(loaded: Db) -> None:
    counts = run_transform(loaded.dsn, "bronze_to_silver").counts

    assert counts == {"cleaned": 5, "rejected": len(INVALID)}
    rows = loaded.rows(
        "SELECT transaction_id, customer_id, amount, event_time FROM silver.transactions ORDER BY 1"
    )
    assert [r[0] for r in rows] == ["t1", "t2", "t3", "t4", "t5"]
    assert rows[0][1:] == ("c1", Decimal("100.00"), AS_OF - timedelta(hours=2))
    assert loaded.rows(
        "SELECT schema_version, payment_method, channel, currency, lat, lon FROM silver.transactions "
        "WHERE transaction_id IN ('t1', 't2') ORDER BY 1"
    ) == [(1, None, None, "EUR", None, None), (2, "card", "pos", "USD", 50.85, 4.35)]
    rejects = dict(loaded.rows("SELECT transaction_id, reason FROM silver.rejected_transactions"))
    assert rejects == {tid: reason for tid, (reason, _) in INVALID.items()}


def test_silver_to_gold_loads_dimensions_facts_and_labels(loaded: Db) -> None:
    run_transform(loaded.dsn, "bronze_to_silver")
    counts = run_transform(loaded.dsn, "silver_to_gold").counts

    # Labels already present are taken when the fact is inserted, so none needs a second write.
    assert counts == {"dim_customer": 3, "dim_terminal": 2, "fact_transactions": 5, "labels": 0}
    assert loaded.rows(
        "SELECT customer_id, first_seen_at, last_seen_at FROM gold.dim_customer ORDER BY 1"
    ) == [
        ("c1", AS_OF - timedelta(days=20), AS_OF - timedelta(hours=2)),
        ("c2", AS_OF - timedelta(days=10), AS_OF - timedelta(days=10)),
        ("c3", AS_OF - timedelta(days=7, hours=1), AS_OF - timedelta(days=7, hours=1)),
    ]
    labels = loaded.rows("SELECT transaction_id, is_fraud FROM gold.fact_transactions ORDER BY 1")
    assert labels == [("t1", None), ("t2", None), ("t3", False), ("t4", True), ("t5", True)]

    # Late labels: a first one for t1 and a revision of t3; the newest label of each transaction wins.
    loaded.rows(
        "INSERT INTO bronze.fraud_labels (transaction_id, is_fraud, confirmed_at) VALUES "
        "('t1', true, %(at)s), ('t3', true, %(at)s), ('t3', false, %(at)s - interval '20 days')",
        {"at": AS_OF + timedelta(days=3)},
    )
    assert run_transform(loaded.dsn, "silver_to_gold").counts["labels"] == 2
    assert loaded.rows(
        "SELECT transaction_id, is_fraud, label_confirmed_at FROM gold.fact_transactions "
        "WHERE transaction_id IN ('t1', 't3') ORDER BY 1"
    ) == [("t1", True, AS_OF + timedelta(days=3)), ("t3", True, AS_OF + timedelta(days=3))]

    # A later transaction widens the customer's span; nothing else changes.
    loaded.load_bronze([tx("t20", "c2", "term1", 40.0, timedelta(hours=1))])
    run_transform(loaded.dsn, "bronze_to_silver")
    assert run_transform(loaded.dsn, "silver_to_gold").counts == {
        "dim_customer": 1,
        "dim_terminal": 1,
        "fact_transactions": 1,
        "labels": 0,
    }
    assert loaded.value(
        "SELECT last_seen_at FROM gold.dim_customer WHERE customer_id = 'c2'"
    ) == AS_OF - timedelta(hours=1)


def test_feature_store_matches_hand_computed_windows(loaded: Db) -> None:
    run_all(loaded.dsn)

    customers = loaded.rows(
        "SELECT customer_id, as_of, tx_count_1d, tx_count_7d, tx_count_30d, avg_amount_1d, avg_amount_7d, "
        "avg_amount_30d FROM gold.customer_features ORDER BY 1"
    )
    assert customers == [
        ("c1", AS_OF, 1, 2, 3, Decimal("100.00"), Decimal("75.00"), Decimal("60.00")),
        ("c2", AS_OF, 0, 0, 1, Decimal("0.00"), Decimal("0.00"), Decimal("10.00")),
        ("c3", AS_OF, 0, 0, 1, Decimal("0.00"), Decimal("0.00"), Decimal("20.00")),
    ]
    terminals = loaded.rows(
        "SELECT terminal_id, label_delay, tx_count_1d, tx_count_7d, tx_count_30d, risk_1d, risk_7d, risk_30d "
        "FROM gold.terminal_features ORDER BY 1"
    )
    week = timedelta(days=7)
    # term1's transactions are all younger than the 7-day label delay: nothing is known about them yet.
    # term2: t5 (fraud) is in the delayed 1-day window but its label arrives after as_of, so it does not
    # count; t4's fraud label is known; t3 is labelled genuine.
    assert terminals == [("term1", week, 0, 0, 0, 0.0, 0.0, 0.0), ("term2", week, 1, 2, 3, 0.0, 0.5, 1 / 3)]


def test_label_counts_only_once_it_has_arrived(loaded: Db) -> None:
    run_all(loaded.dsn)
    later = AS_OF + timedelta(days=1)
    # Same delayed windows as before (as_of + 1 day - 8 days), but t5's label (confirmed at as_of + 1 day)
    # is known now.
    run_transform(loaded.dsn, "refresh_features", as_of=later, label_delay=timedelta(days=8))

    assert loaded.rows(
        "SELECT tx_count_1d, risk_1d, risk_7d FROM gold.terminal_features WHERE terminal_id = 'term2'"
    ) == [(1, 1.0, 1.0)]


def test_every_transform_is_idempotent(loaded: Db) -> None:
    run_all(loaded.dsn)
    before = snapshot(loaded)

    second = run_all(loaded.dsn)

    assert all(n == 0 for counts in second.values() for n in counts.values()), second
    assert snapshot(loaded) == before


def test_concurrent_runs_of_a_transform_queue_and_load_once(loaded: Db) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run_transform(loaded.dsn, "bronze_to_silver").counts, range(4)))

    assert sum(r["cleaned"] for r in results) == 5
    assert sum(r["rejected"] for r in results) == len(INVALID)
    assert loaded.value("SELECT count(*) FROM silver.transactions") == 5


def test_unknown_transform_and_unmigrated_database_fail_clearly(postgres_dsn: str) -> None:
    with pytest.raises(TransformError, match="unknown transform 'nope'"):
        run_transform(postgres_dsn, "nope")
    with pytest.raises(TransformError, match=r"bronze_to_silver failed.*streamflow db migrate"):
        run_transform(postgres_dsn, "bronze_to_silver")
    with pytest.raises(TransformError, match="no time zone"):
        run_transform(postgres_dsn, "refresh_features", as_of=datetime(2026, 1, 1))

"""Data quality checks that fail loudly, with counts.

Constraints already make silver and gold structurally valid; these checks watch what constraints cannot:
how much of the raw input is broken (null keys, bad amounts, conflicting duplicates), whether the detector
wrote duplicate alerts, and whether data is still flowing (freshness).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
from fraud_operator.db.dsn import connect, db_error
from psycopg.rows import TupleRow

__all__ = ["CheckResult", "QualityCheckFailed", "QualityThresholds", "check_quality", "run_checks"]

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]


@dataclass(frozen=True)
class QualityThresholds:
    """Limits of the checks; ``window``: how far back (ingestion or detection time) records are checked."""

    window: timedelta = timedelta(days=1)
    max_null_rate: float = 0.01
    max_bad_amount_rate: float = 0.0
    min_amount: Decimal = Decimal("0")
    max_amount: Decimal = Decimal("100000")
    max_staleness: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class CheckResult:
    """One check: ``failed`` rows out of ``total`` examined, and a sentence saying what that means."""

    name: str
    passed: bool
    failed: int
    total: int
    detail: str


class QualityCheckFailed(Exception):
    """At least one check failed; the message lists every failed check with its counts."""

    reason = "QualityCheckFailed"

    def __init__(self, failures: list[CheckResult]) -> None:
        lines = [f"{len(failures)} data quality check(s) failed:"]
        lines.extend(f"  {f.name}: {f.detail}" for f in failures)
        super().__init__("\n".join(lines))
        self.failures = failures


_KEY_FIELDS = ("transaction_id", "customer_id", "terminal_id", "amount", "event_time")

_NULL_KEYS = b"""
SELECT count(*),
       count(*) FILTER (WHERE NULLIF(payload ->> 'transaction_id', '') IS NULL),
       count(*) FILTER (WHERE NULLIF(payload ->> 'customer_id', '') IS NULL),
       count(*) FILTER (WHERE NULLIF(payload ->> 'terminal_id', '') IS NULL),
       count(*) FILTER (WHERE NULLIF(payload ->> 'amount', '') IS NULL),
       count(*) FILTER (WHERE NULLIF(payload ->> 'event_time', '') IS NULL),
       count(*) FILTER (WHERE NULLIF(payload ->> 'transaction_id', '') IS NULL
                           OR NULLIF(payload ->> 'customer_id', '') IS NULL
                           OR NULLIF(payload ->> 'terminal_id', '') IS NULL
                           OR NULLIF(payload ->> 'amount', '') IS NULL
                           OR NULLIF(payload ->> 'event_time', '') IS NULL)
FROM bronze.raw_transactions
WHERE ingested_at > %(now)s - %(window)s
"""

# Present amounts that are not a JSON number, or outside [min_amount, max_amount].
_BAD_AMOUNTS = b"""
SELECT count(*) FILTER (WHERE payload ? 'amount' AND jsonb_typeof(payload -> 'amount') <> 'null'),
       count(*) FILTER (WHERE payload ? 'amount' AND jsonb_typeof(payload -> 'amount') <> 'null' AND
                        CASE WHEN jsonb_typeof(payload -> 'amount') = 'number'
                             THEN (payload ->> 'amount')::numeric NOT BETWEEN %(min)s AND %(max)s
                             ELSE true END)
FROM bronze.raw_transactions
WHERE ingested_at > %(now)s - %(window)s
"""

# The same transaction id delivered with different contents: redeliveries are fine, conflicts are not.
_CONFLICTING_DUPLICATES = b"""
SELECT count(DISTINCT payload ->> 'transaction_id'),
       (SELECT count(*) FROM (
            SELECT 1 FROM bronze.raw_transactions
            WHERE ingested_at > %(now)s - %(window)s AND NULLIF(payload ->> 'transaction_id', '') IS NOT NULL
            GROUP BY payload ->> 'transaction_id'
            HAVING count(DISTINCT payload) > 1) c)
FROM bronze.raw_transactions
WHERE ingested_at > %(now)s - %(window)s AND NULLIF(payload ->> 'transaction_id', '') IS NOT NULL
"""

# An idempotent detector writes at most one alert per transaction (the alert id is derived from it).
_DUPLICATE_ALERTS = b"""
SELECT count(DISTINCT transaction_id),
       (SELECT count(*) FROM (
            SELECT 1 FROM gold.fact_fraud_alerts
            WHERE detection_time > %(now)s - %(window)s
            GROUP BY transaction_id HAVING count(*) > 1) d)
FROM gold.fact_fraud_alerts
WHERE detection_time > %(now)s - %(window)s
"""

_FRESHNESS = b"SELECT count(*), max(event_time) FROM silver.transactions"


def _rate_check(
    name: str, failed: int, total: int, limit: float, what: str, window: timedelta
) -> CheckResult:
    rate = failed / total if total else 0.0
    detail = f"{failed} of {total} raw transactions ingested in the last {window} ({rate:.2%}) {what}; " + (
        f"limit {limit:.2%}"
    )
    return CheckResult(name, rate <= limit, failed, total, detail)


def run_checks(conn: Conn, thresholds: QualityThresholds, now: datetime) -> list[CheckResult]:
    """Run every check and return all results, passed or not."""
    params: dict[str, object] = {
        "now": now,
        "window": thresholds.window,
        "min": thresholds.min_amount,
        "max": thresholds.max_amount,
    }
    results: list[CheckResult] = []

    row = conn.execute(_NULL_KEYS, params).fetchone() or (0,) * 7
    total, per_field, any_null = int(row[0]), [int(v) for v in row[1:6]], int(row[6])
    fields = ", ".join(f"{name} {n}" for name, n in zip(_KEY_FIELDS, per_field, strict=True) if n)
    results.append(
        _rate_check(
            "null_rate",
            any_null,
            total,
            thresholds.max_null_rate,
            f"miss a key field ({fields or 'none'})",
            thresholds.window,
        )
    )

    row = conn.execute(_BAD_AMOUNTS, params).fetchone() or (0, 0)
    results.append(
        _rate_check(
            "amount_bounds",
            int(row[1]),
            int(row[0]),
            thresholds.max_bad_amount_rate,
            f"have an amount that is not a number in [{thresholds.min_amount}, {thresholds.max_amount}]",
            thresholds.window,
        )
    )

    row = conn.execute(_CONFLICTING_DUPLICATES, params).fetchone() or (0, 0)
    ids, conflicts = int(row[0]), int(row[1])
    results.append(
        CheckResult(
            "duplicate_transactions",
            conflicts == 0,
            conflicts,
            ids,
            f"{conflicts} of {ids} transaction ids ingested in the last {thresholds.window} "
            "arrived more than once with different contents",
        )
    )

    row = conn.execute(_DUPLICATE_ALERTS, params).fetchone() or (0, 0)
    alerted, duplicated = int(row[0]), int(row[1])
    results.append(
        CheckResult(
            "duplicate_alerts",
            duplicated == 0,
            duplicated,
            alerted,
            f"{duplicated} of {alerted} alerted transactions in the last {thresholds.window} "
            "have more than one alert",
        )
    )

    fresh = conn.execute(_FRESHNESS).fetchone() or (0, None)
    count = int(fresh[0])
    newest = fresh[1] if isinstance(fresh[1], datetime) else None
    if newest is None:
        results.append(CheckResult("freshness", False, 0, 0, "silver.transactions is empty"))
    else:
        age = now - newest
        results.append(
            CheckResult(
                "freshness",
                age <= thresholds.max_staleness,
                0 if age <= thresholds.max_staleness else 1,
                count,
                f"newest of {count} clean transactions is {age} old (event time {newest.isoformat()}); "
                f"limit {thresholds.max_staleness}",
            )
        )
    return results


def check_quality(
    dsn: str, thresholds: QualityThresholds | None = None, *, now: datetime | None = None
) -> list[CheckResult]:
    """Run the checks; raise :class:`QualityCheckFailed` listing every failure, else return the results."""
    limits = thresholds or QualityThresholds()
    with connect(dsn, application_name="streamflow-quality") as conn:
        try:
            if now is None:
                row = conn.execute("SELECT now()").fetchone()
                now = row[0] if row and isinstance(row[0], datetime) else None
            if now is None:
                raise QualityCheckFailed([CheckResult("clock", False, 0, 0, "the database returned no time")])
            results = run_checks(conn, limits, now)
        except psycopg.Error as exc:
            detail = db_error(exc, dsn)
            raise QualityCheckFailed(
                [CheckResult("query", False, 0, 0, f"a check query failed: {detail}")]
            ) from None
    failures = [r for r in results if not r.passed]
    for result in results:
        log.info("quality %s: %s", "ok" if result.passed else "FAILED", f"{result.name}: {result.detail}")
    if failures:
        raise QualityCheckFailed(failures)
    return results

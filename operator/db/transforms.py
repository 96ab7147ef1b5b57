"""Batch transforms of the medallion layers (they replace the seed's Airflow DAGs).

Each transform is one transaction guarded by a transaction-level advisory lock, and idempotent: it only
inserts what is missing and only updates rows whose values differ, so a second run (or a CronJob retry)
changes nothing. ``streamflow db transform NAME`` runs one; the operator schedules them as CronJobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from fraud_operator.db.dsn import connect, db_error
from psycopg.rows import TupleRow

__all__ = [
    "DEFAULT_LABEL_DELAY",
    "TRANSFORMS",
    "TransformError",
    "TransformResult",
    "bronze_to_silver",
    "refresh_features",
    "run_transform",
    "silver_to_gold",
]

log = logging.getLogger(__name__)

# The handbook's assumption: a fraud label is known 7 days after the transaction.
DEFAULT_LABEL_DELAY = timedelta(days=7)
# First key of pg_advisory_xact_lock(int, int); the second is hashtext(transform name).
_LOCK_CLASS = 0x53465452  # "SFTR"

Conn = psycopg.Connection[TupleRow]


class TransformError(Exception):
    """A transform failed and was rolled back; the message names it and the (redacted) database error."""

    reason = "TransformFailed"


@dataclass(frozen=True)
class TransformResult:
    """Rows each step of a transform changed (all zero on a repeated run)."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)


# Parses bronze payloads with the rules of the detector's Transaction model (fraud_jobs.schemas): ids are
# strings of 1..128 characters, amount a JSON number in [0, 1e6], event_time ISO-8601 with an offset, lat/lon
# given together and in range. `reason` is the first problem found, NULL for a valid record. Only records not
# yet decided (neither rejected nor already in silver under their transaction id) are looked at.
_BRONZE_TO_SILVER = b"""
WITH fields AS (
    SELECT r.ingest_id,
           silver.wire_id(p -> 'transaction_id') AS transaction_id,
           silver.wire_id(p -> 'customer_id') AS customer_id,
           silver.wire_id(p -> 'terminal_id') AS terminal_id,
           CASE WHEN jsonb_typeof(p -> 'amount') = 'number'
                THEN round((p ->> 'amount')::numeric, 2) END AS amount,
           CASE WHEN NOT p ? 'currency' THEN 'EUR'
                WHEN jsonb_typeof(p -> 'currency') = 'string' AND p ->> 'currency' ~ '^[A-Z]{3}$'
                THEN p ->> 'currency' END AS currency,
           CASE WHEN jsonb_typeof(p -> 'event_time') = 'string'
                THEN silver.parse_event_time(p ->> 'event_time') END AS event_time,
           CASE WHEN jsonb_typeof(p -> 'schema_version') = 'number'
                     AND p ->> 'schema_version' ~ '^[0-9]{1,6}$'
                THEN (p ->> 'schema_version')::integer END AS schema_version,
           CASE WHEN jsonb_typeof(p -> 'payment_method') = 'string' THEN p ->> 'payment_method' END
               AS payment_method,
           CASE WHEN jsonb_typeof(p -> 'channel') = 'string' THEN p ->> 'channel' END AS channel,
           p -> 'device_id' AS device_json,
           p -> 'lat' AS lat_json,
           p -> 'lon' AS lon_json
    FROM bronze.raw_transactions r, LATERAL (SELECT r.payload AS p) AS payload
    WHERE NOT EXISTS (SELECT 1 FROM silver.rejected_transactions x WHERE x.ingest_id = r.ingest_id)
      AND NOT EXISTS (SELECT 1 FROM silver.transactions s
                      WHERE s.transaction_id = r.payload ->> 'transaction_id')
),
parsed AS (
    SELECT f.*,
           CASE WHEN jsonb_typeof(f.device_json) = 'string' AND length(f.device_json #>> '{}') <= 128
                THEN f.device_json #>> '{}' END AS device_id,
           CASE WHEN jsonb_typeof(f.lat_json) = 'number' THEN
                CASE WHEN (f.lat_json #>> '{}')::numeric BETWEEN -90 AND 90
                     THEN (f.lat_json #>> '{}')::double precision END END AS lat,
           CASE WHEN jsonb_typeof(f.lon_json) = 'number' THEN
                CASE WHEN (f.lon_json #>> '{}')::numeric BETWEEN -180 AND 180
                     THEN (f.lon_json #>> '{}')::double precision END END AS lon
    FROM fields f
),
decided AS (
    SELECT p.*,
           CASE WHEN p.transaction_id IS NULL THEN 'bad_transaction_id'
                WHEN p.customer_id IS NULL THEN 'bad_customer_id'
                WHEN p.terminal_id IS NULL THEN 'bad_terminal_id'
                WHEN p.amount IS NULL OR p.amount < 0 OR p.amount > 1000000 THEN 'bad_amount'
                WHEN p.currency IS NULL THEN 'bad_currency'
                WHEN p.event_time IS NULL THEN 'bad_event_time'
                WHEN COALESCE(jsonb_typeof(p.device_json), 'null') <> 'null' AND p.device_id IS NULL
                THEN 'bad_device_id'
                WHEN (COALESCE(jsonb_typeof(p.lat_json), 'null') <> 'null' AND p.lat IS NULL)
                  OR (COALESCE(jsonb_typeof(p.lon_json), 'null') <> 'null' AND p.lon IS NULL)
                  OR ((p.lat IS NULL) <> (p.lon IS NULL)) THEN 'bad_location'
           END AS reason
    FROM parsed p
),
rejected AS (
    INSERT INTO silver.rejected_transactions (ingest_id, transaction_id, reason)
    SELECT ingest_id, transaction_id, reason FROM decided WHERE reason IS NOT NULL
    RETURNING 1
),
cleaned AS (
    INSERT INTO silver.transactions (transaction_id, customer_id, terminal_id, amount, currency, event_time,
                                     schema_version, payment_method, channel, device_id, lat, lon,
                                     source_ingest_id)
    SELECT DISTINCT ON (transaction_id)
           transaction_id, customer_id, terminal_id, amount, currency, event_time,
           COALESCE(schema_version, 1), payment_method, channel, device_id, lat, lon, ingest_id
    FROM decided
    WHERE reason IS NULL
    ORDER BY transaction_id, ingest_id
    ON CONFLICT (transaction_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM cleaned), (SELECT count(*) FROM rejected)
"""

_NEW_SILVER = b"""
FROM silver.transactions s
WHERE NOT EXISTS (SELECT 1 FROM gold.fact_transactions f WHERE f.transaction_id = s.transaction_id)
"""


def _dimension_upsert(entity: str) -> bytes:
    """Upsert of ``gold.dim_<entity>`` from silver rows not yet in the facts; widens the seen-at span only."""
    table = f"gold.dim_{entity}"
    return (
        f"INSERT INTO {table} ({entity}_id, first_seen_at, last_seen_at) "
        f"SELECT s.{entity}_id, min(s.event_time), max(s.event_time) ".encode()
        + _NEW_SILVER
        + f"""GROUP BY s.{entity}_id
ON CONFLICT ({entity}_id) DO UPDATE SET
    first_seen_at = LEAST({table}.first_seen_at, EXCLUDED.first_seen_at),
    last_seen_at = GREATEST({table}.last_seen_at, EXCLUDED.last_seen_at),
    updated_at = now()
WHERE EXCLUDED.first_seen_at < {table}.first_seen_at OR EXCLUDED.last_seen_at > {table}.last_seen_at
""".encode()
    )


# New facts take a label that is already there (a backfill) at insert time, sparing a second write.
_FACT_INSERT = b"""
INSERT INTO gold.fact_transactions (transaction_id, customer_id, terminal_id, amount, currency, event_time,
                                    is_fraud, label_confirmed_at)
SELECT s.transaction_id, s.customer_id, s.terminal_id, s.amount, s.currency, s.event_time,
       l.is_fraud, l.confirmed_at
FROM silver.transactions s
LEFT JOIN LATERAL (
    SELECT is_fraud, confirmed_at FROM bronze.fraud_labels fl
    WHERE fl.transaction_id = s.transaction_id
    ORDER BY confirmed_at DESC LIMIT 1
) l ON true
WHERE NOT EXISTS (SELECT 1 FROM gold.fact_transactions f WHERE f.transaction_id = s.transaction_id)
ON CONFLICT (transaction_id) DO NOTHING
"""

# The newest label of each transaction wins (labels can be revised); unchanged facts are not touched.
_LABEL_UPDATE = b"""
UPDATE gold.fact_transactions f
SET is_fraud = l.is_fraud, label_confirmed_at = l.confirmed_at
FROM (
    SELECT DISTINCT ON (transaction_id) transaction_id, is_fraud, confirmed_at
    FROM bronze.fraud_labels
    ORDER BY transaction_id, confirmed_at DESC
) l
WHERE l.transaction_id = f.transaction_id
  AND (f.is_fraud, f.label_confirmed_at) IS DISTINCT FROM (l.is_fraud, l.confirmed_at)
"""

# Customer windows (as_of - N days, as_of]; averages are 0 for an empty window, as in the handbook.
_CUSTOMER_FEATURES = b"""
INSERT INTO gold.customer_features AS cf (customer_id, as_of, tx_count_1d, tx_count_7d, tx_count_30d,
                                          avg_amount_1d, avg_amount_7d, avg_amount_30d)
SELECT c.customer_id, %(as_of)s,
       count(f.transaction_id) FILTER (WHERE f.event_time > %(as_of)s - interval '1 day'),
       count(f.transaction_id) FILTER (WHERE f.event_time > %(as_of)s - interval '7 days'),
       count(f.transaction_id),
       COALESCE(round(avg(f.amount) FILTER (WHERE f.event_time > %(as_of)s - interval '1 day'), 2), 0),
       COALESCE(round(avg(f.amount) FILTER (WHERE f.event_time > %(as_of)s - interval '7 days'), 2), 0),
       COALESCE(round(avg(f.amount), 2), 0)
FROM gold.dim_customer c
LEFT JOIN gold.fact_transactions f
       ON f.customer_id = c.customer_id
      AND f.event_time > %(as_of)s - interval '30 days' AND f.event_time <= %(as_of)s
GROUP BY c.customer_id
ON CONFLICT (customer_id) DO UPDATE SET
    as_of = EXCLUDED.as_of, tx_count_1d = EXCLUDED.tx_count_1d, tx_count_7d = EXCLUDED.tx_count_7d,
    tx_count_30d = EXCLUDED.tx_count_30d, avg_amount_1d = EXCLUDED.avg_amount_1d,
    avg_amount_7d = EXCLUDED.avg_amount_7d, avg_amount_30d = EXCLUDED.avg_amount_30d, refreshed_at = now()
WHERE (cf.as_of, cf.tx_count_1d, cf.tx_count_7d, cf.tx_count_30d, cf.avg_amount_1d, cf.avg_amount_7d,
       cf.avg_amount_30d)
      IS DISTINCT FROM (EXCLUDED.as_of, EXCLUDED.tx_count_1d, EXCLUDED.tx_count_7d, EXCLUDED.tx_count_30d,
                        EXCLUDED.avg_amount_1d, EXCLUDED.avg_amount_7d, EXCLUDED.avg_amount_30d)
"""

# Terminal windows end label_delay before as_of: (as_of - delay - N days, as_of - delay]. A transaction counts
# as fraud only if its label was confirmed by as_of, so no label is used before it would be known.
_TERMINAL_FEATURES = b"""
WITH windowed AS (
    SELECT t.terminal_id,
           count(f.transaction_id) FILTER (WHERE f.event_time > %(end)s - interval '1 day') AS n1,
           count(f.transaction_id) FILTER (WHERE f.event_time > %(end)s - interval '7 days') AS n7,
           count(f.transaction_id) AS n30,
           count(f.transaction_id) FILTER (WHERE f.event_time > %(end)s - interval '1 day' AND f.known_fraud)
               AS k1,
           count(f.transaction_id) FILTER (WHERE f.event_time > %(end)s - interval '7 days' AND f.known_fraud)
               AS k7,
           count(f.transaction_id) FILTER (WHERE f.known_fraud) AS k30
    FROM gold.dim_terminal t
    LEFT JOIN (
        SELECT transaction_id, terminal_id, event_time,
               COALESCE(is_fraud AND label_confirmed_at <= %(as_of)s, false) AS known_fraud
        FROM gold.fact_transactions
        WHERE event_time > %(end)s - interval '30 days' AND event_time <= %(end)s
    ) f ON f.terminal_id = t.terminal_id
    GROUP BY t.terminal_id
)
INSERT INTO gold.terminal_features AS tf (terminal_id, as_of, label_delay, tx_count_1d, tx_count_7d,
                                          tx_count_30d, risk_1d, risk_7d, risk_30d)
SELECT terminal_id, %(as_of)s, %(delay)s, n1, n7, n30,
       CASE WHEN n1 > 0 THEN k1::double precision / n1 ELSE 0 END,
       CASE WHEN n7 > 0 THEN k7::double precision / n7 ELSE 0 END,
       CASE WHEN n30 > 0 THEN k30::double precision / n30 ELSE 0 END
FROM windowed
ON CONFLICT (terminal_id) DO UPDATE SET
    as_of = EXCLUDED.as_of, label_delay = EXCLUDED.label_delay, tx_count_1d = EXCLUDED.tx_count_1d,
    tx_count_7d = EXCLUDED.tx_count_7d, tx_count_30d = EXCLUDED.tx_count_30d, risk_1d = EXCLUDED.risk_1d,
    risk_7d = EXCLUDED.risk_7d, risk_30d = EXCLUDED.risk_30d, refreshed_at = now()
WHERE (tf.as_of, tf.label_delay, tf.tx_count_1d, tf.tx_count_7d, tf.tx_count_30d, tf.risk_1d, tf.risk_7d,
       tf.risk_30d)
      IS DISTINCT FROM (EXCLUDED.as_of, EXCLUDED.label_delay, EXCLUDED.tx_count_1d, EXCLUDED.tx_count_7d,
                        EXCLUDED.tx_count_30d, EXCLUDED.risk_1d, EXCLUDED.risk_7d, EXCLUDED.risk_30d)
"""


def _rowcount(conn: Conn, query: bytes, params: dict[str, object] | None = None) -> int:
    return max(conn.execute(query, params).rowcount, 0)


def bronze_to_silver(conn: Conn) -> dict[str, int]:
    """Validate and de-duplicate new bronze records into silver; invalid ones go to the reject table."""
    row = conn.execute(_BRONZE_TO_SILVER).fetchone()
    cleaned, rejected = (int(row[0]), int(row[1])) if row else (0, 0)
    return {"cleaned": cleaned, "rejected": rejected}


def silver_to_gold(conn: Conn) -> dict[str, int]:
    """Upsert dimensions, load new facts and apply fraud labels that arrived since the last run."""
    return {
        "dim_customer": _rowcount(conn, _dimension_upsert("customer")),
        "dim_terminal": _rowcount(conn, _dimension_upsert("terminal")),
        "fact_transactions": _rowcount(conn, _FACT_INSERT),
        "labels": _rowcount(conn, _LABEL_UPDATE),
    }


def refresh_features(
    conn: Conn, *, as_of: datetime | None = None, label_delay: timedelta = DEFAULT_LABEL_DELAY
) -> dict[str, int]:
    """Recompute the feature store as of ``as_of`` (default: the database's now) from the gold facts.

    Idempotent for a given ``as_of``: rows whose features did not change are not rewritten.
    """
    if as_of is None:
        row = conn.execute("SELECT now()").fetchone()
        if row is None or not isinstance(row[0], datetime):
            raise TransformError("refresh_features: the database returned no current time")
        as_of = row[0]
    if as_of.tzinfo is None:
        raise TransformError(f"refresh_features: as_of {as_of.isoformat()} has no time zone")
    if label_delay < timedelta(0):
        raise TransformError(f"refresh_features: label delay {label_delay} is negative")
    params: dict[str, object] = {"as_of": as_of, "delay": label_delay, "end": as_of - label_delay}
    return {
        "customer_features": _rowcount(conn, _CUSTOMER_FEATURES, params),
        "terminal_features": _rowcount(conn, _TERMINAL_FEATURES, params),
    }


TRANSFORMS: dict[str, Callable[[Conn], dict[str, int]]] = {
    "bronze_to_silver": bronze_to_silver,
    "silver_to_gold": silver_to_gold,
    "refresh_features": refresh_features,
}


def run_transform(
    dsn: str, name: str, *, as_of: datetime | None = None, label_delay: timedelta = DEFAULT_LABEL_DELAY
) -> TransformResult:
    """Run transform ``name`` in one transaction; concurrent runs of the same transform queue on a lock."""
    if name not in TRANSFORMS:
        raise TransformError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
    with connect(dsn, application_name=f"streamflow-transform-{name}") as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, name))
                if name == "refresh_features":
                    counts = refresh_features(conn, as_of=as_of, label_delay=label_delay)
                else:
                    counts = TRANSFORMS[name](conn)
        except psycopg.Error as exc:
            hint = (
                " (run `streamflow db migrate` first)" if exc.sqlstate in {"42P01", "3F000", "42883"} else ""
            )
            detail = db_error(exc, dsn)
            raise TransformError(f"transform {name} failed and was rolled back: {detail}{hint}") from None
    log.info("transform %s: %s", name, counts)
    return TransformResult(name, counts)

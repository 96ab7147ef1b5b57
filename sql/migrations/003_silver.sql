-- Silver: one validated row per transaction_id. Records that fail validation are kept in
-- silver.rejected_transactions with a reason, never dropped.

-- Parses an ISO-8601 timestamp, returning NULL instead of raising, so one bad record cannot fail a batch.
CREATE FUNCTION silver.try_timestamptz(value text) RETURNS timestamptz
    LANGUAGE plpgsql STABLE AS
$$
BEGIN
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

CREATE TABLE silver.transactions (
    transaction_id   text PRIMARY KEY CHECK (transaction_id <> ''),
    customer_id      text NOT NULL CHECK (customer_id <> ''),
    terminal_id      text NOT NULL CHECK (terminal_id <> ''),
    amount           numeric(14, 2) NOT NULL CHECK (amount > 0 AND amount <= 1000000),
    event_time       timestamptz NOT NULL,
    schema_version   integer NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
    payment_method   text,
    device_id        text,
    latitude         double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude        double precision CHECK (longitude BETWEEN -180 AND 180),
    source_ingest_id bigint NOT NULL REFERENCES bronze.raw_transactions (ingest_id),
    cleaned_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_event_time_idx ON silver.transactions (event_time);

CREATE TABLE silver.rejected_transactions (
    ingest_id      bigint PRIMARY KEY REFERENCES bronze.raw_transactions (ingest_id),
    transaction_id text,
    reason         text NOT NULL CHECK (reason IN (
        'missing_transaction_id', 'missing_customer_id', 'missing_terminal_id', 'bad_amount', 'bad_event_time',
        'bad_location'
    )),
    rejected_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_transactions_reason_idx ON silver.rejected_transactions (reason, rejected_at);

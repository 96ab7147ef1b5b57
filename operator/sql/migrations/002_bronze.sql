-- Bronze keeps every record as it arrived so nothing is lost silently and cleaning can be replayed.
-- Column names follow the detector's wire models (fraud_jobs.schemas) so sinks map fields one to one.

CREATE TABLE bronze.raw_transactions (
    ingest_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The producer's JSON object as received (Transaction v1/v2: transaction_id, customer_id, terminal_id,
    -- amount, event_time, currency, schema_version, payment_method, channel, device_id, lat, lon, ...).
    payload          jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    source_topic     text,
    source_partition integer CHECK (source_partition >= 0),
    source_offset    bigint CHECK (source_offset >= 0),
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    -- A Kafka record is loaded once even when the loader is redelivered the same offsets.
    CONSTRAINT raw_transactions_source_uq UNIQUE (source_topic, source_partition, source_offset)
);
-- Cleaning looks up pending records by their transaction id; quality checks scan recent ingestions.
CREATE INDEX raw_transactions_transaction_id_idx ON bronze.raw_transactions ((payload ->> 'transaction_id'));
CREATE INDEX raw_transactions_ingested_at_idx ON bronze.raw_transactions (ingested_at);

-- Fraud labels (the `<pipeline>.labels` topic) arrive days after the transaction: confirmed_at is when the
-- label became known, which is what the feature store must respect. A revised label is a new row.
CREATE TABLE bronze.fraud_labels (
    transaction_id text NOT NULL CHECK (transaction_id <> ''),
    is_fraud       boolean NOT NULL,
    confirmed_at   timestamptz NOT NULL,
    customer_id    text,
    terminal_id    text,
    tx_event_time  timestamptz,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, confirmed_at)
);

-- The detector's dead-letter queue: every record that failed parsing, validation or processing
-- (DeadLetterRecord). The payload is cut at 10 KB: text when it was UTF-8, else base64 of those bytes.
CREATE TABLE bronze.dead_letter_events (
    dlq_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload           text NOT NULL,
    payload_encoding  text NOT NULL CHECK (payload_encoding IN ('utf-8', 'base64')),
    payload_size      integer NOT NULL CHECK (payload_size >= 0),
    payload_truncated boolean NOT NULL,
    error_type        text NOT NULL CHECK (error_type <> ''),
    error_message     text NOT NULL CHECK (length(error_message) <= 2000),
    stage             text NOT NULL CHECK (stage <> ''),
    source_topic      text,
    source_partition  integer CHECK (source_partition >= 0),
    source_offset     bigint CHECK (source_offset >= 0),
    failed_at         timestamptz NOT NULL,
    ingested_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE payload_encoding WHEN 'utf-8' THEN octet_length(payload) <= 10240
                                 ELSE length(payload) <= 13656 END),
    CONSTRAINT dead_letter_events_source_uq UNIQUE (source_topic, source_partition, source_offset, stage)
);
CREATE INDEX dead_letter_events_failed_at_idx ON bronze.dead_letter_events (failed_at);
CREATE INDEX dead_letter_events_error_type_idx ON bronze.dead_letter_events (error_type, failed_at);

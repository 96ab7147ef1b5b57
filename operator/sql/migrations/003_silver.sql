-- Silver: one validated row per transaction_id, validated by the same rules as the detector's Transaction
-- model. Records that fail are kept in silver.rejected_transactions with a reason, never dropped.

-- An event time as the detector accepts it: ISO-8601 with an explicit UTC offset (a naive time is refused,
-- never guessed), years 2000..2100. NULL instead of an error, so one bad record cannot fail a batch.
CREATE FUNCTION silver.parse_event_time(value text) RETURNS timestamptz
    LANGUAGE plpgsql STABLE AS
$$
DECLARE
    parsed timestamptz;
BEGIN
    IF value IS NULL OR length(value) > 40
       OR value !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$'
    THEN
        RETURN NULL;
    END IF;
    parsed := value::timestamptz;
    IF NOT isfinite(parsed) OR parsed < '2000-01-01 00:00+00' OR parsed >= '2101-01-01 00:00+00' THEN
        RETURN NULL;
    END IF;
    RETURN parsed;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

-- An identifier as the detector accepts it: a JSON string of 1..128 characters (numbers are refused).
CREATE FUNCTION silver.wire_id(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE AS
$$
    SELECT CASE WHEN jsonb_typeof(value) = 'string' AND length(value #>> '{}') BETWEEN 1 AND 128
                THEN value #>> '{}' END
$$;

CREATE TABLE silver.transactions (
    transaction_id   text PRIMARY KEY CHECK (length(transaction_id) BETWEEN 1 AND 128),
    customer_id      text NOT NULL CHECK (length(customer_id) BETWEEN 1 AND 128),
    terminal_id      text NOT NULL CHECK (length(terminal_id) BETWEEN 1 AND 128),
    amount           numeric(14, 2) NOT NULL CHECK (amount >= 0 AND amount <= 1000000),
    currency         char(3) NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    event_time       timestamptz NOT NULL,
    schema_version   integer NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
    payment_method   text,
    channel          text,
    device_id        text CHECK (length(device_id) <= 128),
    lat              double precision CHECK (lat BETWEEN -90 AND 90),
    lon              double precision CHECK (lon BETWEEN -180 AND 180),
    source_ingest_id bigint NOT NULL REFERENCES bronze.raw_transactions (ingest_id),
    cleaned_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((lat IS NULL) = (lon IS NULL))
);
CREATE INDEX transactions_event_time_idx ON silver.transactions (event_time);

CREATE TABLE silver.rejected_transactions (
    ingest_id      bigint PRIMARY KEY REFERENCES bronze.raw_transactions (ingest_id),
    transaction_id text,
    reason         text NOT NULL CHECK (reason IN (
        'bad_transaction_id', 'bad_customer_id', 'bad_terminal_id', 'bad_amount', 'bad_currency',
        'bad_event_time', 'bad_device_id', 'bad_location'
    )),
    rejected_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_transactions_reason_idx ON silver.rejected_transactions (reason, rejected_at);

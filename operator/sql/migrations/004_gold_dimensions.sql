-- Gold dimensions: one row per customer and terminal ever seen, with the span of their activity.

CREATE TABLE gold.dim_customer (
    customer_id   text PRIMARY KEY CHECK (customer_id <> ''),
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (first_seen_at <= last_seen_at)
);

CREATE TABLE gold.dim_terminal (
    terminal_id   text PRIMARY KEY CHECK (terminal_id <> ''),
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (first_seen_at <= last_seen_at)
);

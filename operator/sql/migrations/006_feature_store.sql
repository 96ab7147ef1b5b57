-- The feature store: per-customer and per-terminal features as of a point in time, refreshed from gold facts.
-- Window definitions follow the Fraud Detection Handbook: customer windows end at as_of; terminal windows end
-- label_delay before as_of, and count a fraud only if its label was confirmed by as_of.

CREATE TABLE gold.customer_features (
    customer_id    text PRIMARY KEY REFERENCES gold.dim_customer (customer_id),
    as_of          timestamptz NOT NULL,
    tx_count_1d    integer NOT NULL CHECK (tx_count_1d >= 0),
    tx_count_7d    integer NOT NULL CHECK (tx_count_7d >= tx_count_1d),
    tx_count_30d   integer NOT NULL CHECK (tx_count_30d >= tx_count_7d),
    avg_amount_1d  numeric(14, 2) NOT NULL CHECK (avg_amount_1d >= 0),
    avg_amount_7d  numeric(14, 2) NOT NULL CHECK (avg_amount_7d >= 0),
    avg_amount_30d numeric(14, 2) NOT NULL CHECK (avg_amount_30d >= 0),
    refreshed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gold.terminal_features (
    terminal_id  text PRIMARY KEY REFERENCES gold.dim_terminal (terminal_id),
    as_of        timestamptz NOT NULL,
    label_delay  interval NOT NULL CHECK (label_delay >= interval '0'),
    tx_count_1d  integer NOT NULL CHECK (tx_count_1d >= 0),
    tx_count_7d  integer NOT NULL CHECK (tx_count_7d >= tx_count_1d),
    tx_count_30d integer NOT NULL CHECK (tx_count_30d >= tx_count_7d),
    risk_1d      double precision NOT NULL CHECK (risk_1d BETWEEN 0 AND 1),
    risk_7d      double precision NOT NULL CHECK (risk_7d BETWEEN 0 AND 1),
    risk_30d     double precision NOT NULL CHECK (risk_30d BETWEEN 0 AND 1),
    refreshed_at timestamptz NOT NULL DEFAULT now()
);

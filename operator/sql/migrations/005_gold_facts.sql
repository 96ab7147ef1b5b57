-- Gold facts: transactions with their (late) fraud label, and the detector's alerts.

CREATE TABLE gold.fact_transactions (
    transaction_id     text PRIMARY KEY,
    customer_id        text NOT NULL REFERENCES gold.dim_customer (customer_id),
    terminal_id        text NOT NULL REFERENCES gold.dim_terminal (terminal_id),
    amount             numeric(14, 2) NOT NULL CHECK (amount >= 0),
    currency           char(3) NOT NULL,
    event_time         timestamptz NOT NULL,
    -- NULL until a label arrives; label_confirmed_at is when it became known (never use it before then).
    is_fraud           boolean,
    label_confirmed_at timestamptz,
    loaded_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((is_fraud IS NULL) = (label_confirmed_at IS NULL))
);
-- Feature windows scan one customer's or terminal's recent history, and everything recent.
CREATE INDEX fact_transactions_customer_time_idx ON gold.fact_transactions (customer_id, event_time);
CREATE INDEX fact_transactions_terminal_time_idx ON gold.fact_transactions (terminal_id, event_time);
CREATE INDEX fact_transactions_event_time_idx ON gold.fact_transactions (event_time);

-- The detector's FraudAlert, written by its sink with INSERT ... ON CONFLICT (alert_id) DO NOTHING: the alert
-- id is derived from the transaction id, so a replay after a restart from checkpoint cannot duplicate an
-- alert. No foreign key to fact_transactions: alerts are written in real time, long before the batch
-- transforms load the transaction into gold.
CREATE TABLE gold.fact_fraud_alerts (
    alert_id       text PRIMARY KEY CHECK (alert_id <> ''),
    transaction_id text NOT NULL CHECK (transaction_id <> ''),
    customer_id    text NOT NULL,
    terminal_id    text NOT NULL,
    amount         numeric(14, 2) NOT NULL CHECK (amount >= 0),
    score          double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    rule_score     double precision NOT NULL CHECK (rule_score BETWEEN 0 AND 1),
    ml_score       double precision CHECK (ml_score BETWEEN 0 AND 1),
    -- [{"code": "FR-001", "reason": "amount 950.00 is 6.1 std above the customer's mean", "weight": 0.4}, ...]
    rule_hits      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(rule_hits) = 'array'),
    model_version  text,
    event_time     timestamptz NOT NULL,
    detection_time timestamptz NOT NULL,
    inserted_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fact_fraud_alerts_transaction_idx ON gold.fact_fraud_alerts (transaction_id);
CREATE INDEX fact_fraud_alerts_customer_idx ON gold.fact_fraud_alerts (customer_id, detection_time);
CREATE INDEX fact_fraud_alerts_detection_time_idx ON gold.fact_fraud_alerts (detection_time);

-- Every score of every model version, so an active and a shadow model can be compared on the same events
-- (streamflow model compare). One row per (transaction, model version): replays overwrite nothing.

CREATE TABLE gold.model_scores (
    transaction_id text NOT NULL CHECK (transaction_id <> ''),
    model_version  text NOT NULL CHECK (model_version <> ''),
    role           text NOT NULL CHECK (role IN ('active', 'shadow')),
    score          double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    event_time     timestamptz NOT NULL,
    scored_at      timestamptz NOT NULL,
    PRIMARY KEY (transaction_id, model_version)
);
-- Comparisons select one model version over a time range.
CREATE INDEX model_scores_version_time_idx ON gold.model_scores (model_version, event_time);

-- What `streamflow model compare` and the FraudModel comparison need beside each score: the customer (card
-- precision@100 counts cards, not transactions), the model's own score next to the combined detector score
-- (`score` stays the combined rules + model score the alert decision used) and that decision itself.
-- Nullable: rows written before this migration keep their meaning.

ALTER TABLE gold.model_scores
    ADD COLUMN customer_id text CHECK (customer_id <> ''),
    ADD COLUMN ml_score    double precision CHECK (ml_score >= 0 AND ml_score <= 1),
    ADD COLUMN alert       boolean;

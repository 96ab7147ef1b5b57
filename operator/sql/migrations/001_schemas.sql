-- Medallion layers: raw records as received (bronze), validated and de-duplicated (silver),
-- modelled facts, dimensions and the feature store (gold). Separate schemas let grants follow the layers.
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;

COMMENT ON SCHEMA bronze IS 'Raw records exactly as received (at-least-once, may hold duplicates and bad records).';
COMMENT ON SCHEMA silver IS 'Validated transactions, one row per transaction_id; rejects kept with their reason.';
COMMENT ON SCHEMA gold IS 'Dimensions, facts, fraud alerts, model scores and the feature store.';

-- Version 4: one batch ledger. What is true about a batch (extracted, transformed, loaded,
-- written to the lake, quarantined, lost) is recorded here, one row per batch, by the step
-- that makes it true; the bucket watermarks and quarantine marks it replaces are no longer
-- read. The rows of loaded_batch become the ledger's loaded batches. Batches extracted but
-- not loaded are adopted from the ingest bucket's manifests by the next run.
-- The warehouse also records the environment it is fed from (its buckets and lake), and
-- holds the embedded lake catalog (pyiceberg's SQL catalog) in the schema ainsdale_lake.
-- Reverse: ALTER TABLE ainsdale_meta.dim_version DROP COLUMN changed_at (and dim_base_version's);
--   DROP VIEW ainsdale_meta.loaded_batch; DROP TABLE ainsdale_meta.environment; DROP SCHEMA ainsdale_lake CASCADE;
--   DELETE FROM ainsdale_meta.batch WHERE loaded_at IS NULL;
--   ALTER TABLE ainsdale_meta.batch RENAME TO loaded_batch; then drop the added columns.

ALTER TABLE ainsdale_meta.loaded_batch RENAME TO batch;

ALTER TABLE ainsdale_meta.batch
    ALTER COLUMN loaded_at DROP NOT NULL,
    ALTER COLUMN loaded_at DROP DEFAULT,
    ALTER COLUMN rows DROP NOT NULL,
    ADD COLUMN follows text,
    ADD COLUMN manifest_sha256 text,
    ADD COLUMN ingest_uri text,
    ADD COLUMN processed_uri text,
    ADD COLUMN extracted_at timestamptz,
    ADD COLUMN transformed_at timestamptz,
    ADD COLUMN lake_at timestamptz,
    ADD COLUMN quarantine_step text,
    ADD COLUMN quarantine_reason text,
    ADD COLUMN quarantined_at timestamptz,
    ADD COLUMN lost_at timestamptz,
    ADD COLUMN repaired_by text;

UPDATE ainsdale_meta.batch SET extracted_at = loaded_at, transformed_at = loaded_at;

-- Readers of the old name (dashboards, analysts' SQL) see the loaded batches, as before.
CREATE VIEW ainsdale_meta.loaded_batch AS
    SELECT batch_id, loaded_at, rows, schema_version FROM ainsdale_meta.batch
    WHERE loaded_at IS NOT NULL;

CREATE INDEX batch_open ON ainsdale_meta.batch (batch_id)
    WHERE loaded_at IS NULL OR lake_at IS NULL OR lake_at < loaded_at
       OR quarantine_step IS NOT NULL;

CREATE TABLE ainsdale_meta.environment (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    environment_id uuid NOT NULL DEFAULT gen_random_uuid(),
    ingest_uri text NOT NULL,
    processed_uri text NOT NULL,
    lake text NOT NULL,
    bound_at timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA IF NOT EXISTS ainsdale_lake;

-- When each dimension row's version last changed (the load's transaction time): what the
-- lake owes a dimension is the rows changed since it last took the warehouse's state.
ALTER TABLE ainsdale_meta.dim_version ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE ainsdale_meta.dim_base_version
    ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX dim_version_changed ON ainsdale_meta.dim_version (dim, changed_at);

-- Version 2: each ledger row says which schema version wrote the batch it records (its
-- manifest's; empty for batches loaded before versions were recorded).
-- Reverse: ALTER TABLE ainsdale_meta.loaded_batch DROP COLUMN schema_version;

ALTER TABLE ainsdale_meta.loaded_batch ADD COLUMN IF NOT EXISTS schema_version integer;

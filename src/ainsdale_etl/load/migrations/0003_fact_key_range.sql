-- Version 3: the surrogate keys an initial (bulk) load gave a fact's rows, first_key ..
-- first_key + rows - 1 in the order of the batch's Parquet object (named by its sha256), so
-- the lake can write those rows from the object rather than read them back (lake/rows.py).
-- Reverse: DROP TABLE ainsdale_meta.fact_key_range;

CREATE TABLE IF NOT EXISTS ainsdale_meta.fact_key_range (
    star_table text NOT NULL,
    batch_id text NOT NULL,
    first_key bigint NOT NULL,
    rows bigint NOT NULL,
    object_sha256 text NOT NULL,
    PRIMARY KEY (star_table, batch_id)
);

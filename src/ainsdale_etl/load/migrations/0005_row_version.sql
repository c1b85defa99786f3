-- Version 5: one record of each row's version. What is true about a star row -- which batch
-- holds its current version, which fact row that version is, whether it was deleted -- is
-- recorded here, one row per (star table, id), by the load that makes it true (load/versions.py).
-- It replaces dim_version (dimensions' versions) and deleted_row (deletions, which were never
-- undone when an id came back). The order of versions is the batch order, never last_updated.
-- A row with no entry has one version: the one a bulk load put there (dim_base_version for a
-- dimension, fact_key_range for a fact).
-- Views: <fact>_current, the current version of each fact, deleted ids left out.
-- Reverse: DROP VIEW the three *_current views; recreate dim_version and deleted_row from
--   row_version (deleted ones into deleted_row); DROP TABLE ainsdale_meta.row_version.

CREATE TABLE ainsdale_meta.row_version (
    star_table text NOT NULL,
    id integer NOT NULL,
    batch_id text NOT NULL,
    record_id integer,
    deleted boolean NOT NULL DEFAULT false,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (star_table, id)
);
CREATE INDEX row_version_changed ON ainsdale_meta.row_version (star_table, changed_at);

INSERT INTO ainsdale_meta.row_version (star_table, id, batch_id, changed_at)
    SELECT dim, id, batch_id, changed_at FROM ainsdale_meta.dim_version;

-- A dimension's deletion stands unless a later batch delivered the row again (or bulk-loaded
-- the table after it).
INSERT INTO ainsdale_meta.row_version AS v (star_table, id, batch_id, deleted, changed_at)
    SELECT d.star_table, d.id, d.batch_id, true, d.detected_at
    FROM ainsdale_meta.deleted_row d WHERE d.star_table LIKE 'dim\_%'
    AND d.batch_id >= coalesce((SELECT b.batch_id FROM ainsdale_meta.dim_base_version b
        WHERE b.dim = d.star_table), '')
    ON CONFLICT (star_table, id) DO UPDATE SET deleted = true
    WHERE v.batch_id <= EXCLUDED.batch_id;

-- Facts loaded before this version have no recorded order but last_updated's: each id with a
-- version not put there by a bulk load gets its newest by last_updated (then by key), as of
-- the newest batch loaded; later batches are ordered by batch.
INSERT INTO ainsdale_meta.row_version (star_table, id, batch_id, record_id)
    SELECT DISTINCT ON (f.sales_order_id) 'fact_sales_order', f.sales_order_id,
        (SELECT coalesce(max(batch_id), '') FROM ainsdale_meta.batch WHERE loaded_at IS NOT NULL),
        f.sales_record_id
    FROM fact_sales_order f
    WHERE f.sales_order_id IN (
        SELECT g.sales_order_id FROM fact_sales_order g WHERE NOT EXISTS (
            SELECT FROM ainsdale_meta.fact_key_range r WHERE r.star_table = 'fact_sales_order'
            AND g.sales_record_id BETWEEN r.first_key AND r.first_key + r.rows - 1))
    ORDER BY f.sales_order_id, f.last_updated_date DESC, f.last_updated_time DESC,
        f.sales_record_id DESC;
INSERT INTO ainsdale_meta.row_version (star_table, id, batch_id, record_id)
    SELECT DISTINCT ON (f.purchase_order_id) 'fact_purchase_order', f.purchase_order_id,
        (SELECT coalesce(max(batch_id), '') FROM ainsdale_meta.batch WHERE loaded_at IS NOT NULL),
        f.purchase_record_id
    FROM fact_purchase_order f
    WHERE f.purchase_order_id IN (
        SELECT g.purchase_order_id FROM fact_purchase_order g WHERE NOT EXISTS (
            SELECT FROM ainsdale_meta.fact_key_range r WHERE r.star_table = 'fact_purchase_order'
            AND g.purchase_record_id BETWEEN r.first_key AND r.first_key + r.rows - 1))
    ORDER BY f.purchase_order_id, f.last_updated_date DESC, f.last_updated_time DESC,
        f.purchase_record_id DESC;
INSERT INTO ainsdale_meta.row_version (star_table, id, batch_id, record_id)
    SELECT DISTINCT ON (f.payment_id) 'fact_payment', f.payment_id,
        (SELECT coalesce(max(batch_id), '') FROM ainsdale_meta.batch WHERE loaded_at IS NOT NULL),
        f.payment_record_id
    FROM fact_payment f
    WHERE f.payment_id IN (
        SELECT g.payment_id FROM fact_payment g WHERE NOT EXISTS (
            SELECT FROM ainsdale_meta.fact_key_range r WHERE r.star_table = 'fact_payment'
            AND g.payment_record_id BETWEEN r.first_key AND r.first_key + r.rows - 1))
    ORDER BY f.payment_id, f.last_updated_date DESC, f.last_updated_time DESC,
        f.payment_record_id DESC;

-- A fact's deletion, as recorded, is its current version (its last row stays as history).
INSERT INTO ainsdale_meta.row_version AS v (star_table, id, batch_id, record_id, deleted,
        changed_at)
    SELECT d.star_table, d.id, d.batch_id, NULL, true, d.detected_at
    FROM ainsdale_meta.deleted_row d WHERE d.star_table LIKE 'fact\_%'
    ON CONFLICT (star_table, id) DO UPDATE SET deleted = true, changed_at = EXCLUDED.changed_at;

DROP TABLE ainsdale_meta.dim_version;
DROP TABLE ainsdale_meta.deleted_row;

-- The current version of each fact: the row its id's entry names, or, with no entry, its only
-- row; deleted ids left out.
CREATE VIEW fact_sales_order_current AS
    SELECT f.* FROM fact_sales_order f
    LEFT JOIN ainsdale_meta.row_version v
        ON v.star_table = 'fact_sales_order' AND v.id = f.sales_order_id
    WHERE v.id IS NULL OR (v.record_id = f.sales_record_id AND NOT v.deleted);
CREATE VIEW fact_purchase_order_current AS
    SELECT f.* FROM fact_purchase_order f
    LEFT JOIN ainsdale_meta.row_version v
        ON v.star_table = 'fact_purchase_order' AND v.id = f.purchase_order_id
    WHERE v.id IS NULL OR (v.record_id = f.purchase_record_id AND NOT v.deleted);
CREATE VIEW fact_payment_current AS
    SELECT f.* FROM fact_payment f
    LEFT JOIN ainsdale_meta.row_version v
        ON v.star_table = 'fact_payment' AND v.id = f.payment_id
    WHERE v.id IS NULL OR (v.record_id = f.payment_record_id AND NOT v.deleted);

-- Version 6: dimension history (type 2) beside the spec's type-1 dimensions, and the facts
-- as recorded. Each dimension mirrored from the source gets dim_<name>_history: a surrogate
-- key, the natural key, every attribute, and the version's interval [valid_from, valid_to) in
-- the batch order (load/history.py); one current row per id (a partial unique index).
-- batch_time(batch id) is the UTC time a batch id names: the order of versions as a time.
-- dim_deletion keeps every deletion a load applied (row_version keeps the current one only),
-- fact_recorded the first batch that recorded each merged fact row (a bulk load's rows have
-- their batch in fact_key_range). Views: <fact>_current gains recorded_batch and recorded_at
-- (the batch that recorded the current version, and its time); <fact>_as_recorded, every fact
-- version with the dimension versions valid when it was recorded. A history row's changed_at
-- is when a load last changed it: what the lake is owed.
-- Backfill: one current version per dimension row, valid from its current version's batch
-- (row_version, else dim_base_version); rows deleted or waiting as placeholders get none.
-- Facts merged before this version have the batch of their current version only.
-- Reverse: DROP VIEW the three *_as_recorded views; recreate 0005's *_current views; DROP TABLE the eight dim_*_history,
--   ainsdale_meta.dim_deletion and ainsdale_meta.fact_recorded;
--   DROP FUNCTION ainsdale_meta.batch_time.

CREATE FUNCTION ainsdale_meta.batch_time(batch_id text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT make_timestamptz(substr(batch_id, 1, 4)::int, substr(batch_id, 5, 2)::int,
        substr(batch_id, 7, 2)::int, substr(batch_id, 10, 2)::int,
        substr(batch_id, 12, 2)::int,
        (substr(batch_id, 14, 2) || '.' || substr(batch_id, 16, 6))::float8, 'UTC')
$$;

CREATE TABLE ainsdale_meta.dim_deletion (
    star_table text NOT NULL,
    id integer NOT NULL,
    batch_id text NOT NULL,
    PRIMARY KEY (star_table, id, batch_id)
);
INSERT INTO ainsdale_meta.dim_deletion (star_table, id, batch_id)
    SELECT star_table, id, batch_id FROM ainsdale_meta.row_version
    WHERE deleted AND star_table LIKE 'dim\_%';

CREATE TABLE ainsdale_meta.fact_recorded (
    star_table text NOT NULL,
    record_id integer NOT NULL,
    batch_id text NOT NULL,
    PRIMARY KEY (star_table, record_id)
);
INSERT INTO ainsdale_meta.fact_recorded (star_table, record_id, batch_id)
    SELECT star_table, record_id, batch_id FROM ainsdale_meta.row_version
    WHERE star_table LIKE 'fact\_%' AND record_id IS NOT NULL AND batch_id <> '';


CREATE TABLE IF NOT EXISTS "dim_staff_history" (
    "staff_version_key" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "staff_id" integer NOT NULL,
    "first_name" varchar NOT NULL,
    "last_name" varchar NOT NULL,
    "department_name" varchar NOT NULL,
    "location" varchar,
    "email_address" varchar NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    is_current boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "dim_staff_history_version" UNIQUE ("staff_id", valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS "dim_staff_history_current" ON "dim_staff_history" ("staff_id") WHERE is_current;
CREATE INDEX IF NOT EXISTS "dim_staff_history_changed" ON "dim_staff_history" (changed_at);

INSERT INTO "dim_staff_history" ("staff_id", "first_name", "last_name", "department_name", "location", "email_address", valid_from, is_current)
    SELECT d."staff_id", d."first_name", d."last_name", d."department_name", d."location", d."email_address", ainsdale_meta.batch_time(coalesce(v.batch_id, b.batch_id)), true
    FROM "dim_staff" d
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'dim_staff' AND v.id = d."staff_id"
    LEFT JOIN ainsdale_meta.dim_base_version b ON b.dim = 'dim_staff'
    WHERE coalesce(v.batch_id, b.batch_id, '') <> '' AND NOT coalesce(v.deleted, false)
    AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i
        WHERE i.dim = 'dim_staff' AND i.id = d."staff_id");

CREATE TABLE IF NOT EXISTS "dim_location_history" (
    "location_version_key" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "location_id" integer NOT NULL,
    "address_line_1" varchar NOT NULL,
    "address_line_2" varchar,
    "district" varchar,
    "city" varchar NOT NULL,
    "postal_code" varchar NOT NULL,
    "country" varchar NOT NULL,
    "phone" varchar NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    is_current boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "dim_location_history_version" UNIQUE ("location_id", valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS "dim_location_history_current" ON "dim_location_history" ("location_id") WHERE is_current;
CREATE INDEX IF NOT EXISTS "dim_location_history_changed" ON "dim_location_history" (changed_at);

INSERT INTO "dim_location_history" ("location_id", "address_line_1", "address_line_2", "district", "city", "postal_code", "country", "phone", valid_from, is_current)
    SELECT d."location_id", d."address_line_1", d."address_line_2", d."district", d."city", d."postal_code", d."country", d."phone", ainsdale_meta.batch_time(coalesce(v.batch_id, b.batch_id)), true
    FROM "dim_location" d
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'dim_location' AND v.id = d."location_id"
    LEFT JOIN ainsdale_meta.dim_base_version b ON b.dim = 'dim_location'
    WHERE coalesce(v.batch_id, b.batch_id, '') <> '' AND NOT coalesce(v.deleted, false)
    AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i
        WHERE i.dim = 'dim_location' AND i.id = d."location_id");

CREATE TABLE IF NOT EXISTS "dim_design_history" (
    "design_version_key" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "design_id" integer NOT NULL,
    "design_name" varchar NOT NULL,
    "file_location" varchar NOT NULL,
    "file_name" varchar NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    is_current boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "dim_design_history_version" UNIQUE ("design_id", valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS "dim_design_history_current" ON "dim_design_history" ("design_id") WHERE is_current;
CREATE INDEX IF NOT EXISTS "dim_design_history_changed" ON "dim_design_history" (changed_at);

INSERT INTO "dim_design_history" ("design_id", "design_name", "file_location", "file_name", valid_from, is_current)
    SELECT d."design_id", d."design_name", d."file_location", d."file_name", ainsdale_meta.batch_time(coalesce(v.batch_id, b.batch_id)), true
    FROM "dim_design" d
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'dim_design' AND v.id = d."design_id"
    LEFT JOIN ainsdale_meta.dim_base_version b ON b.dim = 'dim_design'
    WHERE coalesce(v.batch_id, b.batch_id, '') <> '' AND NOT coalesce(v.deleted, false)
    AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i
        WHERE i.dim = 'dim_design' AND i.id = d."design_id");

CREATE TABLE IF NOT EXISTS "dim_currency_history" (
    "currency_version_key" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "currency_id" integer NOT NULL,
    "currency_code" varchar NOT NULL,
    "currency_name" varchar NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    is_current boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "dim_currency_history_version" UNIQUE ("currency_id", valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS "dim_currency_history_current" ON "dim_currency_history" ("currency_id") WHERE is_current;
CREATE INDEX IF NOT EXISTS "dim_currency_history_changed" ON "dim_currency_history" (changed_at);

INSERT INTO "dim_currency_history" ("currency_id", "currency_code", "currency_name", valid_from, is_current)
    SELECT d."currency_id", d."currency_code", d."currency_name", ainsdale_meta.batch_time(coalesce(v.batch_id, b.batch_id)), true
    FROM "dim_currency" d
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'dim_currency' AND v.id = d."currency_id"
    LEFT JOIN ainsdale_meta.dim_base_version b ON b.dim = 'dim_currency'
    WHERE coalesce(v.batch_id, b.batch_id, '') <> '' AND NOT coalesce(v.deleted, false)
    AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i
        WHERE i.dim = 'dim_currency' AND i.id = d."currency_id");

CREATE TABLE IF NOT EXISTS "dim_counterparty_history" (
    "counterparty_version_key" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "counterparty_id" integer NOT NULL,
    "counterparty_legal_name" varchar NOT NULL,
    "counterparty_legal_address_line_1" varchar NOT NULL,
    "counterparty_legal_address_line_2" varchar,
    "counterparty_legal_district" varchar,
    "counterparty_legal_city" varchar NOT NULL,
    "counterparty_legal_postal_code" varchar NOT NULL,
    "counterparty_legal_country" varchar NOT NULL,
    "counterparty_legal_phone_number" varchar NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    is_current boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "dim_counterparty_history_version" UNIQUE ("counterparty_id", valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS "dim_counterparty_history_current" ON "dim_counterparty_history" ("counterparty_id") WHERE is_current;
CREATE INDEX IF NOT EXISTS "dim_counterparty_history_changed" ON "dim_counterparty_history" (changed_at);

INSERT INTO "dim_counterparty_history" ("counterparty_id", "counterparty_legal_name", "counterparty_legal_address_line_1", "counterparty_legal_address_line_2", "counterparty_legal_district", "counterparty_legal_city", "counterparty_legal_postal_code", "counterparty_legal_country", "counterparty_legal_phone_number", valid_from, is_current)
    SELECT d."counterparty_id", d."counterparty_legal_name", d."counterparty_legal_address_line_1", d."counterparty_legal_address_line_2", d."counterparty_legal_district", d."counterparty_legal_city", d."counterparty_legal_postal_code", d."counterparty_legal_country", d."counterparty_legal_phone_number", ainsdale_meta.batch_time(coalesce(v.batch_id, b.batch_id)), true
    FROM "dim_counterparty" d
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'dim_counterparty' AND v.id = d."counterparty_id"
    LEFT JOIN ainsdale_meta.dim_base_version b ON b.dim = 'dim_counterparty'
    WHERE coalesce(v.batch_id, b.batch_id, '') <> '' AND NOT coalesce(v.deleted, false)
    AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i
        WHERE i.dim = 'dim_counterparty' AND i.id = d."counterparty_id");

CREATE TABLE IF NOT EXISTS "dim_payment_type_history" (
    "payment_type_version_key" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "payment_type_id" integer NOT NULL,
    "payment_type_name" varchar NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    is_current boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "dim_payment_type_history_version" UNIQUE ("payment_type_id", valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS "dim_payment_type_history_current" ON "dim_payment_type_history" ("payment_type_id") WHERE is_current;
CREATE INDEX IF NOT EXISTS "dim_payment_type_history_changed" ON "dim_payment_type_history" (changed_at);

INSERT INTO "dim_payment_type_history" ("payment_type_id", "payment_type_name", valid_from, is_current)
    SELECT d."payment_type_id", d."payment_type_name", ainsdale_meta.batch_time(coalesce(v.batch_id, b.batch_id)), true
    FROM "dim_payment_type" d
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'dim_payment_type' AND v.id = d."payment_type_id"
    LEFT JOIN ainsdale_meta.dim_base_version b ON b.dim = 'dim_payment_type'
    WHERE coalesce(v.batch_id, b.batch_id, '') <> '' AND NOT coalesce(v.deleted, false)
    AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i
        WHERE i.dim = 'dim_payment_type' AND i.id = d."payment_type_id");

CREATE TABLE IF NOT EXISTS "dim_transaction_history" (
    "transaction_version_key" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "transaction_id" integer NOT NULL,
    "transaction_type" varchar NOT NULL,
    "sales_order_id" integer,
    "purchase_order_id" integer,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    is_current boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "dim_transaction_history_version" UNIQUE ("transaction_id", valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS "dim_transaction_history_current" ON "dim_transaction_history" ("transaction_id") WHERE is_current;
CREATE INDEX IF NOT EXISTS "dim_transaction_history_changed" ON "dim_transaction_history" (changed_at);

INSERT INTO "dim_transaction_history" ("transaction_id", "transaction_type", "sales_order_id", "purchase_order_id", valid_from, is_current)
    SELECT d."transaction_id", d."transaction_type", d."sales_order_id", d."purchase_order_id", ainsdale_meta.batch_time(coalesce(v.batch_id, b.batch_id)), true
    FROM "dim_transaction" d
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'dim_transaction' AND v.id = d."transaction_id"
    LEFT JOIN ainsdale_meta.dim_base_version b ON b.dim = 'dim_transaction'
    WHERE coalesce(v.batch_id, b.batch_id, '') <> '' AND NOT coalesce(v.deleted, false)
    AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i
        WHERE i.dim = 'dim_transaction' AND i.id = d."transaction_id");

CREATE OR REPLACE VIEW "fact_sales_order_current" AS
    SELECT f.*, (SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_sales_order' AND fr.record_id = f."sales_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_sales_order'
                AND f."sales_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1))) AS recorded_batch,
        ainsdale_meta.batch_time((SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_sales_order' AND fr.record_id = f."sales_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_sales_order'
                AND f."sales_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1)))) AS recorded_at
    FROM "fact_sales_order" f
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'fact_sales_order' AND v.id = f."sales_order_id"
    WHERE v.id IS NULL OR (v.record_id = f."sales_record_id" AND NOT v.deleted);

CREATE OR REPLACE VIEW "fact_sales_order_as_recorded" AS
SELECT
    f.*,
    r.recorded_batch,
    ainsdale_meta.batch_time(r.recorded_batch) AS recorded_at,
    h0."staff_version_key" AS "sales_staff_version_key",
    h0."first_name" AS "sales_staff_first_name",
    h0."last_name" AS "sales_staff_last_name",
    h0."department_name" AS "sales_staff_department_name",
    h0."location" AS "sales_staff_location",
    h0."email_address" AS "sales_staff_email_address",
    h1."counterparty_version_key" AS "counterparty_version_key",
    h1."counterparty_legal_name" AS "counterparty_legal_name",
    h1."counterparty_legal_address_line_1" AS "counterparty_legal_address_line_1",
    h1."counterparty_legal_address_line_2" AS "counterparty_legal_address_line_2",
    h1."counterparty_legal_district" AS "counterparty_legal_district",
    h1."counterparty_legal_city" AS "counterparty_legal_city",
    h1."counterparty_legal_postal_code" AS "counterparty_legal_postal_code",
    h1."counterparty_legal_country" AS "counterparty_legal_country",
    h1."counterparty_legal_phone_number" AS "counterparty_legal_phone_number",
    h2."currency_version_key" AS "currency_version_key",
    h2."currency_code" AS "currency_code",
    h2."currency_name" AS "currency_name",
    h3."design_version_key" AS "design_version_key",
    h3."design_name" AS "design_name",
    h3."file_location" AS "design_file_location",
    h3."file_name" AS "design_file_name",
    h4."location_version_key" AS "agreed_delivery_location_version_key",
    h4."address_line_1" AS "agreed_delivery_location_address_line_1",
    h4."address_line_2" AS "agreed_delivery_location_address_line_2",
    h4."district" AS "agreed_delivery_location_district",
    h4."city" AS "agreed_delivery_location_city",
    h4."postal_code" AS "agreed_delivery_location_postal_code",
    h4."country" AS "agreed_delivery_location_country",
    h4."phone" AS "agreed_delivery_location_phone"
FROM "fact_sales_order" f CROSS JOIN LATERAL (SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_sales_order' AND fr.record_id = f."sales_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_sales_order'
                AND f."sales_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1)) AS recorded_batch) r
LEFT JOIN "dim_staff_history" h0 ON h0."staff_id" = f."sales_staff_id" AND h0.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h0.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h0.valid_to)
LEFT JOIN "dim_counterparty_history" h1 ON h1."counterparty_id" = f."counterparty_id" AND h1.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h1.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h1.valid_to)
LEFT JOIN "dim_currency_history" h2 ON h2."currency_id" = f."currency_id" AND h2.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h2.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h2.valid_to)
LEFT JOIN "dim_design_history" h3 ON h3."design_id" = f."design_id" AND h3.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h3.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h3.valid_to)
LEFT JOIN "dim_location_history" h4 ON h4."location_id" = f."agreed_delivery_location_id" AND h4.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h4.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h4.valid_to);

CREATE OR REPLACE VIEW "fact_purchase_order_current" AS
    SELECT f.*, (SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_purchase_order' AND fr.record_id = f."purchase_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_purchase_order'
                AND f."purchase_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1))) AS recorded_batch,
        ainsdale_meta.batch_time((SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_purchase_order' AND fr.record_id = f."purchase_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_purchase_order'
                AND f."purchase_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1)))) AS recorded_at
    FROM "fact_purchase_order" f
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'fact_purchase_order' AND v.id = f."purchase_order_id"
    WHERE v.id IS NULL OR (v.record_id = f."purchase_record_id" AND NOT v.deleted);

CREATE OR REPLACE VIEW "fact_purchase_order_as_recorded" AS
SELECT
    f.*,
    r.recorded_batch,
    ainsdale_meta.batch_time(r.recorded_batch) AS recorded_at,
    h0."staff_version_key" AS "staff_version_key",
    h0."first_name" AS "staff_first_name",
    h0."last_name" AS "staff_last_name",
    h0."department_name" AS "staff_department_name",
    h0."location" AS "staff_location",
    h0."email_address" AS "staff_email_address",
    h1."counterparty_version_key" AS "counterparty_version_key",
    h1."counterparty_legal_name" AS "counterparty_legal_name",
    h1."counterparty_legal_address_line_1" AS "counterparty_legal_address_line_1",
    h1."counterparty_legal_address_line_2" AS "counterparty_legal_address_line_2",
    h1."counterparty_legal_district" AS "counterparty_legal_district",
    h1."counterparty_legal_city" AS "counterparty_legal_city",
    h1."counterparty_legal_postal_code" AS "counterparty_legal_postal_code",
    h1."counterparty_legal_country" AS "counterparty_legal_country",
    h1."counterparty_legal_phone_number" AS "counterparty_legal_phone_number",
    h2."currency_version_key" AS "currency_version_key",
    h2."currency_code" AS "currency_code",
    h2."currency_name" AS "currency_name",
    h3."location_version_key" AS "agreed_delivery_location_version_key",
    h3."address_line_1" AS "agreed_delivery_location_address_line_1",
    h3."address_line_2" AS "agreed_delivery_location_address_line_2",
    h3."district" AS "agreed_delivery_location_district",
    h3."city" AS "agreed_delivery_location_city",
    h3."postal_code" AS "agreed_delivery_location_postal_code",
    h3."country" AS "agreed_delivery_location_country",
    h3."phone" AS "agreed_delivery_location_phone"
FROM "fact_purchase_order" f CROSS JOIN LATERAL (SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_purchase_order' AND fr.record_id = f."purchase_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_purchase_order'
                AND f."purchase_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1)) AS recorded_batch) r
LEFT JOIN "dim_staff_history" h0 ON h0."staff_id" = f."staff_id" AND h0.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h0.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h0.valid_to)
LEFT JOIN "dim_counterparty_history" h1 ON h1."counterparty_id" = f."counterparty_id" AND h1.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h1.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h1.valid_to)
LEFT JOIN "dim_currency_history" h2 ON h2."currency_id" = f."currency_id" AND h2.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h2.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h2.valid_to)
LEFT JOIN "dim_location_history" h3 ON h3."location_id" = f."agreed_delivery_location_id" AND h3.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h3.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h3.valid_to);

CREATE OR REPLACE VIEW "fact_payment_current" AS
    SELECT f.*, (SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_payment' AND fr.record_id = f."payment_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_payment'
                AND f."payment_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1))) AS recorded_batch,
        ainsdale_meta.batch_time((SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_payment' AND fr.record_id = f."payment_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_payment'
                AND f."payment_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1)))) AS recorded_at
    FROM "fact_payment" f
    LEFT JOIN ainsdale_meta.row_version v ON v.star_table = 'fact_payment' AND v.id = f."payment_id"
    WHERE v.id IS NULL OR (v.record_id = f."payment_record_id" AND NOT v.deleted);

CREATE OR REPLACE VIEW "fact_payment_as_recorded" AS
SELECT
    f.*,
    r.recorded_batch,
    ainsdale_meta.batch_time(r.recorded_batch) AS recorded_at,
    h0."transaction_version_key" AS "transaction_version_key",
    h0."transaction_type" AS "transaction_type",
    h0."sales_order_id" AS "transaction_sales_order_id",
    h0."purchase_order_id" AS "transaction_purchase_order_id",
    h1."counterparty_version_key" AS "counterparty_version_key",
    h1."counterparty_legal_name" AS "counterparty_legal_name",
    h1."counterparty_legal_address_line_1" AS "counterparty_legal_address_line_1",
    h1."counterparty_legal_address_line_2" AS "counterparty_legal_address_line_2",
    h1."counterparty_legal_district" AS "counterparty_legal_district",
    h1."counterparty_legal_city" AS "counterparty_legal_city",
    h1."counterparty_legal_postal_code" AS "counterparty_legal_postal_code",
    h1."counterparty_legal_country" AS "counterparty_legal_country",
    h1."counterparty_legal_phone_number" AS "counterparty_legal_phone_number",
    h2."currency_version_key" AS "currency_version_key",
    h2."currency_code" AS "currency_code",
    h2."currency_name" AS "currency_name",
    h3."payment_type_version_key" AS "payment_type_version_key",
    h3."payment_type_name" AS "payment_type_name"
FROM "fact_payment" f CROSS JOIN LATERAL (SELECT least(
            (SELECT fr.batch_id FROM ainsdale_meta.fact_recorded fr
                WHERE fr.star_table = 'fact_payment' AND fr.record_id = f."payment_record_id"),
            (SELECT kr.batch_id FROM ainsdale_meta.fact_key_range kr WHERE kr.star_table = 'fact_payment'
                AND f."payment_record_id" BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1)) AS recorded_batch) r
LEFT JOIN "dim_transaction_history" h0 ON h0."transaction_id" = f."transaction_id" AND h0.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h0.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h0.valid_to)
LEFT JOIN "dim_counterparty_history" h1 ON h1."counterparty_id" = f."counterparty_id" AND h1.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h1.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h1.valid_to)
LEFT JOIN "dim_currency_history" h2 ON h2."currency_id" = f."currency_id" AND h2.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h2.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h2.valid_to)
LEFT JOIN "dim_payment_type_history" h3 ON h3."payment_type_id" = f."payment_type_id" AND h3.valid_from <= ainsdale_meta.batch_time(r.recorded_batch) AND (h3.valid_to IS NULL OR ainsdale_meta.batch_time(r.recorded_batch) < h3.valid_to);

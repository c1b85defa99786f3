-- Version 1: the schema of the release before schema versions, frozen as its
-- load.ddl.warehouse_ddl() produced it. Every statement creates only what is missing, so a
-- warehouse that release (or an older one) created is brought to version 1 in place.

CREATE SCHEMA IF NOT EXISTS ainsdale_meta;

CREATE TABLE IF NOT EXISTS ainsdale_meta.loaded_batch (
    batch_id text PRIMARY KEY,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    rows jsonb NOT NULL
);

CREATE TABLE IF NOT EXISTS ainsdale_meta.deleted_row (
    star_table text NOT NULL,
    id integer NOT NULL,
    source_table text NOT NULL,
    batch_id text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    kept boolean NOT NULL,
    PRIMARY KEY (star_table, id)
);

CREATE TABLE IF NOT EXISTS ainsdale_meta.dim_version (
    dim text NOT NULL,
    id integer NOT NULL,
    batch_id text NOT NULL,
    PRIMARY KEY (dim, id)
);

CREATE TABLE IF NOT EXISTS ainsdale_meta.dim_base_version (
    dim text PRIMARY KEY,
    batch_id text NOT NULL
);

CREATE TABLE IF NOT EXISTS ainsdale_meta.inferred_member (
    dim text NOT NULL,
    id integer NOT NULL,
    batch_id text NOT NULL,
    referenced_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dim, id)
);

CREATE TABLE IF NOT EXISTS "dim_date" (
    "date_id" date NOT NULL,
    "year" integer NOT NULL,
    "month" integer NOT NULL,
    "day" integer NOT NULL,
    "day_of_week" integer NOT NULL,
    "day_name" varchar NOT NULL,
    "month_name" varchar NOT NULL,
    "quarter" integer NOT NULL,
    PRIMARY KEY ("date_id")
);

CREATE TABLE IF NOT EXISTS "dim_staff" (
    "staff_id" integer NOT NULL,
    "first_name" varchar NOT NULL,
    "last_name" varchar NOT NULL,
    "department_name" varchar NOT NULL,
    "location" varchar,
    "email_address" varchar NOT NULL,
    PRIMARY KEY ("staff_id")
);

CREATE TABLE IF NOT EXISTS "dim_location" (
    "location_id" integer NOT NULL,
    "address_line_1" varchar NOT NULL,
    "address_line_2" varchar,
    "district" varchar,
    "city" varchar NOT NULL,
    "postal_code" varchar NOT NULL,
    "country" varchar NOT NULL,
    "phone" varchar NOT NULL,
    PRIMARY KEY ("location_id")
);

CREATE TABLE IF NOT EXISTS "dim_design" (
    "design_id" integer NOT NULL,
    "design_name" varchar NOT NULL,
    "file_location" varchar NOT NULL,
    "file_name" varchar NOT NULL,
    PRIMARY KEY ("design_id")
);

CREATE TABLE IF NOT EXISTS "dim_currency" (
    "currency_id" integer NOT NULL,
    "currency_code" varchar NOT NULL,
    "currency_name" varchar NOT NULL,
    PRIMARY KEY ("currency_id")
);

CREATE TABLE IF NOT EXISTS "dim_counterparty" (
    "counterparty_id" integer NOT NULL,
    "counterparty_legal_name" varchar NOT NULL,
    "counterparty_legal_address_line_1" varchar NOT NULL,
    "counterparty_legal_address_line_2" varchar,
    "counterparty_legal_district" varchar,
    "counterparty_legal_city" varchar NOT NULL,
    "counterparty_legal_postal_code" varchar NOT NULL,
    "counterparty_legal_country" varchar NOT NULL,
    "counterparty_legal_phone_number" varchar NOT NULL,
    PRIMARY KEY ("counterparty_id")
);

CREATE TABLE IF NOT EXISTS "dim_payment_type" (
    "payment_type_id" integer NOT NULL,
    "payment_type_name" varchar NOT NULL,
    PRIMARY KEY ("payment_type_id")
);

CREATE TABLE IF NOT EXISTS "dim_transaction" (
    "transaction_id" integer NOT NULL,
    "transaction_type" varchar NOT NULL,
    "sales_order_id" integer,
    "purchase_order_id" integer,
    PRIMARY KEY ("transaction_id")
);

CREATE TABLE IF NOT EXISTS "fact_sales_order" (
    "sales_record_id" integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "sales_order_id" integer NOT NULL,
    "created_date" date NOT NULL,
    "created_time" time NOT NULL,
    "last_updated_date" date NOT NULL,
    "last_updated_time" time NOT NULL,
    "sales_staff_id" integer NOT NULL,
    "counterparty_id" integer NOT NULL,
    "units_sold" integer NOT NULL,
    "unit_price" numeric(10,2) NOT NULL,
    "currency_id" integer NOT NULL,
    "design_id" integer NOT NULL,
    "agreed_payment_date" date NOT NULL,
    "agreed_delivery_date" date NOT NULL,
    "agreed_delivery_location_id" integer NOT NULL,
    CONSTRAINT "fact_sales_order_natural_key" UNIQUE ("sales_order_id", "last_updated_date", "last_updated_time"),
    CONSTRAINT "fact_sales_order_created_date_fkey" FOREIGN KEY ("created_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_sales_order_last_updated_date_fkey" FOREIGN KEY ("last_updated_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_sales_order_sales_staff_id_fkey" FOREIGN KEY ("sales_staff_id") REFERENCES "dim_staff" ("staff_id"),
    CONSTRAINT "fact_sales_order_counterparty_id_fkey" FOREIGN KEY ("counterparty_id") REFERENCES "dim_counterparty" ("counterparty_id"),
    CONSTRAINT "fact_sales_order_currency_id_fkey" FOREIGN KEY ("currency_id") REFERENCES "dim_currency" ("currency_id"),
    CONSTRAINT "fact_sales_order_design_id_fkey" FOREIGN KEY ("design_id") REFERENCES "dim_design" ("design_id"),
    CONSTRAINT "fact_sales_order_agreed_payment_date_fkey" FOREIGN KEY ("agreed_payment_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_sales_order_agreed_delivery_date_fkey" FOREIGN KEY ("agreed_delivery_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_sales_order_agreed_delivery_location_id_fkey" FOREIGN KEY ("agreed_delivery_location_id") REFERENCES "dim_location" ("location_id")
);

CREATE TABLE IF NOT EXISTS "fact_purchase_order" (
    "purchase_record_id" integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "purchase_order_id" integer NOT NULL,
    "created_date" date NOT NULL,
    "created_time" time NOT NULL,
    "last_updated_date" date NOT NULL,
    "last_updated_time" time NOT NULL,
    "staff_id" integer NOT NULL,
    "counterparty_id" integer NOT NULL,
    "item_code" varchar NOT NULL,
    "item_quantity" integer NOT NULL,
    "item_unit_price" numeric(10,2) NOT NULL,
    "currency_id" integer NOT NULL,
    "agreed_delivery_date" date NOT NULL,
    "agreed_payment_date" date NOT NULL,
    "agreed_delivery_location_id" integer NOT NULL,
    CONSTRAINT "fact_purchase_order_natural_key" UNIQUE ("purchase_order_id", "last_updated_date", "last_updated_time"),
    CONSTRAINT "fact_purchase_order_created_date_fkey" FOREIGN KEY ("created_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_purchase_order_last_updated_date_fkey" FOREIGN KEY ("last_updated_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_purchase_order_staff_id_fkey" FOREIGN KEY ("staff_id") REFERENCES "dim_staff" ("staff_id"),
    CONSTRAINT "fact_purchase_order_counterparty_id_fkey" FOREIGN KEY ("counterparty_id") REFERENCES "dim_counterparty" ("counterparty_id"),
    CONSTRAINT "fact_purchase_order_currency_id_fkey" FOREIGN KEY ("currency_id") REFERENCES "dim_currency" ("currency_id"),
    CONSTRAINT "fact_purchase_order_agreed_delivery_date_fkey" FOREIGN KEY ("agreed_delivery_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_purchase_order_agreed_payment_date_fkey" FOREIGN KEY ("agreed_payment_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_purchase_order_agreed_delivery_location_id_fkey" FOREIGN KEY ("agreed_delivery_location_id") REFERENCES "dim_location" ("location_id")
);

CREATE TABLE IF NOT EXISTS "fact_payment" (
    "payment_record_id" integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "payment_id" integer NOT NULL,
    "created_date" date NOT NULL,
    "created_time" time NOT NULL,
    "last_updated_date" date NOT NULL,
    "last_updated_time" time NOT NULL,
    "transaction_id" integer NOT NULL,
    "counterparty_id" integer NOT NULL,
    "payment_amount" numeric(10,2) NOT NULL,
    "currency_id" integer NOT NULL,
    "payment_type_id" integer NOT NULL,
    "paid" boolean NOT NULL,
    "payment_date" date NOT NULL,
    CONSTRAINT "fact_payment_natural_key" UNIQUE ("payment_id", "last_updated_date", "last_updated_time"),
    CONSTRAINT "fact_payment_created_date_fkey" FOREIGN KEY ("created_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_payment_last_updated_date_fkey" FOREIGN KEY ("last_updated_date") REFERENCES "dim_date" ("date_id"),
    CONSTRAINT "fact_payment_transaction_id_fkey" FOREIGN KEY ("transaction_id") REFERENCES "dim_transaction" ("transaction_id"),
    CONSTRAINT "fact_payment_counterparty_id_fkey" FOREIGN KEY ("counterparty_id") REFERENCES "dim_counterparty" ("counterparty_id"),
    CONSTRAINT "fact_payment_currency_id_fkey" FOREIGN KEY ("currency_id") REFERENCES "dim_currency" ("currency_id"),
    CONSTRAINT "fact_payment_payment_type_id_fkey" FOREIGN KEY ("payment_type_id") REFERENCES "dim_payment_type" ("payment_type_id"),
    CONSTRAINT "fact_payment_payment_date_fkey" FOREIGN KEY ("payment_date") REFERENCES "dim_date" ("date_id")
);


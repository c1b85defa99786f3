CREATE OR REPLACE VIEW "fact_payment_current_as_recorded" AS
SELECT
    f."payment_record_id",
    f."payment_id",
    f."created_date",
    f."created_time",
    f."last_updated_date",
    f."last_updated_time",
    f."transaction_id",
    f."counterparty_id",
    f."payment_amount",
    f."currency_id",
    f."payment_type_id",
    f."paid",
    f."payment_date",
    f."recorded_batch",
    f."recorded_at",
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
FROM "fact_payment_current" f
LEFT JOIN "dim_transaction_history" h0 ON h0."transaction_id" = f."transaction_id" AND h0.valid_from <= f."recorded_at" AND (h0.valid_to IS NULL OR f."recorded_at" < h0.valid_to)
LEFT JOIN "dim_counterparty_history" h1 ON h1."counterparty_id" = f."counterparty_id" AND h1.valid_from <= f."recorded_at" AND (h1.valid_to IS NULL OR f."recorded_at" < h1.valid_to)
LEFT JOIN "dim_currency_history" h2 ON h2."currency_id" = f."currency_id" AND h2.valid_from <= f."recorded_at" AND (h2.valid_to IS NULL OR f."recorded_at" < h2.valid_to)
LEFT JOIN "dim_payment_type_history" h3 ON h3."payment_type_id" = f."payment_type_id" AND h3.valid_from <= f."recorded_at" AND (h3.valid_to IS NULL OR f."recorded_at" < h3.valid_to)

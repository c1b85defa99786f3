CREATE OR REPLACE VIEW "fact_purchase_order_current_as_recorded" AS
SELECT
    f."purchase_record_id",
    f."purchase_order_id",
    f."created_date",
    f."created_time",
    f."last_updated_date",
    f."last_updated_time",
    f."staff_id",
    f."counterparty_id",
    f."item_code",
    f."item_quantity",
    f."item_unit_price",
    f."currency_id",
    f."agreed_delivery_date",
    f."agreed_payment_date",
    f."agreed_delivery_location_id",
    f."recorded_batch",
    f."recorded_at",
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
FROM "fact_purchase_order_current" f
LEFT JOIN "dim_staff_history" h0
    ON h0."staff_id" = f."staff_id"
    AND h0."valid_from" <= f."recorded_at"
    AND (h0."valid_to" IS NULL OR f."recorded_at" < h0."valid_to")
LEFT JOIN "dim_counterparty_history" h1
    ON h1."counterparty_id" = f."counterparty_id"
    AND h1."valid_from" <= f."recorded_at"
    AND (h1."valid_to" IS NULL OR f."recorded_at" < h1."valid_to")
LEFT JOIN "dim_currency_history" h2
    ON h2."currency_id" = f."currency_id"
    AND h2."valid_from" <= f."recorded_at"
    AND (h2."valid_to" IS NULL OR f."recorded_at" < h2."valid_to")
LEFT JOIN "dim_location_history" h3
    ON h3."location_id" = f."agreed_delivery_location_id"
    AND h3."valid_from" <= f."recorded_at"
    AND (h3."valid_to" IS NULL OR f."recorded_at" < h3."valid_to")

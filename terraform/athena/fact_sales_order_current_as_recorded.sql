CREATE OR REPLACE VIEW "fact_sales_order_current_as_recorded" AS
SELECT
    f."sales_record_id",
    f."sales_order_id",
    f."created_date",
    f."created_time",
    f."last_updated_date",
    f."last_updated_time",
    f."sales_staff_id",
    f."counterparty_id",
    f."units_sold",
    f."unit_price",
    f."currency_id",
    f."design_id",
    f."agreed_payment_date",
    f."agreed_delivery_date",
    f."agreed_delivery_location_id",
    f."recorded_batch",
    f."recorded_at",
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
FROM "fact_sales_order_current" f
LEFT JOIN "dim_staff_history" h0
    ON h0."staff_id" = f."sales_staff_id"
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
LEFT JOIN "dim_design_history" h3
    ON h3."design_id" = f."design_id"
    AND h3."valid_from" <= f."recorded_at"
    AND (h3."valid_to" IS NULL OR f."recorded_at" < h3."valid_to")
LEFT JOIN "dim_location_history" h4
    ON h4."location_id" = f."agreed_delivery_location_id"
    AND h4."valid_from" <= f."recorded_at"
    AND (h4."valid_to" IS NULL OR f."recorded_at" < h4."valid_to")

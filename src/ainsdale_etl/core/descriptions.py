"""What each star table and column means, in words, declared once (from shared/spec/warehouse.md).

The registry (:mod:`.registry`) says what a table holds in types; this says it in words, for
the documents generated from it (``ainsdale-etl dbt-sources``). A column name means the same in
every table it appears in (``currency_id`` is the currency wherever it is), so columns are
described by name; a test keeps every registry column described.
"""

from __future__ import annotations

TABLES: dict[str, str] = {
    "dim_date": "A generated calendar covering every date any fact references.",
    "dim_staff": "Staff, with the name and location of their department (staff joined to "
    "department). Type 1: the latest version of each member of staff.",
    "dim_location": "Addresses (totesys's address, address_id as location_id). Type 1.",
    "dim_design": "Designs. Type 1.",
    "dim_currency": "Currencies, with their ISO 4217 names. Type 1.",
    "dim_counterparty": "Counterparties with their legal address (counterparty joined to "
    "address; contacts dropped). Type 1.",
    "dim_payment_type": "Payment types. Type 1.",
    "dim_transaction": "Transactions: a sale or a purchase, and the order it settles. Type 1.",
    "fact_sales_order": "Every version of every sales order the pipeline has seen, one row a "
    "version. Summing it counts an order once per edit: use fact_sales_order_current.",
    "fact_purchase_order": "Every version of every purchase order, one row a version. Use "
    "fact_purchase_order_current for totals.",
    "fact_payment": "Every version of every payment, one row a version. Use "
    "fact_payment_current for totals.",
}

COLUMNS: dict[str, str] = {
    # dim_date
    "date_id": "The date.",
    "year": "Calendar year.",
    "month": "Month of the year, 1-12.",
    "day": "Day of the month.",
    "day_of_week": "ISO day of the week: 1 = Monday ... 7 = Sunday.",
    "day_name": "Name of the day ('Monday').",
    "month_name": "Name of the month ('January').",
    "quarter": "Quarter of the year, 1-4.",
    # dimensions' attributes
    "staff_id": "The member of staff (dim_staff).",
    "first_name": "First name.",
    "last_name": "Last name.",
    "department_name": "Name of the member of staff's department.",
    "location": "Where the department is (may be null).",
    "email_address": "Email address.",
    "location_id": "The address (dim_location).",
    "address_line_1": "First line of the address.",
    "address_line_2": "Second line of the address (may be null).",
    "district": "District (may be null).",
    "city": "City.",
    "postal_code": "Postal code.",
    "country": "Country.",
    "phone": "Telephone number.",
    "design_id": "The design (dim_design).",
    "design_name": "Name of the design.",
    "file_location": "Folder of the design's file.",
    "file_name": "Name of the design's file.",
    "currency_id": "The currency (dim_currency).",
    "currency_code": "ISO 4217 code (GBP, USD, EUR).",
    "currency_name": "ISO 4217 name (Pound Sterling).",
    "counterparty_id": "The counterparty (dim_counterparty).",
    "counterparty_legal_name": "Legal name of the counterparty.",
    "counterparty_legal_address_line_1": "First line of the legal address.",
    "counterparty_legal_address_line_2": "Second line of the legal address (may be null).",
    "counterparty_legal_district": "District of the legal address (may be null).",
    "counterparty_legal_city": "City of the legal address.",
    "counterparty_legal_postal_code": "Postal code of the legal address.",
    "counterparty_legal_country": "Country of the legal address.",
    "counterparty_legal_phone_number": "Telephone number at the legal address.",
    "payment_type_id": "The payment type (dim_payment_type).",
    "payment_type_name": "Name of the payment type (SALES_RECEIPT, PURCHASE_PAYMENT, ...).",
    "transaction_id": "The transaction (dim_transaction).",
    "transaction_type": "SALE or PURCHASE.",
    "sales_order_id": "The sales order (its id in totesys).",
    "purchase_order_id": "The purchase order (its id in totesys).",
    # facts
    "sales_record_id": "Surrogate key of this version, assigned by the warehouse.",
    "purchase_record_id": "Surrogate key of this version, assigned by the warehouse.",
    "payment_record_id": "Surrogate key of this version, assigned by the warehouse.",
    "payment_id": "The payment (its id in totesys).",
    "created_date": "Date the row was created in totesys (dim_date).",
    "created_time": "Time of day the row was created in totesys.",
    "last_updated_date": "Date of this version: when totesys last updated the row (dim_date).",
    "last_updated_time": "Time of day of this version.",
    "sales_staff_id": "The member of staff who made the sale (dim_staff).",
    "units_sold": "Units sold.",
    "unit_price": "Price of one unit, exact (numeric(10,2)), in the order's currency.",
    "agreed_payment_date": "Date payment was agreed for (dim_date).",
    "agreed_delivery_date": "Date delivery was agreed for (dim_date).",
    "agreed_delivery_location_id": "Where delivery was agreed to (dim_location).",
    "item_code": "Code of the item bought.",
    "item_quantity": "Quantity bought.",
    "item_unit_price": "Price of one item, exact (numeric(10,2)), in the order's currency.",
    "payment_amount": "Amount paid, exact (numeric(10,2)), in the payment's currency.",
    "paid": "Whether the payment has been made.",
    "payment_date": "Date of the payment (dim_date).",
    # history and current (migration 0006)
    "valid_from": "When this version became true: the time its batch id names (the batch "
    "order, never a writer's clock).",
    "valid_to": "When the next version, or the id's deletion, began; null while current.",
    "is_current": "Whether this is the id's current version (at most one per id).",
    "changed_at": "When a load last changed this row (a version added, an interval split or "
    "closed).",
    "recorded_batch": "The batch that first recorded this version.",
    "recorded_at": "The time that batch's id names: the dimension versions valid then are the "
    "ones this version saw.",
}


def column_description(name: str) -> str:
    """What column ``name`` holds; a history's surrogate key is described from its name."""
    if name.endswith("_version_key"):
        return "Surrogate key of this version of the dimension row."
    return COLUMNS[name]

"""The star-schema builders: pure functions of small literal frames."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.registry import FACTS, SOURCE_TABLES, STAR_TABLES
from ainsdale_etl.transform import star
from ainsdale_etl.transform.contracts import source_schema

CREATED = datetime(2024, 3, 4, 10, 11, 12, 345000)
UPDATED = datetime(2024, 3, 6, 23, 59, 59, 999000)
LATER = datetime(2024, 4, 1, 8, 0, 0, 1000)
# CREATED and UPDATED as every fact holds them.
SPLIT_STAMPS = {
    "created_date": date(2024, 3, 4),
    "created_time": time(10, 11, 12, 345000),
    "last_updated_date": date(2024, 3, 6),
    "last_updated_time": time(23, 59, 59, 999000),
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "address": {"address_id": 1, "address_line_1": "6826 Herzog Via", "address_line_2": None,
                "district": None, "city": "Leeds", "postal_code": "28441", "country": "UK",
                "phone": "1803 637401"},
    "counterparty": {"counterparty_id": 10, "counterparty_legal_name": "Fahey and Sons",
                     "legal_address_id": 1, "commercial_contact": "Micheal Toy",
                     "delivery_contact": "Mrs. Lucy Runolfsdottir"},
    "currency": {"currency_id": 1, "currency_code": "GBP"},
    "department": {"department_id": 5, "department_name": "Sales", "location": "Manchester",
                   "manager": "Richard Roma"},
    "design": {"design_id": 3, "design_name": "Wooden", "file_location": "/usr",
               "file_name": "wooden-20220717-npgz.json"},
    "staff": {"staff_id": 100, "first_name": "Jeremie", "last_name": "Franey",
              "department_id": 5, "email_address": "jeremie.franey@terrifictotes.com"},
    "payment_type": {"payment_type_id": 1, "payment_type_name": "SALES_RECEIPT"},
    "sales_order": {"sales_order_id": 7, "design_id": 3, "staff_id": 100, "counterparty_id": 10,
                    "units_sold": 42, "unit_price": Decimal("3.49"), "currency_id": 1,
                    "agreed_delivery_date": "2024-03-10", "agreed_payment_date": "2024-03-12",
                    "agreed_delivery_location_id": 1},
    "purchase_order": {"purchase_order_id": 8, "staff_id": 100, "counterparty_id": 10,
                       "item_code": "ZDOI5EA", "item_quantity": 371,
                       "item_unit_price": Decimal("361.39"), "currency_id": 1,
                       "agreed_delivery_date": "2024-03-09", "agreed_payment_date": "2024-03-11",
                       "agreed_delivery_location_id": 1},
    "transaction": {"transaction_id": 20, "transaction_type": "SALE", "sales_order_id": 7,
                    "purchase_order_id": None},
    "payment": {"payment_id": 21, "transaction_id": 20, "counterparty_id": 10,
                "payment_amount": Decimal("146.58"), "currency_id": 1, "payment_type_id": 1,
                "paid": False, "payment_date": "2024-03-12", "company_ac_number": 67305075,
                "counterparty_ac_number": 31758074},
}  # fmt: skip


def rows(table: str, *overrides: dict[str, Any]) -> pl.DataFrame:
    """A source frame of ``table`` typed as the contract declares, one row per override."""
    stamps = {"created_at": CREATED, "last_updated": UPDATED}
    data = [{**stamps, **DEFAULTS[table], **o} for o in overrides]
    return pl.DataFrame(data, schema=source_schema(SOURCE_TABLES[table]))


def columns_of(table: str) -> list[str]:
    return STAR_TABLES[table].column_names


# --- facts -------------------------------------------------------------------------------


def test_fact_sales_order_splits_timestamps_keeping_milliseconds():
    fact = star.build_fact_sales_order(rows("sales_order", {}))
    got = fact.select("created_date", "created_time", "last_updated_date", "last_updated_time")
    assert got.row(0) == (
        date(2024, 3, 4),
        time(10, 11, 12, 345000),
        date(2024, 3, 6),
        time(23, 59, 59, 999000),
    )


def test_fact_sales_order_parses_text_dates():
    fact = star.build_fact_sales_order(rows("sales_order", {}))
    assert fact["agreed_delivery_date"].to_list() == [date(2024, 3, 10)]
    assert fact["agreed_payment_date"].to_list() == [date(2024, 3, 12)]
    assert fact.schema["agreed_delivery_date"] == pl.Date


def test_fact_sales_order_renames_staff_id_to_sales_staff_id():
    fact = star.build_fact_sales_order(rows("sales_order", {"staff_id": 123}))
    assert fact["sales_staff_id"].to_list() == [123]
    assert "staff_id" not in fact.columns


def test_fact_sales_order_keeps_unit_price_an_exact_decimal():
    fact = star.build_fact_sales_order(rows("sales_order", {"unit_price": Decimal("2.01")}))
    assert fact.schema["unit_price"] == pl.Decimal(10, 2)
    assert fact["unit_price"].to_list() == [Decimal("2.01")]


def test_fact_sales_order_has_the_registry_columns_in_order():
    fact = star.build_fact_sales_order(rows("sales_order", {}))
    assert fact.columns == columns_of("fact_sales_order")
    assert fact["sales_order_id"].dtype == pl.Int32


def test_fact_sales_order_keeps_every_version_of_an_order():
    fact = star.build_fact_sales_order(rows("sales_order", {}, {"last_updated": LATER}))
    assert fact["sales_order_id"].to_list() == [7, 7]
    assert sorted(fact["last_updated_date"].to_list()) == [date(2024, 3, 6), date(2024, 4, 1)]


def test_fact_purchase_order():
    fact = star.build_fact_purchase_order(rows("purchase_order", {}))
    assert fact.columns == columns_of("fact_purchase_order")
    assert fact.row(0, named=True) == {
        "purchase_order_id": 8,
        **SPLIT_STAMPS,
        "staff_id": 100,
        "counterparty_id": 10,
        "item_code": "ZDOI5EA",
        "item_quantity": 371,
        "item_unit_price": Decimal("361.39"),
        "currency_id": 1,
        "agreed_delivery_date": date(2024, 3, 9),
        "agreed_payment_date": date(2024, 3, 11),
        "agreed_delivery_location_id": 1,
    }


def test_fact_payment():
    fact = star.build_fact_payment(rows("payment", {}))
    assert fact.columns == columns_of("fact_payment")
    assert fact.row(0, named=True) == {
        "payment_id": 21,
        **SPLIT_STAMPS,
        "transaction_id": 20,
        "counterparty_id": 10,
        "payment_amount": Decimal("146.58"),
        "currency_id": 1,
        "payment_type_id": 1,
        "paid": False,
        "payment_date": date(2024, 3, 12),
    }
    # Account numbers are not part of the fact.
    assert "company_ac_number" not in fact.columns


def test_fact_payment_paid_stays_boolean():
    fact = star.build_fact_payment(
        rows("payment", {"paid": True}, {"payment_id": 22, "paid": False})
    )
    assert fact.schema["paid"] == pl.Boolean
    assert fact.sort("payment_id")["paid"].to_list() == [True, False]


def test_a_bad_text_date_names_table_column_row_and_value():
    frame = rows("sales_order", {}, {"sales_order_id": 99, "agreed_payment_date": "2024-02-30"})
    with pytest.raises(BadInputError) as err:
        star.build_fact_sales_order(frame)
    message = str(err.value)
    assert message.startswith("sales_order:")
    assert "agreed_payment_date" in message
    assert "sales_order_id=99" in message
    assert "'2024-02-30'" in message


def test_a_bad_payment_date_is_an_error():
    with pytest.raises(BadInputError, match=r"payment: column payment_date of row payment_id=21"):
        star.build_fact_payment(rows("payment", {"payment_date": "12/03/2024"}))


def test_a_two_digit_year_is_not_a_yyyy_mm_dd_date():
    with pytest.raises(BadInputError, match="agreed_delivery_date"):
        star.build_fact_sales_order(rows("sales_order", {"agreed_delivery_date": "24-03-10"}))


# --- dimensions ----------------------------------------------------------------------------


def test_dim_staff_joins_department_name_and_location():
    staff = rows("staff", {}, {"staff_id": 101, "department_id": 6, "first_name": "Deron"})
    department = rows(
        "department", {}, {"department_id": 6, "department_name": "Finance", "location": None}
    )
    dim = star.build_dim_staff(staff, department).sort("staff_id")
    assert dim.columns == columns_of("dim_staff")
    assert dim.to_dicts() == [
        {
            "staff_id": 100,
            "first_name": "Jeremie",
            "last_name": "Franey",
            "department_name": "Sales",
            "location": "Manchester",
            "email_address": "jeremie.franey@terrifictotes.com",
        },
        {
            "staff_id": 101,
            "first_name": "Deron",
            "last_name": "Franey",
            "department_name": "Finance",
            "location": None,
            "email_address": "jeremie.franey@terrifictotes.com",
        },
    ]


def test_dim_location_renames_address_id_and_keeps_null_lines():
    address = rows("address", {}, {"address_id": 2, "address_line_2": "Apt. 5", "district": "Kent"})
    dim = star.build_dim_location(address).sort("location_id")
    assert dim.columns == columns_of("dim_location")
    assert dim["location_id"].to_list() == [1, 2]
    assert dim["address_line_2"].to_list() == [None, "Apt. 5"]
    assert dim["district"].to_list() == [None, "Kent"]


def test_dim_location_keeps_an_empty_line_distinct_from_null():
    dim = star.build_dim_location(rows("address", {"address_line_2": ""}))
    assert dim["address_line_2"].to_list() == [""]


def test_dim_counterparty_takes_the_legal_address_and_drops_contacts():
    address = rows(
        "address",
        {},
        {"address_id": 2, "address_line_2": "Apt. 5", "city": "Lyon", "phone": "1803 000000"},
    )
    counterparty = rows("counterparty", {}, {"counterparty_id": 11, "legal_address_id": 2})
    dim = star.build_dim_counterparty(counterparty, address).sort("counterparty_id")
    assert dim.columns == columns_of("dim_counterparty")
    assert not {"commercial_contact", "delivery_contact", "legal_address_id"} & set(dim.columns)
    assert dim.row(1, named=True) == {
        "counterparty_id": 11,
        "counterparty_legal_name": "Fahey and Sons",
        "counterparty_legal_address_line_1": "6826 Herzog Via",
        "counterparty_legal_address_line_2": "Apt. 5",
        "counterparty_legal_district": None,
        "counterparty_legal_city": "Lyon",
        "counterparty_legal_postal_code": "28441",
        "counterparty_legal_country": "UK",
        "counterparty_legal_phone_number": "1803 000000",
    }
    assert dim["counterparty_legal_city"].to_list() == ["Leeds", "Lyon"]


def test_dim_currency_names_codes_from_iso_4217():
    currency = rows(
        "currency",
        {},
        {"currency_id": 2, "currency_code": "USD"},
        {"currency_id": 3, "currency_code": "EUR"},
    )
    dim = star.build_dim_currency(currency).sort("currency_id")
    assert dim.columns == columns_of("dim_currency")
    assert dim.rows() == [(1, "GBP", "Pound Sterling"), (2, "USD", "US Dollar"), (3, "EUR", "Euro")]


def test_dim_currency_names_an_unknown_code_by_itself_and_lists_it():
    dim = star.build_dim_currency(rows("currency", {"currency_code": "XYZ"}))
    assert dim.rows() == [(1, "XYZ", "XYZ")]
    assert star.unknown_currency_codes(dim) == ["XYZ"]


def test_a_star_row_the_warehouse_would_refuse_is_named_before_the_load():
    from ainsdale_etl.transform.star.conform import conform

    design = pl.DataFrame(
        {"design_id": [4, 5], "design_name": ["Ok", None], "file_location": ["/a", "/b"],
         "file_name": ["a", "b"]}
    )  # fmt: skip
    with pytest.raises(
        BadInputError, match=r"dim_design: column design_name of row design_id=5 would be NULL"
    ):
        conform(design, "dim_design")


def test_dim_payment_type_turns_the_enum_into_text():
    payment_type = rows(
        "payment_type", {}, {"payment_type_id": 3, "payment_type_name": "PURCHASE_PAYMENT"}
    )
    dim = star.build_dim_payment_type(payment_type).sort("payment_type_id")
    assert dim.columns == columns_of("dim_payment_type")
    assert dim.rows() == [(1, "SALES_RECEIPT"), (3, "PURCHASE_PAYMENT")]
    assert dim.schema["payment_type_name"] == pl.String


def test_dim_transaction_keeps_null_order_ids():
    transaction = rows(
        "transaction",
        {},
        {
            "transaction_id": 21,
            "transaction_type": "PURCHASE",
            "sales_order_id": None,
            "purchase_order_id": 8,
        },
    )
    dim = star.build_dim_transaction(transaction).sort("transaction_id")
    assert dim.columns == columns_of("dim_transaction")
    assert dim.rows() == [(20, "SALE", 7, None), (21, "PURCHASE", None, 8)]


def test_dim_design():
    dim = star.build_dim_design(rows("design", {}))
    assert dim.columns == columns_of("dim_design")
    assert dim.rows() == [(3, "Wooden", "/usr", "wooden-20220717-npgz.json")]


def test_dim_date_is_a_contiguous_calendar_from_min_to_max():
    dim = star.build_dim_date(pl.Series([date(2024, 3, 5), date(2024, 2, 27), None]))
    assert dim.columns == columns_of("dim_date")
    days = dim["date_id"].to_list()
    assert days[0] == date(2024, 2, 27)
    assert days[-1] == date(2024, 3, 5)
    assert days == [date(2024, 2, 27) + timedelta(days=i) for i in range(8)]  # leap day included


def test_dim_date_uses_iso_weekdays_and_english_names():
    # 2024-01-01 was a Monday; 2024-01-07 a Sunday.
    dim = star.build_dim_date(pl.Series([date(2024, 1, 1), date(2024, 1, 7)]))
    assert dim["day_of_week"].to_list() == [1, 2, 3, 4, 5, 6, 7]
    assert dim["day_name"].to_list() == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    assert dim.row(6, named=True) == {
        "date_id": date(2024, 1, 7),
        "year": 2024,
        "month": 1,
        "day": 7,
        "day_of_week": 7,
        "day_name": "Sunday",
        "month_name": "January",
        "quarter": 1,
    }


@pytest.mark.parametrize(
    ("day", "month_name", "quarter"),
    [
        (date(2023, 3, 31), "March", 1),
        (date(2023, 4, 1), "April", 2),
        (date(2023, 9, 30), "September", 3),
        (date(2023, 12, 31), "December", 4),
    ],
)
def test_dim_date_month_name_and_quarter(day, month_name, quarter):
    dim = star.build_dim_date(pl.Series([day]))
    assert dim.select("month_name", "quarter").rows() == [(month_name, quarter)]


def test_dim_date_of_no_dates_is_empty_with_the_registry_schema():
    dim = star.build_dim_date(pl.Series("d", [], dtype=pl.Date))
    assert dim.height == 0
    assert dim.schema == pl.Schema(star.star_schema(STAR_TABLES["dim_date"]))
    assert star.build_dim_date(pl.Series([None], dtype=pl.Date)).height == 0


# --- merge_current -------------------------------------------------------------------------


B1, B2, B3 = "20260101T000000000000Z", "20260102T000000000000Z", "20260103T000000000000Z"


def test_merge_current_keeps_the_latest_version_of_each_id():
    current = rows("address", {"city": "Leeds"}, {"address_id": 2, "city": "Lyon"})
    changes = rows("address", {"city": "Ainsdale", "last_updated": LATER})
    merged = star.merge_current(current, changes, "address", B1)
    assert merged.select("address_id", "city").rows() == [(1, "Ainsdale"), (2, "Lyon")]


def test_merge_current_adds_new_ids():
    merged = star.merge_current(
        rows("address", {}), rows("address", {"address_id": 3}), "address", B1
    )
    assert merged["address_id"].to_list() == [1, 3]


def test_merge_current_is_idempotent():
    current = rows("address", {}, {"address_id": 2})
    changes = rows("address", {"city": "Ainsdale", "last_updated": LATER})
    once = star.merge_current(current, changes, "address", B1)
    twice = star.merge_current(once, changes, "address", B1)
    assert twice.equals(once)
    assert twice.height == 2


def test_merge_current_ignores_an_older_batch_merged_after_a_newer_one():
    base = rows("address", {}, {"address_id": 2})
    older = rows("address", {"city": "Older", "last_updated": UPDATED + timedelta(days=1)})
    newer = rows("address", {"city": "Newer", "last_updated": LATER})
    in_order = star.merge_current(
        star.merge_current(base, older, "address", B1), newer, "address", B2
    )
    reversed_ = star.merge_current(
        star.merge_current(base, newer, "address", B2), older, "address", B1
    )
    assert reversed_.equals(in_order)
    assert in_order.filter(pl.col("address_id") == 1)["city"].to_list() == ["Newer"]


def test_the_later_batch_wins_even_with_an_earlier_last_updated():
    """A row stamped a day in the future, then fixed at the source: the fix carries the
    earlier last_updated, and is the current version all the same."""
    future = rows("address", {"city": "Typo", "last_updated": LATER + timedelta(days=1)})
    fixed = rows("address", {"city": "Fixed", "last_updated": LATER})
    merged = star.merge_current(
        star.merge_current(rows("address"), future, "address", B2), fixed, "address", B3
    )
    assert merged["city"].to_list() == ["Fixed"]


# --- build_star ----------------------------------------------------------------------------


def current_state() -> dict[str, pl.DataFrame]:
    """Two addresses, three counterparties (two share address 1), two departments, three staff."""
    return {
        "address": rows("address", {}, {"address_id": 2, "city": "Lyon"}),
        "counterparty": rows(
            "counterparty",
            {},
            {"counterparty_id": 11},
            {"counterparty_id": 12, "legal_address_id": 2},
        ),
        "department": rows("department", {}, {"department_id": 6, "department_name": "Finance"}),
        "staff": rows("staff", {}, {"staff_id": 101}, {"staff_id": 102, "department_id": 6}),
    }


def test_build_star_returns_every_star_table_in_registry_order():
    built = star.build_star({}, current_state())
    assert list(built) == list(STAR_TABLES)
    for name, frame in built.items():
        assert frame.height == 0, name
        assert frame.columns == columns_of(name), name


def test_a_changed_address_rebuilds_its_location_and_the_counterparties_it_is_legal_for():
    current = current_state()
    moved = rows("address", {"city": "Ainsdale", "last_updated": LATER})
    current["address"] = star.merge_current(current["address"], moved, "address", B1)
    built = star.build_star({"address": moved}, current)
    assert built["dim_location"].select("location_id", "city").rows() == [(1, "Ainsdale")]
    counterparties = built["dim_counterparty"].sort("counterparty_id")
    assert counterparties.select("counterparty_id", "counterparty_legal_city").rows() == [
        (10, "Ainsdale"),
        (11, "Ainsdale"),
    ]
    assert built["dim_staff"].height == 0


def test_a_changed_department_rebuilds_every_staff_row_in_it():
    current = current_state()
    renamed = rows("department", {"department_name": "Renamed", "last_updated": LATER})
    current["department"] = star.merge_current(current["department"], renamed, "department", B1)
    built = star.build_star({"department": renamed}, current)
    staff = built["dim_staff"].sort("staff_id")
    assert staff.select("staff_id", "department_name").rows() == [
        (100, "Renamed"),
        (101, "Renamed"),
    ]


def test_a_changed_staff_row_is_joined_with_the_current_department():
    current = current_state()
    moved = rows("staff", {"staff_id": 102, "department_id": 5, "last_updated": LATER})
    current["staff"] = star.merge_current(current["staff"], moved, "staff", B1)
    built = star.build_star({"staff": moved}, current)
    assert built["dim_staff"].select("staff_id", "department_name").rows() == [(102, "Sales")]


def test_dimensions_a_batch_does_not_touch_are_empty():
    current = current_state()
    built = star.build_star({"currency": rows("currency", {})}, current)
    assert built["dim_currency"].height == 1
    untouched = [n for n, f in built.items() if n not in {"dim_currency"} and f.height]
    assert untouched == []


def test_a_dimension_keeps_only_the_latest_version_in_a_batch():
    changes = {
        "design": rows(
            "design", {"design_name": "Old"}, {"design_name": "New", "last_updated": LATER}
        )
    }
    built = star.build_star(changes, current_state())
    assert built["dim_design"].select("design_id", "design_name").rows() == [(3, "New")]


def test_dim_date_covers_every_date_the_facts_reference():
    changes = {
        "sales_order": rows("sales_order", {"agreed_delivery_date": "2024-05-01"}),
        "purchase_order": rows("purchase_order", {"created_at": datetime(2024, 2, 1, 9)}),
        "payment": rows("payment", {"payment_date": "2024-06-30"}),
    }
    built = star.build_star(changes, current_state())
    calendar = set(built["dim_date"]["date_id"].to_list())
    referenced = {
        value
        for fact in FACTS
        for column in fact.columns
        if column.references == "dim_date"
        for value in built[fact.name][column.name].to_list()
    }
    assert referenced <= calendar
    assert min(calendar) == date(2024, 2, 1)
    assert max(calendar) == date(2024, 6, 30)
    assert (
        len(calendar) == built["dim_date"].height == (date(2024, 6, 30) - date(2024, 2, 1)).days + 1
    )


def test_staff_in_a_department_not_delivered_yet_get_placeholders_until_it_arrives():
    current = current_state()
    hired = rows("staff", {"staff_id": 103, "department_id": 9, "last_updated": LATER})
    current["staff"] = star.merge_current(current["staff"], hired, "staff", B1)
    built = star.build_star({"staff": hired}, current)
    assert built["dim_staff"].select("staff_id", "department_name", "location").rows() == [
        (103, "unknown", None)
    ]
    arrived = rows(
        "department", {"department_id": 9, "department_name": "Late", "location": "Leeds"}
    )
    current["department"] = star.merge_current(current["department"], arrived, "department", B2)
    rebuilt = star.build_star({"department": arrived}, current)["dim_staff"]
    assert rebuilt.select("staff_id", "department_name", "location").rows() == [
        (103, "Late", "Leeds")
    ]

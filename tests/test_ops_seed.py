"""The seeded totesys reproduces production's quirks, deterministically, and guards other data."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.errors import ExitCode, RefusedError
from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.ops.seed import SeedSize, seed
from helpers.databases import query

SHARED_SCALE = 0.05  # what conftest's shared_source_url is seeded at
TINY = 0.01
CHECKSUM = "SELECT md5(string_agg(t::text, ',' ORDER BY sales_order_id)) FROM sales_order t"


def database(url: str) -> Database:
    return Database("source", SecretStr(url))


def scalar(url: str, sql: str, params: list[object] | None = None) -> object:
    [(value,)] = query(url, sql, params)
    return value


def expected_counts(scale: float) -> dict[str, int]:
    size = SeedSize.for_scale(scale)
    orders = size.sales_orders + size.purchase_orders
    return {
        "_prisma_migrations": 3,
        "address": size.addresses,
        "counterparty": size.counterparties,
        "currency": 3,
        "department": size.departments,
        "design": size.designs,
        "staff": size.staff,
        "payment_type": 4,
        "sales_order": size.sales_orders,
        "purchase_order": size.purchase_orders,
        "transaction": orders,
        "payment": orders,
    }


@pytest.fixture(scope="module")
def tiny_seeded(new_database_url) -> tuple[str, dict[str, int]]:
    """A totesys seeded at scale 0.01 with the default seed, and what seed() returned."""
    url = new_database_url("seed_tiny")
    return url, seed(database(url), scale=TINY)


# --- sizes ---------------------------------------------------------------------------------


def test_seed_size_for_scale_one_is_production_sized():
    size = SeedSize.for_scale(1)
    assert (size.sales_orders, size.purchase_orders, size.designs) == (11_000, 4_600, 500)


def test_seed_size_has_a_floor_for_tiny_scales():
    size = SeedSize.for_scale(0.0001)
    assert (size.sales_orders, size.purchase_orders, size.designs) == (10, 5, 10)


def test_seed_size_grows_designs_slowly_beyond_scale_one():
    assert SeedSize.for_scale(3).designs == 510
    assert SeedSize.for_scale(3).sales_orders == 33_000


def test_seeded_tables_have_the_sizes_of_their_scale(shared_source_url):
    tables = list(expected_counts(SHARED_SCALE))
    counts = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)
    assert dict(query(shared_source_url, counts)) == expected_counts(SHARED_SCALE)
    assert expected_counts(SHARED_SCALE)["sales_order"] == 550


def test_seed_returns_the_rows_it_wrote_per_table(tiny_seeded):
    url, counts = tiny_seeded
    assert counts == expected_counts(TINY)
    assert scalar(url, "SELECT count(*) FROM sales_order") == counts["sales_order"] == 110


# --- quirks --------------------------------------------------------------------------------


def test_two_enum_types_back_payment_type_and_transaction(shared_source_url):
    columns = query(
        shared_source_url,
        """SELECT table_name::text, column_name::text, udt_name::text
           FROM information_schema.columns
           WHERE table_schema = 'public' AND data_type = 'USER-DEFINED' ORDER BY 1""",
    )
    assert columns == [
        ("payment_type", "payment_type_name", "PaymentTypeName"),
        ("transaction", "transaction_type", "TransactionType"),
    ]
    assert (
        scalar(
            shared_source_url, "SELECT pg_typeof(transaction_type)::text FROM transaction LIMIT 1"
        )
        == '"TransactionType"'
    )


def test_enum_values_are_the_production_labels(shared_source_url):
    labels = query(shared_source_url, "SELECT payment_type_name::text FROM payment_type ORDER BY 1")
    assert [v for (v,) in labels] == [
        "PURCHASE_PAYMENT",
        "PURCHASE_REFUND",
        "SALES_RECEIPT",
        "SALES_REFUND",
    ]


@pytest.mark.parametrize(
    ("table", "column"),
    [("sales_order", "agreed_delivery_date"), ("sales_order", "agreed_payment_date"),
     ("purchase_order", "agreed_delivery_date"), ("purchase_order", "agreed_payment_date"),
     ("payment", "payment_date")],
)  # fmt: skip
def test_agreed_dates_are_yyyy_mm_dd_text(shared_source_url, table, column):
    data_type = scalar(
        shared_source_url,
        "SELECT data_type::text FROM information_schema.columns "
        "WHERE table_name = $1 AND column_name = $2",
        [table, column],
    )
    assert data_type == "text"
    values = [v for (v,) in query(shared_source_url, f'SELECT DISTINCT "{column}" FROM "{table}"')]
    assert len(values) > 10
    assert [v for v in values if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)] == []


def test_money_is_numeric_10_2(shared_source_url):
    money = query(
        shared_source_url,
        """SELECT table_name::text, column_name::text, data_type::text,
                  numeric_precision::int, numeric_scale::int
           FROM information_schema.columns
           WHERE table_schema = 'public' AND data_type = 'numeric' ORDER BY 1, 2""",
    )
    assert money == [
        ("payment", "payment_amount", "numeric", 10, 2),
        ("purchase_order", "item_unit_price", "numeric", 10, 2),
        ("sales_order", "unit_price", "numeric", 10, 2),
    ]


def test_timestamps_have_millisecond_precision(shared_source_url):
    precisions = query(
        shared_source_url,
        """SELECT DISTINCT data_type::text, datetime_precision::int FROM information_schema.columns
           WHERE table_schema = 'public' AND column_name IN ('created_at', 'last_updated')
             AND table_name <> '_prisma_migrations'""",
    )
    assert precisions == [("timestamp without time zone", 3)]
    fractional = (
        "SELECT count(*) FROM sales_order WHERE extract(milliseconds FROM created_at) % 1000 <> 0"
    )
    assert scalar(shared_source_url, fractional) > 0


def test_ids_are_not_contiguous(shared_source_url):
    max_id, count = query(
        shared_source_url, "SELECT max(sales_order_id), count(*) FROM sales_order"
    )[0]
    assert max_id > count


def test_rows_are_not_stored_in_id_order(shared_source_url):
    physical = [
        i for (i,) in query(shared_source_url, "SELECT sales_order_id FROM sales_order LIMIT 50")
    ]
    assert len(physical) == 50
    assert physical != sorted(physical)


def test_some_address_lines_2_are_null_and_some_are_not(shared_source_url):
    nulls, values = query(
        shared_source_url,
        "SELECT count(*) FILTER (WHERE address_line_2 IS NULL), "
        "count(*) FILTER (WHERE address_line_2 IS NOT NULL) FROM address",
    )[0]
    assert nulls > 0
    assert values > 0


def test_prisma_migrations_has_rows(shared_source_url):
    assert scalar(shared_source_url, "SELECT count(*) FROM _prisma_migrations") == 3


# --- integrity and ranges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column", "parent"),
    [("sales_order", "design_id", "design"), ("sales_order", "staff_id", "staff"),
     ("sales_order", "agreed_delivery_location_id", "address"),
     ("counterparty", "legal_address_id", "address"), ("payment", "transaction_id", "transaction")],
)  # fmt: skip
def test_every_reference_resolves(shared_source_url, table, column, parent):
    key = "address_id" if parent == "address" else f"{parent}_id"
    dangling = scalar(
        shared_source_url,
        f'SELECT count(*) FROM "{table}" c WHERE NOT EXISTS '
        f'(SELECT 1 FROM "{parent}" p WHERE p."{key}" = c."{column}")',
    )
    assert dangling == 0


@pytest.mark.parametrize("order", ["sales_order", "purchase_order"])
def test_one_transaction_per_order(shared_source_url, order):
    counts = query(
        shared_source_url,
        f'SELECT DISTINCT (SELECT count(*) FROM transaction t WHERE t."{order}_id" = o."{order}_id") '
        f'FROM "{order}" o',
    )
    assert counts == [(1,)]


def test_one_payment_per_transaction(shared_source_url):
    counts = query(
        shared_source_url,
        "SELECT DISTINCT (SELECT count(*) FROM payment p WHERE p.transaction_id = t.transaction_id) "
        "FROM transaction t",
    )
    assert counts == [(1,)]


def test_a_transaction_points_at_exactly_the_order_its_type_says(shared_source_url):
    wrong = scalar(
        shared_source_url,
        """SELECT count(*) FROM transaction WHERE NOT (
             (transaction_type = 'SALE' AND sales_order_id IS NOT NULL AND purchase_order_id IS NULL)
             OR (transaction_type = 'PURCHASE' AND purchase_order_id IS NOT NULL
                 AND sales_order_id IS NULL))""",
    )
    assert wrong == 0


def test_unit_prices_are_between_two_and_four_pounds(shared_source_url):
    low, high = query(
        shared_source_url, "SELECT min(unit_price), max(unit_price) FROM sales_order"
    )[0]
    assert Decimal("2.00") <= Decimal(str(low)) <= Decimal(str(high)) <= Decimal("4.00")


@pytest.mark.parametrize("table", list(SOURCE_TABLES))
def test_last_updated_is_never_before_created_at(shared_source_url, table):
    assert (
        scalar(shared_source_url, f'SELECT count(*) FROM "{table}" WHERE last_updated < created_at')
        == 0
    )


def test_some_orders_were_updated_after_creation(shared_source_url):
    assert (
        scalar(
            shared_source_url, "SELECT count(*) FROM sales_order WHERE last_updated > created_at"
        )
        > 0
    )


# --- determinism ---------------------------------------------------------------------------


def test_the_same_seed_gives_identical_data(new_database_url, tiny_seeded):
    url, _ = tiny_seeded
    again = new_database_url("seed_again")
    seed(database(again), scale=TINY)
    for sql in (
        CHECKSUM,
        "SELECT md5(string_agg(t::text, ',' ORDER BY payment_id)) FROM payment t",
        "SELECT md5(string_agg(t::text, ',' ORDER BY address_id)) FROM address t",
    ):
        assert scalar(again, sql) == scalar(url, sql)


def test_another_seed_gives_other_data(new_database_url, tiny_seeded):
    url, _ = tiny_seeded
    other = new_database_url("seed_other")
    seed(database(other), scale=TINY, random_seed=7)
    assert scalar(other, CHECKSUM) != scalar(url, CHECKSUM)


def test_a_negative_random_seed_is_refused():
    with pytest.raises(ValueError, match="0 or more"):
        seed(database("postgresql://unused"), random_seed=-1)


# --- guarding other data -------------------------------------------------------------------


def test_seeding_a_database_holding_an_unrelated_table_is_refused(new_database_url):
    url = new_database_url("seed_foreign")
    query(url, "CREATE TABLE customers (id int PRIMARY KEY, name text)")
    query(url, "INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')")
    with pytest.raises(RefusedError) as err:
        seed(database(url), scale=TINY)
    assert err.value.exit_code == ExitCode.USAGE == 2
    assert "holds tables seed did not create" in str(err.value)
    assert "--force" in str(err.value)
    assert query(url, "SELECT id, name FROM customers ORDER BY id") == [(1, "Ada"), (2, "Grace")]
    tables = query(url, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
    assert tables == [("customers",)]


def test_reseeding_a_seeded_database_needs_force(new_database_url):
    url = new_database_url("seed_twice")
    seed(database(url), scale=TINY)
    before = scalar(url, CHECKSUM)
    query(url, "DELETE FROM payment")
    with pytest.raises(RefusedError, match="seeded before; rerun with --force") as err:
        seed(database(url), scale=TINY)
    assert err.value.exit_code == 2
    assert scalar(url, "SELECT count(*) FROM payment") == 0  # untouched by the refusal

    counts = seed(database(url), scale=TINY, force=True)
    assert counts == expected_counts(TINY)
    assert scalar(url, CHECKSUM) == before

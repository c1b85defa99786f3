"""The tests' helpers: the real CLI as a subprocess, the pipeline in process, the source
changes the property tests make, and a warehouse's or a lake's contents in a comparable form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.registry import STAR_TABLES
from conftest import query

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

    from ainsdale_etl.runtime.context import Context

EXE = str(Path(sys.executable).with_name("ainsdale-etl"))


def cli_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """The test's AINSDALE_* settings over a clean copy of this process's environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AINSDALE_")}
    # The lake is off unless a test turns it on (see conftest.etl_env).
    return base | {"AINSDALE_LAKE_CATALOG": "none"} | env | extra


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([EXE, *args], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def warehouse_contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every star table's rows (surrogate keys left out: identity values are not transactional,
    so a rolled-back load legitimately skips some), sorted."""
    contents = {}
    for name, table in STAR_TABLES.items():
        columns = ", ".join(f'"{c}"::text' for c in table.column_names)
        if query(url, "SELECT to_regclass($1) IS NULL", [name]) == [(True,)]:
            contents[name] = []
            continue
        contents[name] = query(url, f'SELECT {columns} FROM "{name}" ORDER BY {columns}')
    return contents


def histories(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every dimension history's rows (surrogate keys left out), sorted by id and version."""
    from ainsdale_etl.load.ddl import historied

    result = {}
    for dim in historied():
        name = f"{dim.name}_history"
        if query(url, "SELECT to_regclass($1) IS NULL", [name]) == [(True,)]:
            result[name] = []
            continue
        columns = ", ".join(f'"{c}"::text' for c in dim.column_names)
        result[name] = query(
            url,
            f'SELECT {columns}, valid_from::text, valid_to::text, is_current FROM "{name}" '
            f'ORDER BY "{dim.key[0]}", valid_from',
        )
    return result


def ledger(url: str) -> list[str]:
    if query(url, "SELECT to_regclass('ainsdale_meta.loaded_batch') IS NULL") == [(True,)]:
        return []
    return [r[0] for r in query(url, "SELECT batch_id FROM ainsdale_meta.loaded_batch ORDER BY 1")]


LATE_DESIGN_ID = 9100


def extract_an_order_before_its_design(cli: Any, src: str) -> None:
    """An early-arriving fact: a sales order now names design 9100 ('Late'), which is in
    totesys but not extracted yet (only sales_order is)."""
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES ($1, localtimestamp, localtimestamp, "
               "'Late', '/late', 'late.json')", [LATE_DESIGN_ID])  # fmt: skip
    query(src, "UPDATE sales_order SET design_id = $1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)",
          [LATE_DESIGN_ID])  # fmt: skip
    cli("extract", "--tables", "sales_order")


NOW = "localtimestamp(3)"
CHANGES = {
    "reprice": f"UPDATE sales_order SET unit_price = unit_price + 0.01, last_updated = {NOW} "
    "WHERE sales_order_id % 7 = $1",
    "move_address": f"UPDATE address SET city = 'City ' || $1, last_updated = {NOW} "
    "WHERE address_id = (SELECT min(legal_address_id) + $1 FROM counterparty)",
    "rename_department": f"UPDATE department SET department_name = 'Dept ' || $1, "
    f"last_updated = {NOW} WHERE department_id % 3 = $1 % 3",
    "pay": f"UPDATE payment SET paid = NOT paid, last_updated = {NOW} WHERE payment_id % 11 = $1",
    "new_order": f"""INSERT INTO sales_order (created_at, last_updated, design_id, staff_id,
        counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date,
        agreed_payment_date, agreed_delivery_location_id)
        SELECT {NOW}, {NOW}, design_id, staff_id, counterparty_id, units_sold + $1, unit_price,
               currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
        FROM sales_order ORDER BY sales_order_id LIMIT 1""",
}


def pipeline_context(source: str, warehouse: str, buckets: Path, **settings: Any) -> Context:
    """A context over ``buckets`` (the core's, as the CLI builds it), its warehouse prepared
    as the CLI does under its lock."""
    from pydantic import SecretStr

    from ainsdale_etl.core.settings import Settings
    from ainsdale_etl.pipeline.binding import prepare_warehouse
    from ainsdale_etl.runtime.context import Context

    ctx = Context(
        Settings(
            source_url=SecretStr(source),
            warehouse_url=SecretStr(warehouse),
            ingest_uri=str(buckets / "ingest"),
            processed_uri=str(buckets / "processed"),
            home=buckets / "home",
            **settings,
        )
    )
    prepare_warehouse(ctx)
    return ctx


def run_pipeline(source: str, warehouse: str, buckets: Path) -> None:
    """One run-all over ``buckets``, in process."""
    from ainsdale_etl.pipeline.run_all import run_all

    run_all(pipeline_context(source, warehouse, buckets))


def latest_versions(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Each fact's current version of each id, as the warehouse records it (its
    ``<fact>_current`` view: by batch, never by last_updated)."""
    from ainsdale_etl.core.registry import FACTS

    result = {}
    for fact in FACTS:
        columns = ", ".join(f'"{c}"::text' for c in fact.column_names)
        result[fact.name] = query(
            url, f'SELECT {columns} FROM "{fact.name}_current" ORDER BY {columns}'
        )
    return result


# The star as the source says it is now, written here in SQL from the spec
# (../shared/spec/warehouse.md), apart from the pipeline's and verify's code: what the
# sequences' tests compare the warehouse with. Every value as text.
_SPLIT = (
    "created_at::date::text, created_at::time::text, "
    "last_updated::date::text, last_updated::time::text"
)
SOURCE_STAR = {
    "fact_sales_order": f"""SELECT sales_order_id::text, {_SPLIT}, staff_id::text,
        counterparty_id::text, units_sold::text, unit_price::numeric(10,2)::text,
        currency_id::text, design_id::text, agreed_payment_date::date::text,
        agreed_delivery_date::date::text, agreed_delivery_location_id::text FROM sales_order""",
    "fact_purchase_order": f"""SELECT purchase_order_id::text, {_SPLIT}, staff_id::text,
        counterparty_id::text, item_code::text, item_quantity::text,
        item_unit_price::numeric(10,2)::text, currency_id::text,
        agreed_delivery_date::date::text, agreed_payment_date::date::text,
        agreed_delivery_location_id::text FROM purchase_order""",
    "fact_payment": f"""SELECT payment_id::text, {_SPLIT}, transaction_id::text,
        counterparty_id::text, payment_amount::numeric(10,2)::text, currency_id::text,
        payment_type_id::text, paid::text, payment_date::date::text FROM payment""",
    "dim_staff": """SELECT s.staff_id::text, s.first_name::text, s.last_name::text,
        d.department_name::text, d.location::text, s.email_address::text
        FROM staff s JOIN department d USING (department_id)""",
    "dim_location": """SELECT address_id::text, address_line_1::text, address_line_2::text,
        district::text, city::text, postal_code::text, country::text, phone::text
        FROM address""",
    "dim_design": """SELECT design_id::text, design_name::text, file_location::text,
        file_name::text FROM design""",
    "dim_currency": """SELECT currency_id::text, upper(currency_code)::text FROM currency""",
    "dim_counterparty": """SELECT c.counterparty_id::text, c.counterparty_legal_name::text,
        a.address_line_1::text, a.address_line_2::text, a.district::text, a.city::text,
        a.postal_code::text, a.country::text, a.phone::text
        FROM counterparty c JOIN address a ON a.address_id = c.legal_address_id""",
    "dim_payment_type": """SELECT payment_type_id::text, payment_type_name::text
        FROM payment_type""",
    "dim_transaction": """SELECT transaction_id::text, transaction_type::text,
        sales_order_id::text, purchase_order_id::text FROM transaction""",
}


def source_star(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every star table (but the calendar) as the source says it is now, sorted."""
    return {name: sorted(query(url, sql), key=str) for name, sql in SOURCE_STAR.items()}


def warehouse_star(url: str) -> dict[str, list[tuple[object, ...]]]:
    """The warehouse's current rows of the same tables, in the same form: a fact's current
    versions; a dimension's rows but those kept for history (deleted at the source) and
    placeholders waiting for their rows. (dim_currency without its ISO name, which the
    source does not hold.)"""
    result = {}
    for name in SOURCE_STAR:
        table = STAR_TABLES[name]
        columns = [c for c in table.column_names if c != "currency_name"]
        listed = ", ".join(f'"{c}"::text' for c in columns)
        if table.is_fact:
            sql = f'SELECT {listed} FROM "{name}_current"'
        else:
            key = f'"{table.key[0]}"'
            sql = (
                f'SELECT {listed} FROM "{name}" d WHERE NOT EXISTS (SELECT FROM '
                f"ainsdale_meta.row_version v WHERE v.star_table = '{name}' AND v.id = d.{key} "
                f"AND v.deleted) AND NOT EXISTS (SELECT FROM ainsdale_meta.inferred_member i "
                f"WHERE i.dim = '{name}' AND i.id = d.{key})"
            )
        result[name] = sorted(query(url, sql), key=str)
    return result


def star_differences(source: str, warehouse: str) -> dict[str, list[tuple[object, ...]]]:
    """Per star table, the rows on one side only (empty when the warehouse is the source's)."""
    expected, found = source_star(source), warehouse_star(warehouse)
    differences = {}
    for name in SOURCE_STAR:
        extra = sorted(set(found[name]) ^ set(expected[name]), key=str)
        if extra or len(found[name]) != len(expected[name]):
            differences[name] = [("source", r) for r in expected[name] if r not in found[name]]
            differences[name] += [("warehouse", r) for r in found[name] if r not in expected[name]]
    return differences


def lake_catalog(warehouse: str) -> SqlCatalog:
    """pyiceberg's own SqlCatalog on the warehouse's lake schema: the lake read independently
    of the pipeline (dispose of its engine when done)."""
    from pyiceberg.catalog.sql import SqlCatalog

    url = warehouse.replace("postgresql://", "postgresql+psycopg://", 1)
    options = "options=-csearch_path%3Dainsdale_lake"
    return SqlCatalog("ainsdale", uri=f"{url}{'&' if '?' in url else '?'}{options}")

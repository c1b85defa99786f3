"""A warehouse's, a ledger's, a bucket's or a lake's contents in a comparable form."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.registry import STAR_TABLES, TIME
from helpers.databases import query

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog


def manifests(bucket: Path) -> list[Path]:
    """The manifests of the batches committed to a local bucket, oldest first."""
    return sorted(bucket.glob("data/*/*/*/*/*_manifest.json"))


def batch_ids(bucket: str | Path) -> list[str]:
    """The ids of the batches committed to a local bucket, oldest first."""
    return [p.parent.name for p in manifests(Path(bucket))]


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


def lake_rows(warehouse: str, table: str) -> list[tuple[str, ...]]:
    """A lake table's rows, read by pyiceberg's own catalog, each value as PostgreSQL prints it."""
    from ainsdale_etl.lake.schema import lake_columns

    catalog = lake_catalog(warehouse)
    columns = lake_columns(STAR_TABLES[table])
    rows = catalog.load_table(f"ainsdale.{table}").scan().to_arrow().select(columns).to_pylist()
    catalog.engine.dispose()

    def text(value: object) -> str:  # as PostgreSQL prints it
        if isinstance(value, time):
            return value.isoformat("microseconds")
        return str(value).lower() if isinstance(value, bool) else str(value)

    return sorted(tuple(text(v) for v in r.values()) for r in rows)


def warehouse_rows(warehouse: str, table: str) -> list[tuple[str, ...]]:
    """A star table's rows in the lake's columns, in the same form as ``lake_rows``."""
    from ainsdale_etl.lake.schema import lake_columns

    types = {c.name: c.sql_type for c in STAR_TABLES[table].columns}

    def text(column: str) -> str:  # as the lake's values print: times to the microsecond
        if types.get(column) == TIME:
            return f"to_char(\"{column}\", 'HH24:MI:SS.US')"
        return f'"{column}"::text'

    listed = ", ".join(text(c) for c in lake_columns(STAR_TABLES[table]))
    return sorted(
        tuple(str(v) for v in r) for r in query(warehouse, f'SELECT {listed} FROM "{table}"')
    )

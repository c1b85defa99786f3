"""Reconcile the lake with the warehouse: every lake table, at its latest snapshot, holds the
warehouse's rows and, for a fact, its money per currency to the penny.

The lake is a copy of the warehouse (:mod:`ainsdale_etl.lake.sync`), so the warehouse is the
truth here; ``verify`` runs these after its own checks when the lake is on. A check's "source"
side is the lake's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from ainsdale_etl.core.registry import STAR_TABLES, StarTable, quote_ident
from ainsdale_etl.lake.catalog import existing_lake_table, open_catalog
from ainsdale_etl.ops.verify import MARTS, Check, _frame, _money

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.core.settings import Settings

# fact -> (quantity column or None, money column): the lake's side of MARTS' money expression
_MONEY_COLUMNS: dict[str, tuple[str | None, str]] = {
    "fact_sales_order": ("units_sold", "unit_price"),
    "fact_purchase_order": ("item_quantity", "item_unit_price"),
    "fact_payment": (None, "payment_amount"),
}


def _lake_money(frame: pl.DataFrame, fact: str, codes: dict[int, str]) -> dict[str, str]:
    quantity, price = _MONEY_COLUMNS[fact]
    amount = pl.col(price) * pl.col(quantity) if quantity else pl.col(price)
    totals = (
        frame.group_by("currency_id")
        .agg(amount.sum().alias("total"))
        .with_columns(pl.col("currency_id").replace_strict(codes, default="?").alias("code"))
    )
    return _money(totals.select("code", "total"))


def verify_lake(settings: Settings, warehouse: Database) -> list[Check]:
    """One row-count check per star table and one money check per fact, lake against
    warehouse; none when the lake is off."""
    catalog = open_catalog(settings, warehouse)
    if catalog is None:
        return []
    checks: list[Check] = []
    with warehouse.connect() as conn, conn.cursor() as cur:
        codes = {
            int(i): str(c)
            for i, c in _frame(
                cur, "SELECT currency_id, currency_code FROM dim_currency"
            ).iter_rows()
        }
        for table in STAR_TABLES.values():
            checks += _table_checks(cur, catalog, settings, table, codes)
    return checks


def _table_checks(
    cur: Any, catalog: Catalog, settings: Settings, table: StarTable, codes: dict[int, str]
) -> list[Check]:
    mart = f"lake {table.name}"
    rows = int(_frame(cur, f"SELECT count(*) AS n FROM {quote_ident(table.name)}")["n"][0])
    ice = existing_lake_table(catalog, settings, table)
    if ice is None:
        return [
            Check(
                mart,
                "rows",
                0,
                rows,
                "no lake table (never written, or its files are gone): run "
                "`ainsdale-etl lake sync`, which rebuilds it from the warehouse",
            )
        ]
    key = table.surrogate_key or table.key[0]
    quantity, price = _MONEY_COLUMNS.get(table.name, (None, None))
    columns = [key, *(["currency_id", price] if price else []), *([quantity] if quantity else [])]
    lake = pl.from_arrow(ice.scan(selected_fields=tuple(columns)).to_arrow())
    assert isinstance(lake, pl.DataFrame)
    checks = [
        Check(mart, "rows", lake.height, rows),
        Check(mart, f"repeated {key}", lake.height - lake[key].n_unique(), 0),
    ]
    if table.name in MARTS:
        _, _, expression = MARTS[table.name]
        money = _frame(
            cur,
            f"SELECT c.currency_code, sum({expression})::text FROM {quote_ident(table.name)} f "
            "JOIN dim_currency c USING (currency_id) GROUP BY 1",
        )
        lake_money = _lake_money(lake, table.name, codes)
        checks.append(Check(mart, "money per currency", lake_money, _money(money)))
    return checks

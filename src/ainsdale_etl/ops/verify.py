"""Reconcile the warehouse with the source: what an on-call engineer runs after an incident.

For each mart: every current source version (id, last_updated) is a fact row, money per
currency over the latest versions matches to the penny, and no fact points at a missing
dimension row; for each dimension, its row count matches its source table. Everything is
computed set-based in each database and compared as small Arrow/polars frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from ainsdale_etl.adapters.postgres import Database, fetch_arrow
from ainsdale_etl.core.registry import FACTS, SOURCE_TABLES, STAR_TABLES, quote_ident

# fact -> (source table, money expression in the source, the same in the fact)
MARTS: dict[str, tuple[str, str, str]] = {
    "fact_sales_order": (
        "sales_order",
        '"units_sold" * "unit_price"',
        '"units_sold" * "unit_price"',
    ),
    "fact_purchase_order": (
        "purchase_order",
        '"item_quantity" * "item_unit_price"',
        '"item_quantity" * "item_unit_price"',
    ),
    "fact_payment": ("payment", '"payment_amount"', '"payment_amount"'),
}
# dimension -> the source table whose rows it mirrors one to one
DIMENSION_SOURCES: dict[str, str] = {
    t.name: t.sources[0] for t in STAR_TABLES.values() if not t.is_fact and t.sources
}


@dataclass
class Check:
    mart: str
    name: str
    source: str
    warehouse: str

    @property
    def ok(self) -> bool:
        return self.source == self.warehouse


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(c) | {"ok": c.ok} for c in self.checks]}


def _frame(db_cursor: Any, sql: str) -> pl.DataFrame:
    frame = pl.from_arrow(fetch_arrow(db_cursor, sql))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _money(frame: pl.DataFrame) -> str:
    return ", ".join(f"{c}: {v}" for c, v in frame.sort("currency_id").iter_rows()) or "none"


def verify(source: Database, warehouse: Database) -> Verification:
    result = Verification()
    with source.connect() as src_conn, src_conn.cursor() as src, warehouse.connect() as wh_conn:
        wh = wh_conn.cursor()
        for fact in FACTS:
            table, source_money, fact_money = MARTS[fact.name]
            id_col = quote_ident(SOURCE_TABLES[table].id_column)
            versions = _frame(
                src,
                f"SELECT {id_col} AS id, last_updated::date AS d, last_updated::time AS t "
                f"FROM {quote_ident(table)}",
            )
            facts = _frame(
                wh,
                f"SELECT {id_col} AS id, last_updated_date AS d, last_updated_time AS t "
                f"FROM {quote_ident(fact.name)}",
            )
            missing = versions.join(facts, on=["id", "d", "t"], how="anti").height
            ids = Check(fact.name, "ids", f"{versions.height:,}", f"{facts['id'].n_unique():,}")
            result.checks.append(ids)
            result.checks.append(Check(fact.name, "current versions missing", "0", f"{missing:,}"))
            src_money = _frame(
                src,
                f"SELECT currency_id, sum({source_money})::text AS total "
                f"FROM {quote_ident(table)} GROUP BY 1",
            )
            wh_money = _frame(
                wh,
                f"SELECT currency_id, sum({fact_money})::text AS total FROM ("
                f"SELECT DISTINCT ON ({id_col}) * FROM {quote_ident(fact.name)} "
                f"ORDER BY {id_col}, last_updated_date DESC, last_updated_time DESC) latest "
                "GROUP BY 1",
            )
            result.checks.append(
                Check(
                    fact.name,
                    "money per currency (latest versions)",
                    _money(src_money),
                    _money(wh_money),
                )
            )
            for column in fact.foreign_keys:
                dim = STAR_TABLES[column.references or ""]
                orphans = _frame(
                    wh,
                    f"SELECT count(*) AS n FROM {quote_ident(fact.name)} f "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {quote_ident(dim.name)} d "
                    f"WHERE d.{quote_ident(dim.key[0])} = f.{quote_ident(column.name)})",
                )["n"][0]
                result.checks.append(Check(fact.name, f"orphan {column.name}", "0", f"{orphans:,}"))
        for dim_name, table in DIMENSION_SOURCES.items():
            src_rows = _frame(src, f"SELECT count(*) AS n FROM {quote_ident(table)}")["n"][0]
            dim_rows = _frame(wh, f"SELECT count(*) AS n FROM {quote_ident(dim_name)}")["n"][0]
            result.checks.append(
                Check(dim_name, f"rows vs {table}", f"{src_rows:,}", f"{dim_rows:,}")
            )
        wh.close()
        src_conn.rollback()
    return result

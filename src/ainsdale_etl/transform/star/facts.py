"""Facts: every version of a source row a batch extracted becomes one fact row."""

from __future__ import annotations

import polars as pl

from ainsdale_etl.core.registry import STAR_TABLES
from ainsdale_etl.transform.star.conform import conform, parse_text_dates


def _split(column: str, prefix: str) -> list[pl.Expr]:
    return [
        pl.col(column).dt.date().alias(f"{prefix}_date"),
        pl.col(column).dt.time().alias(f"{prefix}_time"),
    ]


def _version_columns() -> list[pl.Expr]:
    return [*_split("created_at", "created"), *_split("last_updated", "last_updated")]


def build_fact_sales_order(sales_order: pl.DataFrame) -> pl.DataFrame:
    dated = parse_text_dates(
        sales_order, "sales_order", ["agreed_payment_date", "agreed_delivery_date"]
    )
    return conform(
        dated.with_columns(*_version_columns(), pl.col("staff_id").alias("sales_staff_id")),
        "fact_sales_order",
    )


def build_fact_purchase_order(purchase_order: pl.DataFrame) -> pl.DataFrame:
    dated = parse_text_dates(
        purchase_order, "purchase_order", ["agreed_delivery_date", "agreed_payment_date"]
    )
    return conform(dated.with_columns(*_version_columns()), "fact_purchase_order")


def build_fact_payment(payment: pl.DataFrame) -> pl.DataFrame:
    dated = parse_text_dates(payment, "payment", ["payment_date"])
    return conform(dated.with_columns(*_version_columns()), "fact_payment")


def referenced_dates(fact: pl.DataFrame, table: str) -> pl.Series:
    """Every date the rows of fact ``table`` point at in dim_date (with repeats)."""
    columns = [c.name for c in STAR_TABLES[table].columns if c.references == "dim_date"]
    return pl.concat([fact[c] for c in columns]).alias("date")

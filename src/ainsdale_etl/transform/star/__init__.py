"""The star schema, built from source rows by pure functions of DataFrames (no I/O, no clock).

Facts (:mod:`.facts`) are built from the rows a batch extracted: every version becomes a fact
row. Dimensions (:mod:`.dimensions`) are built from the *current* state of their source tables
(:mod:`.current`), limited to the rows a batch affected. The calendar (:mod:`.calendar`) spans
the dates the facts point at. This package's names are the transform's whole vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from ainsdale_etl.core.registry import FACTS, STAR_TABLES
from ainsdale_etl.transform.star.calendar import build_dim_date
from ainsdale_etl.transform.star.conform import empty_source, star_schema
from ainsdale_etl.transform.star.current import JOINED_SOURCES, merge_current
from ainsdale_etl.transform.star.dimensions import (
    build_dim_counterparty,
    build_dim_currency,
    build_dim_design,
    build_dim_location,
    build_dim_payment_type,
    build_dim_staff,
    build_dim_transaction,
    build_dim_transaction_latest,
    build_dimensions,
    unknown_currency_codes,
)
from ainsdale_etl.transform.star.facts import (
    build_fact_payment,
    build_fact_purchase_order,
    build_fact_sales_order,
    referenced_dates,
)

__all__ = [
    "JOINED_SOURCES",
    "ROW_WISE",
    "build_dim_counterparty",
    "build_dim_currency",
    "build_dim_date",
    "build_dim_design",
    "build_dim_location",
    "build_dim_payment_type",
    "build_dim_staff",
    "build_dim_transaction",
    "build_dimensions",
    "build_fact_payment",
    "build_fact_purchase_order",
    "build_fact_sales_order",
    "build_star",
    "empty_source",
    "merge_current",
    "referenced_dates",
    "star_schema",
    "unknown_currency_codes",
]

# Star tables built row by row from one source table, so transform can build them a chunk of
# the source at a time. (dim_transaction keeps each id's latest version: chunk by chunk that
# holds only while no id is in two chunks, which transform checks.)
ROW_WISE: dict[str, tuple[str, Callable[[pl.DataFrame], pl.DataFrame]]] = {
    "sales_order": ("fact_sales_order", build_fact_sales_order),
    "purchase_order": ("fact_purchase_order", build_fact_purchase_order),
    "payment": ("fact_payment", build_fact_payment),
    "transaction": ("dim_transaction", build_dim_transaction_latest),
}


def build_star(
    changes: Mapping[str, pl.DataFrame], current: Mapping[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """Every star table a batch affects (see :func:`build_dimensions` for the arguments)."""
    star = build_dimensions(changes, current)
    for source, (name, build) in ROW_WISE.items():
        star[name] = build(changes[source] if source in changes else empty_source(source))
    star["dim_date"] = build_dim_date(
        pl.concat([referenced_dates(star[f.name], f.name) for f in FACTS])
    )
    return {name: star[name] for name in STAR_TABLES}

"""dim_date: a calendar spanning the dates a batch's facts point at."""

from __future__ import annotations

from datetime import date
from typing import cast

import polars as pl

from ainsdale_etl.core.registry import STAR_TABLES
from ainsdale_etl.transform.star.conform import conform, star_schema


def build_dim_date(dates: pl.Series) -> pl.DataFrame:
    """A calendar from the earliest to the latest of ``dates`` (empty for no dates)."""
    dates = dates.drop_nulls()
    if dates.is_empty():
        return pl.DataFrame(schema=star_schema(STAR_TABLES["dim_date"]))
    first, last = cast(date, dates.min()), cast(date, dates.max())
    calendar = pl.DataFrame({"date_id": pl.date_range(first, last, "1d", eager=True)})
    d = pl.col("date_id").dt
    return conform(
        calendar.with_columns(
            d.year().alias("year"),
            d.month().alias("month"),
            d.day().alias("day"),
            d.weekday().alias("day_of_week"),  # ISO 8601: Monday = 1 ... Sunday = 7
            d.strftime("%A").alias("day_name"),
            d.strftime("%B").alias("month_name"),
            d.quarter().alias("quarter"),
        ),
        "dim_date",
    )

"""Dimensions compared by content: every current source row, built as the pipeline builds it,
against the warehouse's row of the same id, column by column.

Row counts cannot see a stale name, city or department; this can. The source tables are read
as the extract reads them (``COPY`` to CSV, in one snapshot), typed by the same contracts and
built by the same pure functions the transform uses, so the two sides can only differ where
the warehouse does. Rows the warehouse keeps for history (deleted in totesys) and
placeholders waiting for their rows are left to their own checks.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import polars as pl

from ainsdale_etl.adapters.postgres import Database, fetch_arrow
from ainsdale_etl.core.registry import SOURCE_TABLES, STAR_TABLES, quote_ident
from ainsdale_etl.extract.copy_out import copy_out
from ainsdale_etl.extract.windows import Window, copy_sql
from ainsdale_etl.transform.contracts import read_source_csv
from ainsdale_etl.transform.star import JOINED_SOURCES, build_dimensions, star_schema
from ainsdale_etl.transform.star.dimensions import build_dim_transaction_latest

if TYPE_CHECKING:
    import psycopg

# The dimensions mirrored from the source (dim_date is a calendar, not a copy of anything).
COMPARED = [n for n, t in STAR_TABLES.items() if not t.is_fact and n != "dim_date"]


def _source_frame(conn: psycopg.Connection, name: str) -> pl.DataFrame:
    table = SOURCE_TABLES[name]
    out = io.BytesIO()
    copy_out(conn, copy_sql(table, Window(0)), out)  # the whole table
    return pl.concat(read_source_csv(out.getvalue(), table, where=f"verify: {name}"))


def source_dimensions(source: Database) -> dict[str, pl.DataFrame]:
    """Every mirrored dimension as the pipeline would build it from the source as it is now."""
    from psycopg import IsolationLevel

    needed = {s for name in COMPARED for s in STAR_TABLES[name].sources} | set(JOINED_SOURCES)
    with source.psycopg_connect() as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute("SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'")
        tables = {name: _source_frame(conn, name) for name in sorted(needed)}
        conn.rollback()
    built = build_dimensions(tables, {name: tables[name] for name in JOINED_SOURCES})
    built["dim_transaction"] = build_dim_transaction_latest(tables["transaction"])
    return {name: built[name] for name in COMPARED}


def differences(built: pl.DataFrame, loaded: pl.DataFrame, key: str) -> tuple[int, str]:
    """How many ids differ between the two (missing on either side, or any column unequal),
    and the first few, with the columns that differ. Both sides come in the star's types."""
    joined = built.join(loaded, on=key, how="full", suffix="__wh", coalesce=True)
    columns = [c for c in built.columns if c != key]
    unequal = [pl.col(c).ne_missing(pl.col(f"{c}__wh")).alias(c) for c in columns]
    flagged = joined.select(key, *unequal).filter(pl.any_horizontal(columns)).sort(key)
    examples = []
    for row in flagged.head(3).iter_rows(named=True):
        differing = [c for c in columns if row[c]]
        examples.append(f"id {row[key]}: {', '.join(differing)}")
    return flagged.height, "; ".join(examples)


def loaded_dimensions(wh: Any) -> dict[str, pl.DataFrame]:
    """Every mirrored dimension as the warehouse holds it, in the star's types."""
    loaded = {}
    for name in COMPARED:
        table = STAR_TABLES[name]
        columns = ", ".join(quote_ident(c) for c in table.column_names)
        fetched = pl.from_arrow(fetch_arrow(wh, f"SELECT {columns} FROM {quote_ident(name)}"))
        assert isinstance(fetched, pl.DataFrame)
        loaded[name] = fetched.cast(dict(star_schema(table)))  # type: ignore[arg-type]
    return loaded


def content_differences(
    built: dict[str, pl.DataFrame], loaded: dict[str, pl.DataFrame], aside: pl.DataFrame
) -> list[tuple[str, int, str]]:
    """(dimension, ids differing, examples) for every mirrored dimension; the (star_table, id)
    pairs of ``aside`` (kept for history, placeholders) have checks of their own."""
    results = []
    for name in COMPARED:
        key = STAR_TABLES[name].key[0]
        ids = aside.filter(pl.col("star_table") == name).select(
            pl.col("id").cast(loaded[name].schema[key]).alias(key)
        )
        count, examples = differences(built[name], loaded[name].join(ids, on=key, how="anti"), key)
        results.append((name, count, examples))
    return results

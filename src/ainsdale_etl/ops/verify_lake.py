"""Reconcile the lake with the warehouse by content: every lake table, at its latest snapshot,
holds exactly the warehouse table's rows (a fact: every version, by surrogate key), every
column equal, and, for a fact, its money per currency to the penny.

The lake is a copy of the warehouse (:mod:`ainsdale_etl.lake.sync`), so the warehouse is the
truth here; ``verify`` runs these after its own checks when the lake is on. A check's "source"
side is the lake's. Both sides are hashed alike (:mod:`.verify_hashes`): the warehouse in
PostgreSQL, the lake by polars over the record batches pyiceberg streams from the snapshot's
data files (deletes applied, should a writer ever leave delete files), one batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING

import polars as pl

from ainsdale_etl.core.registry import INT, STAR_TABLES, StarTable, quote_ident
from ainsdale_etl.lake.catalog import existing_lake_table, open_catalog
from ainsdale_etl.lake.schema import lake_columns
from ainsdale_etl.ops.verify import Check, by_code
from ainsdale_etl.ops.verify_content import compare_tables
from ainsdale_etl.ops.verify_hashes import (
    BLOCK_BITS,
    BLOCK_SCHEMA,
    CODES,
    key_code_frame,
    lanes_frame,
    row_frame,
)
from ainsdale_etl.ops.verify_reader import fetch_frame, read_only_snapshot
from ainsdale_etl.ops.verify_shared import LakeCopyReader
from ainsdale_etl.ops.verify_star_sql import MONEY_COLUMNS, lake_copy_side

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.core.settings import Settings
    from ainsdale_etl.ops.verify_shared import SharedWarehouse


def _typed_columns(table: StarTable) -> list[tuple[str, str]]:
    """(column, star type) of the lake table, in :func:`lake_copy_side`'s order: a fact's
    surrogate key last."""
    surrogate = [(table.surrogate_key, INT)] if table.surrogate_key else []
    return [*((c.name, c.sql_type) for c in table.columns), *surrogate]


def _key_column(table: StarTable) -> tuple[str, str]:
    """The column whose integer places a row in its block: the first (a fact's id)."""
    return _typed_columns(table)[0]


def _row_column(table: StarTable) -> tuple[str, str]:
    """The column whose integer names a row: a fact's surrogate key (an id has versions)."""
    return (table.surrogate_key, INT) if table.surrogate_key else _key_column(table)


class LakeReader:
    """The lake's side: each table's rows as pyiceberg streams them from its snapshot's data
    files, hashed by polars a record batch at a time (a batch is at most a row group, so the
    peak memory is a batch's, whatever the table's size). The money of each fact per currency
    comes with its blocks, from the same pass."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables
        self.money: dict[str, dict[int, str]] = {}  # per fact: currency id -> exact total

    def _batches(self, name: str) -> Iterator[pl.DataFrame]:
        table = STAR_TABLES[name]
        scan = self.tables[name].scan(selected_fields=tuple(lake_columns(table)))
        for batch in scan.to_arrow_batch_reader():
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame

    def _hashed(self, name: str, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with its rows' block, id and lanes."""
        table = STAR_TABLES[name]
        key, key_type = _key_column(table)
        row, row_type = _row_column(table)
        # ``r`` first, in a step of its own: the lanes mention it four times, and polars
        # computed it each time (a text's code is a Python function, which its
        # common-subexpression elimination leaves alone): 0.9 s of dim_transaction's 1.56M
        # rows against 0.2 s.
        return frame.with_columns(
            (key_code_frame(pl.col(key), key_type) // 2**BLOCK_BITS).alias("block"),
            key_code_frame(pl.col(row), row_type).alias("id"),
            row_frame(_typed_columns(table)).alias("r"),
        ).with_columns(*lanes_frame(pl.col("r")))

    def blocks(self, name: str) -> pl.DataFrame:
        partial, money = [], []
        factors = MONEY_COLUMNS.get(name)
        for frame in self._batches(name):
            hashed = self._hashed(name, frame)
            partial.append(
                hashed.group_by("block").agg(
                    pl.len().cast(pl.Int64).alias("n"),
                    pl.col("h0").sum().alias("s0"),
                    pl.col("h1").sum().alias("s1"),
                )
            )
            if factors:
                amount = pl.reduce(lambda a, b: a * b, [pl.col(c) for c in factors])
                money.append(frame.group_by("currency_id").agg(amount.sum().alias("total")))
        blocks = pl.concat(partial) if partial else pl.DataFrame(schema=BLOCK_SCHEMA)
        if factors:
            totals = pl.concat(money).group_by("currency_id").agg(pl.col("total").sum())
            self.money[name] = {int(c): str(t) for c, t in totals.iter_rows()} if money else {}
        return blocks.group_by("block").agg(pl.col("n", "s0", "s1").sum()).cast(BLOCK_SCHEMA)

    def ids(self, name: str, blocks: list[int]) -> pl.DataFrame:
        wanted = pl.Series(blocks, dtype=pl.Int64).implode()
        found = [
            self._hashed(name, frame).filter(pl.col("block").is_in(wanted)).select("id", "h0", "h1")
            for frame in self._batches(name)
        ]
        schema = {"id": pl.Int64, "h0": pl.Int64, "h1": pl.Int64}
        return pl.concat(found) if found else pl.DataFrame(schema=schema)

    def codes(self, name: str, ids: list[int]) -> pl.DataFrame:
        table = STAR_TABLES[name]
        row, row_type = _row_column(table)
        wanted = pl.Series(ids, dtype=pl.Int64).implode()
        columns = _typed_columns(table)
        found = [
            frame.select(
                key_code_frame(pl.col(row), row_type).alias("id"),
                *(
                    CODES[t].frame(pl.col(c)).fill_null(CODES[t].null).alias(f"c{i}")
                    for i, (c, t) in enumerate(columns)
                ),
            ).filter(pl.col("id").is_in(wanted))
            for frame in self._batches(name)
        ]
        return pl.concat(found)


def _show_id(table: StarTable) -> Callable[[int], str]:
    if table.surrogate_key or table.columns[0].sql_type == INT:
        return str
    return lambda days: (date(1970, 1, 1) + timedelta(days=days)).isoformat()


def verify_lake(
    settings: Settings, warehouse: Database, shared: SharedWarehouse | None = None
) -> list[Check]:
    """Per star table: rows and content, lake against warehouse, and money per currency for a
    fact; none when the lake is off. With ``shared``, the warehouse is read in its snapshot,
    and the blocks of the tables the comparison with the source hashes come from there."""
    catalog = open_catalog(settings, warehouse)
    if catalog is None:
        return []
    with warehouse.connect() as conn, conn.cursor() as cur:
        read_only_snapshot(cur, shared.snapshot if shared else "")
        held = {t.name: existing_lake_table(catalog, settings, t) for t in STAR_TABLES.values()}
        present = {name: ice for name, ice in held.items() if ice is not None}
        codes = {
            int(i): str(c)
            for i, c in fetch_frame(
                cur, "SELECT currency_id, currency_code FROM dim_currency"
            ).iter_rows()
        }
        rows = {  # of the tables the lake lacks
            name: int(fetch_frame(cur, f"SELECT count(*) AS n FROM {quote_ident(name)}")["n"][0])
            for name, ice in held.items()
            if ice is None
        }
        lake = LakeReader(present)
        sides = {n: lake_copy_side(STAR_TABLES[n]) for n in present}
        warehouse_side = LakeCopyReader(cur, sides, shared)
        differences = compare_tables(
            lake,
            warehouse_side,
            [(n, [c for c, _ in _typed_columns(STAR_TABLES[n])]) for n in present],
            ("lake", "warehouse"),
            show_id={n: _show_id(STAR_TABLES[n]) for n in present},
        )
        conn.rollback()
    checks: list[Check] = []
    for name, ice in held.items():
        mart = f"lake {name}"
        if ice is None:
            checks.append(
                Check(
                    mart,
                    "rows",
                    0,
                    rows[name],
                    "no lake table (never written, or its files are gone): run "
                    "`ainsdale-etl lake sync`, which rebuilds it from the warehouse",
                )
            )
            continue
        found = differences[name]
        checks.append(Check(mart, "rows", found.left_rows, found.right_rows))
        checks.append(Check(mart, "ids whose columns differ", 0, found.ids.count, found.detail()))
        if name in MONEY_COLUMNS:
            lake_money, here = by_code(lake.money[name], codes), warehouse_side.money[name]
            checks.append(Check(mart, "money per currency", lake_money, by_code(here, codes)))
    return checks

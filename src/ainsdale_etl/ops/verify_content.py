"""Two copies of a set of tables compared by content, without moving them: the source against
the warehouse, the lake against the warehouse.

Each side is a :class:`Reader` that answers three questions where its rows are: the hash sums
per block of ids (:mod:`.verify_hashes`), the hashes of each id in some blocks, the code of
each column of some ids. Blocks are compared first (a few thousand numbers a table); only the
blocks that differ are read id by id, and only the first ids that differ column by column, to
name them. The two sides answer each question at the same time, one thread each (the drivers
and polars release the GIL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import polars as pl

from ainsdale_etl.ops.verify_hashes import IdDifferences, differing_blocks, differing_ids
from ainsdale_etl.ops.verify_reader import SqlReader, read_only_snapshot
from ainsdale_etl.ops.verify_shared import SharedReader, SharedWarehouse
from ainsdale_etl.ops.verify_star_sql import (
    SOURCED_TABLES,
    iso_currency_names,
    shared_scan,
    source_side,
    warehouse_side,
)

if TYPE_CHECKING:
    from ainsdale_etl.adapters.postgres import Database

MAX_BLOCKS = 64  # blocks read id by id, per table: 65,536 ids at most
EXAMPLES = 3  # ids named, with their columns, per table

T = TypeVar("T")


class Reader(Protocol):
    """One side of a comparison: its tables' rows, hashed where they are."""

    def blocks(self, name: str) -> pl.DataFrame:
        """(block, n, s0, s1) of table ``name``."""

    def ids(self, name: str, blocks: list[int]) -> pl.DataFrame:
        """(id, h0, h1) of the rows of ``name`` in ``blocks``."""

    def codes(self, name: str, ids: list[int]) -> pl.DataFrame:
        """(id, c0, c1, ...): each column's code, of the rows of ``name`` with ``ids``."""


@dataclass
class TableDifference:
    """How two sides of one table differ: their row counts, the ids that differ (in the
    first :data:`MAX_BLOCKS` differing blocks), and the first ids named with their columns."""

    left_rows: int
    right_rows: int
    ids: IdDifferences
    blocks_differing: int
    examples: list[str]

    @property
    def complete(self) -> bool:
        return self.blocks_differing <= MAX_BLOCKS

    def detail(self, extra: str = "") -> str:
        shown = "; ".join(self.examples)
        if not self.complete:
            shown += (
                f" (ids counted in the first {MAX_BLOCKS} of {self.blocks_differing:,} "
                "blocks of 1,024 ids that differ)"
            )
        return (shown + extra).strip()


def _both(left: Callable[[], T], right: Callable[[], T]) -> tuple[T, T]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(left), pool.submit(right)
        return a.result(), b.result()


def compare_tables(
    left: Reader,
    right: Reader,
    tables: Iterable[tuple[str, list[str]]],
    sides: tuple[str, str],
    show_id: dict[str, Callable[[int], str]] | None = None,
) -> dict[str, TableDifference]:
    """Every table of ``tables`` ((name, column names)) compared between ``left`` and
    ``right``; ``sides`` names them in the examples (e.g. ("source", "warehouse")), and
    ``show_id`` a table's ids where they are not shown as they are (a date)."""
    tables = list(tables)
    names = [name for name, _ in tables]
    columns = dict(tables)
    left_blocks, right_blocks = _both(
        lambda: {n: left.blocks(n) for n in names}, lambda: {n: right.blocks(n) for n in names}
    )
    differing = {n: differing_blocks(left_blocks[n], right_blocks[n]) for n in names}
    to_read = {n: blocks[:MAX_BLOCKS] for n, blocks in differing.items() if blocks}
    left_ids, right_ids = _both(
        lambda: {n: left.ids(n, b) for n, b in to_read.items()},
        lambda: {n: right.ids(n, b) for n, b in to_read.items()},
    )
    found = {n: differing_ids(left_ids[n], right_ids[n]) for n in to_read}
    changed = {n: d.changed[:EXAMPLES] for n, d in found.items() if d.changed}
    left_codes, right_codes = _both(
        lambda: {n: left.codes(n, ids) for n, ids in changed.items()},
        lambda: {n: right.codes(n, ids) for n, ids in changed.items()},
    )
    result = {}
    for name in names:
        ids = found.get(name, IdDifferences([], [], []))
        show = (show_id or {}).get(name, str)
        examples = _examples(
            ids, left_codes.get(name), right_codes.get(name), columns[name], sides, show
        )
        result[name] = TableDifference(
            int(left_blocks[name]["n"].sum()),
            int(right_blocks[name]["n"].sum()),
            ids,
            len(differing[name]),
            examples,
        )
    return result


def _examples(
    ids: IdDifferences,
    left: pl.DataFrame | None,
    right: pl.DataFrame | None,
    columns: list[str],
    sides: tuple[str, str],
    show: Callable[[int], str],
) -> list[str]:
    """'id 17: design_id, paid' for the first ids that differ, in id order."""
    named: dict[int, str] = {}
    for i in ids.only_left[:EXAMPLES]:
        named[i] = f"id {show(i)}: not in the {sides[1]}"
    for i in ids.only_right[:EXAMPLES]:
        named[i] = f"id {show(i)}: not in the {sides[0]}"
    if left is not None and right is not None:
        joined = left.join(right, on="id", suffix="_r")
        for row in joined.sort("id").iter_rows(named=True):
            differ = [c for i, c in enumerate(columns) if row[f"c{i}"] != row[f"c{i}_r"]]
            named[row["id"]] = f"id {show(row['id'])}: {', '.join(differ)}"
    return [named[i] for i in sorted(named)[:EXAMPLES]]


@dataclass
class Content:
    """How the source's and the warehouse's star rows differ, and each side's money per fact
    and currency id (summed in the same scans)."""

    differences: dict[str, TableDifference]
    source_money: dict[str, dict[int, str]]
    warehouse_money: dict[str, dict[int, str]]


def content(
    source: Database,
    warehouse: Database,
    aside: pl.DataFrame,
    shared: SharedWarehouse | None = None,
) -> Content:
    """Every star table but dim_date (checked against its calendar: see
    :func:`~ainsdale_etl.ops.verify_star_sql.calendar_differences_sql`)
    compared by content between the source and the warehouse, each in one snapshot; the
    (star_table, id) of ``aside`` (rows kept for history, placeholders) left out of the
    warehouse's dimensions, as they have checks of their own. With ``shared``, the warehouse
    is read in its snapshot and each table's one scan also hashes it for the lake's
    comparison, which waits for those blocks there (:mod:`.verify_shared`)."""
    tables = SOURCED_TABLES
    names = iso_currency_names()
    with (
        source.connect() as src_conn,
        src_conn.cursor() as src,
        warehouse.connect() as wh_conn,
        wh_conn.cursor() as wh,
    ):
        read_only_snapshot(src)
        read_only_snapshot(wh, shared.snapshot if shared else "")
        from_source = SqlReader(src, {t.name: source_side(t, names) for t in tables})
        set_aside = {
            t.name: aside.filter(pl.col("star_table") == t.name)["id"].to_list() for t in tables
        }
        sides = {t.name: warehouse_side(t, set_aside[t.name]) for t in tables}
        from_warehouse = SqlReader(wh, sides)
        if shared is not None:
            scans = {t.name: shared_scan(t, set_aside[t.name]) for t in tables}
            from_warehouse = SharedReader(wh, sides, scans, shared)
        found = compare_tables(
            from_source,
            from_warehouse,
            [(t.name, t.column_names) for t in tables],
            ("source", "warehouse"),
        )
        src_conn.rollback()
        wh_conn.rollback()
    return Content(found, from_source.money, from_warehouse.money)

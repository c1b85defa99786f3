"""One scan of each warehouse table for both of verify's comparisons, when the lake is on.

The source is compared with the warehouse's current rows (a fact's current versions, a
dimension's rows but those set aside), the lake with every warehouse row (a fact's every
version). Hashing a table is most of what either costs the warehouse, and it was done twice:
1.6M payments hashed for the source, then again for the lake. Here one query per table gives
both sides' blocks: every row's ``r`` is the sum of its columns' terms, the lake's side adds a
fact's surrogate key as one more term (hashed last: :func:`~.verify_star_sql.lake_copy_side`),
and a fact's versions are summed in the block of their id, so one aggregate, its sums for the
current rows apart (``FILTER``), gives both.

The comparison with the source runs the query (:class:`SharedReader`) and hands the lake's
blocks to the lake's comparison, which runs beside it (:class:`LakeCopyReader`) through a
:class:`SharedWarehouse`. Both read the warehouse in the snapshot it exports, so the blocks
and the ids read later where they differ are the same rows.
"""

from __future__ import annotations

from concurrent.futures import Future
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import polars as pl

from ainsdale_etl.core.errors import EtlError
from ainsdale_etl.ops.verify_hashes import BLOCK_BITS, BLOCK_SCHEMA, hashed, lanes_sql, row_sql
from ainsdale_etl.ops.verify_reader import SqlReader, fetch_frame, read_only_snapshot
from ainsdale_etl.ops.verify_star_sql import SOURCED_TABLES, SharedScan, Side

if TYPE_CHECKING:
    from ainsdale_etl.adapters.postgres import Database

Blocks = tuple[pl.DataFrame, dict[int, str]]  # (blocks, money per currency id)


def shared_blocks_query(scan: SharedScan) -> str:
    """Per block of ``scan``'s rows: the count and lane sums of every row (n, s0, s1) and of
    the current rows (cn, c0, c1); for a fact, also per currency (``by_currency``) the
    money of every row (amount) and of the current rows (camount, counted by cn). Summed per
    block and currency first, then per block and per currency, as in
    :func:`~.verify_hashes.blocks_query`."""
    every = scan.every
    lake_term = row_sql(scan.lake_only, len(scan.shared_columns)) if scan.lake_only else "0"
    extra = f", {lake_term} AS x, ({scan.current}) AS cur"
    if every.money:
        extra += f", {every.money[0]} AS currency, {every.money[1]} AS amount"
    rows = hashed(every.select_from, every.key, row_sql(scan.shared_columns), extra)
    e0, e1 = lanes_sql("r + x")
    c0, c1 = lanes_sql("r")
    sums = (
        f"count(*) AS n, sum({e0}) AS s0, sum({e1}) AS s1, count(*) FILTER (WHERE cur) AS cn, "
        f"sum({c0}) FILTER (WHERE cur) AS c0, sum({c1}) FILTER (WHERE cur) AS c1"
    )
    text = "sum(s0)::text AS s0, sum(s1)::text AS s1, sum(c0)::text AS c0, sum(c1)::text AS c1"
    if not every.money:
        return (
            f"SELECT block, false AS by_currency, NULL::integer AS currency, n, cn, "
            f"s0::text, s1::text, c0::text, c1::text, NULL AS amount, NULL AS camount "
            f"FROM (SELECT k >> {BLOCK_BITS} AS block, {sums} FROM {rows} GROUP BY 1) per_block"
        )
    per_currency = (
        f"SELECT k >> {BLOCK_BITS} AS block, currency, {sums}, sum(amount) AS amount, "
        f"sum(amount) FILTER (WHERE cur) AS camount FROM {rows} GROUP BY 1, 2"
    )
    return (
        "SELECT block, GROUPING(currency) = 0 AS by_currency, currency, "
        f"sum(n)::bigint AS n, sum(cn)::bigint AS cn, {text}, sum(amount)::text AS amount, "
        f"sum(camount)::text AS camount FROM ({per_currency}) per_currency "
        "GROUP BY GROUPING SETS ((block), (currency))"
    )


def split_blocks(found: pl.DataFrame) -> tuple[Blocks, Blocks]:
    """A :func:`shared_blocks_query` result as (every row's, the current rows') blocks and
    money; a block or currency with no current row is not the current rows'."""
    by_currency = found.filter(pl.col("by_currency"))
    found = found.filter(~pl.col("by_currency"))
    lanes = [pl.col(c).cast(pl.Int64) for c in ("block", "n", "s0", "s1")]
    every = found.select(lanes).cast(BLOCK_SCHEMA)
    current = (
        found.filter(pl.col("cn") > 0)
        .select(
            pl.col("block"),
            pl.col("cn").alias("n"),
            pl.col("c0").alias("s0"),
            pl.col("c1").alias("s1"),
        )
        .cast(BLOCK_SCHEMA)
    )
    every_money = {int(c): str(t) for c, t in by_currency.select("currency", "amount").iter_rows()}
    current_money = {
        int(c): str(t)
        for c, t in by_currency.filter(pl.col("cn") > 0).select("currency", "camount").iter_rows()
    }
    return (every, every_money), (current, current_money)


def sourced_names() -> list[str]:
    """The tables the comparison with the source hashes, whose lake blocks it hands over."""
    return [t.name for t in SOURCED_TABLES]


class SharedWarehouse:
    """The hand-off between verify's two comparisons: the warehouse snapshot both read (held
    open by a transaction of its own while they run), and, per table the source's comparison
    hashes, the lake's blocks and money from that scan."""

    def __init__(self, warehouse: Database, tables: list[str]) -> None:
        self.warehouse = warehouse
        self.snapshot = ""
        self._every: dict[str, Future[Blocks]] = {name: Future() for name in tables}
        self._open = ExitStack()

    def __enter__(self) -> SharedWarehouse:
        with ExitStack() as opening:  # a failure here closes what was opened
            conn = opening.enter_context(self.warehouse.connect())
            cur = opening.enter_context(conn.cursor())
            read_only_snapshot(cur)
            self.snapshot = str(fetch_frame(cur, "SELECT pg_export_snapshot() AS id")["id"][0])
            self._open = opening.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        # The lake's comparison must not wait for blocks the source's will never hash.
        for name, future in self._every.items():
            if not future.done():
                future.set_exception(EtlError(f"verify stopped before hashing {name}"))
        self._open.close()

    def __contains__(self, name: str) -> bool:
        return name in self._every

    def publish(self, name: str, blocks: Blocks) -> None:
        self._every[name].set_result(blocks)

    def fail(self, name: str, exc: BaseException) -> None:
        self._every[name].set_exception(exc)

    def every(self, name: str) -> Blocks:
        """Every row's blocks and money of ``name``, once the source's comparison has them."""
        return self._every[name].result()


class SharedReader(SqlReader):
    """The warehouse's side of the comparison with the source when the lake's runs beside it:
    a table's blocks come from its :class:`SharedScan`, whose lake part goes to ``shared``;
    ids and columns, where blocks differ, from ``sides``
    (:func:`~.verify_star_sql.warehouse_side`)."""

    def __init__(
        self,
        cur: Any,
        sides: dict[str, Side],
        scans: dict[str, SharedScan],
        shared: SharedWarehouse,
    ) -> None:
        super().__init__(cur, sides)
        self.scans, self.shared = scans, shared

    def blocks(self, name: str) -> pl.DataFrame:
        scan = self.scans[name]
        try:
            found = fetch_frame(self.cur, shared_blocks_query(scan), scan.every.params)
        except BaseException as exc:
            self.shared.fail(name, exc)
            raise
        every, (current, money) = split_blocks(found)
        self.shared.publish(name, every)
        if scan.every.money:
            self.money[name] = money
        return current


class LakeCopyReader(SqlReader):
    """The warehouse's side of the comparison with the lake: blocks from ``shared`` when the
    source's comparison hashes that table, else as :class:`SqlReader` does."""

    def __init__(self, cur: Any, sides: dict[str, Side], shared: SharedWarehouse | None) -> None:
        super().__init__(cur, sides)
        self.shared = shared

    def blocks(self, name: str) -> pl.DataFrame:
        if self.shared is None or name not in self.shared:
            return super().blocks(name)
        blocks, money = self.shared.every(name)
        if self.sides[name].money:
            self.money[name] = money
        return blocks

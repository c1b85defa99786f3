"""One side of verify's comparisons in PostgreSQL: a table's rows as a :class:`Side`'s SQL,
hashed where they are (:mod:`.verify_hashes`), read in one read-only snapshot."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from ainsdale_etl.adapters.postgres import fetch_arrow
from ainsdale_etl.ops.verify_hashes import (
    CODES,
    blocks_of,
    blocks_query,
    ids_query,
    money_of,
    row_sql,
)
from ainsdale_etl.ops.verify_star_sql import Side


def fetch_frame(cur: Any, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    frame = pl.from_arrow(fetch_arrow(cur, sql, params))
    assert isinstance(frame, pl.DataFrame)
    return frame


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9A-F]+)?")


def read_only_snapshot(cur: Any, snapshot: str = "") -> None:
    """Read the rest of this transaction in one snapshot (``snapshot``, one another
    transaction exported, if given), writing nothing; and let the planner hash the blocks:
    it takes ``id >> 10`` to have as many values as ids (1.1M for fact_sales_order at scale
    100), and a fact's current versions to be a handful (the view's filter), so it would sort
    them, 1.5x slower. Hashing holds only the real blocks, a thousandth of the rows; nothing
    verify asks needs a sort."""
    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    if snapshot:
        # SET TRANSACTION SNAPSHOT takes a literal, not a parameter: the id is checked to be
        # pg_export_snapshot()'s form (hexadecimal parts) before it is written into the SQL.
        if not _SNAPSHOT_ID.fullmatch(snapshot):
            raise ValueError(f"not a snapshot id: {snapshot!r}")
        cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    cur.execute("SET LOCAL work_mem = '256MB'")
    cur.execute("SET LOCAL enable_sort = off")


class SqlReader:
    """A side in PostgreSQL: the rows of each table are a :class:`Side`'s SQL on ``cur``."""

    def __init__(self, cur: Any, sides: dict[str, Side]) -> None:
        self.cur, self.sides = cur, sides
        self.money: dict[str, dict[int, str]] = {}  # per fact: currency id -> exact total

    def blocks(self, name: str) -> pl.DataFrame:
        side = self.sides[name]
        query = blocks_query(side.select_from, side.key, row_sql(side.columns), side.money)
        found = fetch_frame(self.cur, query, side.params)
        if side.money:
            self.money[name] = money_of(found)
        return blocks_of(found)

    def ids(self, name: str, blocks: list[int]) -> pl.DataFrame:
        side = self.sides[name]
        at = len(side.params) + 1
        query = ids_query(side.select_from, side.key, row_sql(side.columns), at, side.row_key)
        return fetch_frame(self.cur, query, [*side.params, blocks]).cast(pl.Int64)

    def codes(self, name: str, ids: list[int]) -> pl.DataFrame:
        side = self.sides[name]
        codes = ", ".join(
            f"coalesce({CODES[t].sql(e)}, {CODES[t].null}) AS c{i}"
            for i, (e, t) in enumerate(side.columns)
        )
        at = len(side.params) + 1
        query = (
            f"SELECT ({side.row})::bigint AS id, {codes} {side.select_from} "
            f"AND ({side.row})::bigint = ANY(${at}::bigint[])"
        )
        return fetch_frame(self.cur, query, [*side.params, ids]).cast(pl.Int64)

"""What a lake table owes its warehouse table, asked of the warehouse's own records of change.

A lake table records, in properties set by the commit that wrote it, when it took the
warehouse's state (``ainsdale.synced-at``, the warehouse's clock) and what it then held
(``ainsdale.rows``: its rows and, for a fact, its newest key). What changed since is recorded
in the warehouse itself, whatever the batches' merge counts say:

* a dimension's rows: the versions changed since (``row_version.changed_at``: a merge, a
  deletion, a re-insert), the placeholders added (``inferred_member.created_at``); a bulk load
  since (``dim_base_version``) owes the whole table;
* a dimension's history: the ids with a row changed since (its ``changed_at``: a version
  added, an interval split, closed or reopened); a fact's current rows: the ids whose
  version changed since (``row_version.changed_at`` of the fact);
* a fact's: versions are added with higher keys, so the rows after its newest key, once the
  rows before it are confirmed to be as many as it holds; and the rows before it whose id's
  version changed since (a version captured again with other content is replaced in place).

Each question is one indexed query; no table is scanned for a digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.registry import StarTable, quote_ident
from ainsdale_etl.load.ddl import DIM_BASE_VERSION, INFERRED, ROW_VERSION

SYNCED_AT = "ainsdale.synced-at"  # table property: when it took the warehouse's state
ROWS = "ainsdale.rows"  # table property: the rows it held then (a fact: "rows:newest key")


@dataclass(frozen=True)
class Held:
    """What a lake table held when it last took the warehouse's state."""

    synced_at: datetime
    rows: int
    newest_key: int | None = None

    def properties(self) -> dict[str, str]:
        newest = "" if self.newest_key is None else str(self.newest_key)
        return {SYNCED_AT: self.synced_at.isoformat(), ROWS: f"{self.rows}:{newest}"}

    @classmethod
    def of(cls, properties: dict[str, str]) -> Held | None:
        """What the table's properties say it holds; None if they say nothing usable."""
        try:
            rows, newest = properties[ROWS].split(":")
            return cls(
                datetime.fromisoformat(properties[SYNCED_AT]),
                int(rows),
                int(newest) if newest else None,
            )
        except (KeyError, ValueError):
            return None


def held_now(cur: Any, table: StarTable, at: datetime) -> Held:
    """What the warehouse table holds now (a fact: with its newest key)."""
    name = quote_ident(table.name)
    if table.surrogate_key:
        key = quote_ident(table.surrogate_key)
        rows, newest = fetch_all(cur, f"SELECT count(*), max({key}) FROM {name}")[0]
        return Held(at, int(rows), None if newest is None else int(newest))
    return Held(at, int(fetch_all(cur, f"SELECT count(*) FROM {name}")[0][0]))


def rows_after(cur: Any, table: StarTable, key: int) -> int:
    """A fact's rows keyed after ``key`` (an index range)."""
    column = quote_ident(table.surrogate_key or "")
    sql = f"SELECT count(*) FROM {quote_ident(table.name)} WHERE {column} > $1"
    return int(fetch_all(cur, sql, [key])[0][0])


def changed_ids(cur: Any, table: StarTable, since: datetime) -> list[int] | None:
    """The ids of a dimension (or a table derived from a star table) changed since ``since``;
    None when a bulk load since replaced the whole table."""
    if table.follows and table.name.endswith("_history"):
        key = quote_ident(table.key[0])
        rows = fetch_all(
            cur,
            f"SELECT DISTINCT {key} FROM {quote_ident(table.name)} "
            "WHERE changed_at > $1::timestamptz",
            [since.isoformat()],
        )
        return sorted(int(r[0]) for r in rows)
    if table.follows:  # a fact's current rows
        rows = fetch_all(
            cur,
            f"SELECT id FROM {ROW_VERSION} WHERE star_table = $1 AND changed_at > $2::timestamptz",
            [table.follows, since.isoformat()],
        )
        return sorted(int(r[0]) for r in rows)
    rebased = fetch_all(
        cur,
        f"SELECT EXISTS (SELECT FROM {DIM_BASE_VERSION} "
        "WHERE dim = $1 AND changed_at > $2::timestamptz)",
        [table.name, since.isoformat()],
    )[0][0]
    if rebased:
        return None
    rows = fetch_all(
        cur,
        f"""SELECT id FROM {ROW_VERSION} WHERE star_table = $1 AND changed_at > $2::timestamptz
            UNION SELECT id FROM {INFERRED} WHERE dim = $1 AND created_at > $2::timestamptz""",
        [table.name, since.isoformat()],
    )
    return sorted(int(r[0]) for r in rows)


def rewritten_records(cur: Any, table: StarTable, since: datetime, newest_key: int) -> list[int]:
    """The keys, up to ``newest_key``, of a fact's rows whose id's version changed since
    ``since``: a row replaced in place (a fix at the source) is among them. (So are a few that
    only became current again, or were deleted: writing them again is harmless.)"""
    rows = fetch_all(
        cur,
        f"""SELECT DISTINCT record_id FROM {ROW_VERSION} WHERE star_table = $1
            AND changed_at > $2::timestamptz AND record_id <= $3""",
        [table.name, since.isoformat(), newest_key],
    )
    return sorted(int(r[0]) for r in rows)

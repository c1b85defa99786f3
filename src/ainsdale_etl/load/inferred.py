"""Late-arriving dimension rows as inferred members (Kimball's early-arriving facts).

A fact may point at a dimension row its batch did not deliver: a design created after the
order's batch was extracted with ``--tables sales_order``, a batch loaded before the one that
delivered its staff. Rather than stop the batch (and every batch behind it), the load adds a
placeholder row with the natural key and documented placeholder attributes -- ``unknown`` in
every text column that may not be NULL, NULL in the others -- and records it in
``ainsdale_meta.inferred_member``. Its version is the lowest there is (the empty string, see
:mod:`.versions`), so the real row overwrites it whenever it arrives, in any order, and that
clears the record. ``dim_date`` is never inferred: a batch builds the dates its facts use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.registry import (
    PLACEHOLDER_TEXT,
    STAR_TABLES,
    TEXT,
    StarColumn,
    StarTable,
    quote_ident,
)
from ainsdale_etl.load.ddl import INFERRED, ROW_VERSION

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor

INFERRED_VERSION = ""  # sorts before every batch id: any delivered row is newer


def _placeholder(column: StarColumn) -> str:
    if column.nullable:
        return "NULL"
    if column.sql_type == TEXT:
        return f"'{PLACEHOLDER_TEXT}'"
    raise AssertionError(f"no placeholder for {column.name} {column.sql_type}")


def infer_members(
    cur: Cursor,
    batch_id: str,
    fact: StarTable,
    relation: str,
    columns: Iterable[str] | None = None,
) -> dict[str, int]:
    """Add a placeholder row to each dimension for every id the rows of ``relation`` (staged
    or loaded rows of ``fact``, a table or a subquery that may use $2, the batch id) point at,
    through its foreign keys (or those of ``columns``), and it lacks; returns the rows added
    per dimension.

    An id whose row was deleted at the source (an older batch's history pointing at it) gets
    its placeholder too, but waits for nothing: it is kept for history, as a deleted row that
    facts point at is (load/deletions.py)."""
    added: dict[str, int] = {}
    wanted = None if columns is None else set(columns)
    for column in fact.foreign_keys:
        dim = STAR_TABLES[column.references or ""]
        if dim.name == "dim_date" or (wanted is not None and column.name not in wanted):
            continue
        key, col = quote_ident(dim.key[0]), quote_ident(column.name)
        others = [c for c in dim.columns if c.name != dim.key[0]]
        names = ", ".join([key, *(quote_ident(c.name) for c in others)])
        values = ", ".join(["id", *(_placeholder(c) for c in others)])
        count = fetch_all(
            cur,
            f"""WITH missing AS (
                    SELECT DISTINCT s.{col} AS id FROM {relation} s
                    WHERE s.{col} IS NOT NULL AND NOT EXISTS (
                        SELECT FROM {quote_ident(dim.name)} d WHERE d.{key} = s.{col})),
                placed AS (
                    INSERT INTO {quote_ident(dim.name)} ({names}) SELECT {values} FROM missing
                    ON CONFLICT DO NOTHING RETURNING {key} AS id),
                noted AS (
                    INSERT INTO {INFERRED} (dim, id, batch_id, referenced_by)
                    SELECT $1, id, $2, $3 FROM placed p WHERE NOT EXISTS (
                        SELECT FROM {ROW_VERSION} v
                        WHERE v.star_table = $1 AND v.id = p.id AND v.deleted)
                    ON CONFLICT DO NOTHING),
                versioned AS (
                    INSERT INTO {ROW_VERSION} (star_table, id, batch_id)
                    SELECT $1, id, $4 FROM placed ON CONFLICT DO NOTHING)
                SELECT count(*) FROM placed""",
            [dim.name, batch_id, fact.name, INFERRED_VERSION],
        )[0][0]
        if count:
            added[dim.name] = added.get(dim.name, 0) + int(count)
    return added


def resolve_members(cur: Cursor, dim: StarTable, rows: str) -> None:
    """The dimension rows of ``rows`` were delivered: their placeholders are no more."""
    cur.execute(
        f"DELETE FROM {INFERRED} WHERE dim = $1 AND id IN "
        f"(SELECT {quote_ident(dim.key[0])} FROM {rows})",
        [dim.name],
    )

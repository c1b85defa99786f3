"""Dimension rows ordered by source version, not by load order.

Each dimension row's version is the batch it was built in: batches are extracted in snapshot
order, so of two batches holding the same row, the later one holds its later version.
``last_updated`` would not do: it is whatever a writer's clock said. A dimension that joins
tables is built from the current state, which a batch transformed out of turn (after a later
one) takes partly from that later batch: its rows carry their own version, the newest batch of
their parts (``SOURCE_VERSION``, see transform/star/dimensions.py). The
versions live beside the star, in ``ainsdale_meta.dim_version``, so the spec's columns stay
exactly the spec's; an upsert writes a row only if no newer version of it is loaded, so any
set of batches loaded in any order ends with the same warehouse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.core.registry import SOURCE_VERSION, StarTable, quote_ident
from ainsdale_etl.load.ddl import DIM_BASE_VERSION, DIM_VERSION
from ainsdale_etl.load.inferred import resolve_members

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor


def row_version(alias: str, per_row: bool) -> str:
    """A staged row's version: its :data:`SOURCE_VERSION` where the batch gives one (a joined
    dimension: the newest batch of its parts), else the batch's id ($1)."""
    if not per_row:
        return "$1"
    return f'coalesce({alias}."{SOURCE_VERSION}", $1)'


def not_superseded(table: StarTable, alias: str, *, per_row: bool = False) -> str:
    """A condition on staged rows (``alias``) of a dimension: no newer version of the row is
    loaded. Parameters: $1 the batch id, $2 the dimension's name; ``per_row``: the staged rows
    carry their own versions (:func:`row_version`).

    A row's version is its entry in ``dim_version``, else, if the row is there, the batch that
    bulk-loaded the table (``dim_base_version``: one entry per table, not a million), else
    none.
    """
    key = quote_ident(table.key[0])
    return f"""coalesce(
        (SELECT v.batch_id FROM {DIM_VERSION} v WHERE v.dim = $2 AND v.id = {alias}.{key}),
        (SELECT b.batch_id FROM {DIM_BASE_VERSION} b WHERE b.dim = $2 AND EXISTS (
            SELECT FROM {quote_ident(table.name)} d WHERE d.{key} = {alias}.{key})),
        '') <= {row_version(alias, per_row)}"""


def record_versions(
    cur: Cursor, batch_id: str, table: StarTable, staging: str, *, per_row: bool = False
) -> None:
    """Record the version of the dimension rows staged in ``staging`` (``batch_id``, or each
    row's own: see :func:`row_version`), unless a newer (or the same) one is (call after the
    merge), and when it changed, which is what the lake takes (lake/owed.py). A batch loaded
    again holds the same versions of its rows (read again, a window gives what it gave)."""
    resolve_members(cur, table, staging)
    key = quote_ident(table.key[0])
    cur.execute(
        f"""INSERT INTO {DIM_VERSION} (dim, id, batch_id)
            SELECT $2, s.{key}, {row_version("s", per_row)} FROM {staging} s
            ON CONFLICT (dim, id) DO UPDATE SET batch_id = EXCLUDED.batch_id, changed_at = now()
            WHERE {DIM_VERSION}.batch_id < EXCLUDED.batch_id""",
        [batch_id, table.name],
    )


def record_base_version(cur: Cursor, batch_id: str, table: StarTable) -> None:
    """A bulk load filled the empty ``table``: every row in it is ``batch_id``'s."""
    cur.execute(
        f"""INSERT INTO {DIM_BASE_VERSION} (dim, batch_id) VALUES ($1, $2)
            ON CONFLICT (dim) DO UPDATE SET batch_id = EXCLUDED.batch_id, changed_at = now()""",
        [table.name, batch_id],
    )

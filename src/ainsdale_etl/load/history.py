"""Dimension history (Kimball's type 2), beside the spec's type-1 dimensions.

Each dimension mirrored from the source has ``dim_<name>_history``: one row per version a load
recorded (a batch that delivered the row, or for a joined dimension any of its parts), with the
version's interval ``[valid_from, valid_to)`` in **the batch order** (:mod:`.versions`): a
version is valid from the time its batch id names (``ainsdale_meta.batch_time``) until the next
version of the id, or the id's deletion, whichever comes first; ``valid_to`` is NULL and
``is_current`` true while it is the newest. Batch ids are strictly increasing (a new id is at
least a microsecond after the last, whatever the host's clock: core/batches.py), and no source
clock enters them, so two versions never overlap and there is never a gap between them.

A history is a function of the versions loaded, not of the order they came in: a version is
inserted in its place (an older batch loaded after a newer one splits an interval), and the
intervals of the ids it touched are settled again from all their versions and deletions, in
two set-based statements in the load's transaction. Loading a batch again inserts nothing.
Placeholders (load/inferred.py) are no version: the real row's first version has its own
place, whenever it arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.registry import StarTable, quote_ident
from ainsdale_etl.load.ddl import (
    BATCH_TIME,
    DIM_DELETION,
    FACT_RECORDED,
    INFERRED,
    history_table,
    version_key,
)
from ainsdale_etl.load.versions import row_version

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor


def _attributes(dim: StarTable) -> list[str]:
    return [quote_ident(c) for c in dim.column_names]


def record_history(
    cur: Cursor, batch_id: str, dim: StarTable, staging: str, *, per_row: bool = False
) -> None:
    """Insert the versions staged in ``staging`` into ``dim``'s history, each in its place in
    the order (its batch, or its own :func:`~.versions.row_version`), and settle the intervals
    of their ids. A version loaded again with other content (a joined row rebuilt from later
    parts) takes the content, as the dimension's merge does."""
    columns = _attributes(dim)
    listed = ", ".join(columns)
    staged = ", ".join(f"s.{c}" for c in columns)
    values = [c for c in columns if c != quote_ident(dim.key[0])]
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
    old = ", ".join(f"h.{c}" for c in values)
    new = ", ".join(f"EXCLUDED.{c}" for c in values)
    cur.execute(
        f"""INSERT INTO {history_table(dim)} AS h ({listed}, valid_from, is_current)
            SELECT {staged}, {BATCH_TIME}({row_version("s", per_row)}), false FROM {staging} s
            ON CONFLICT ({quote_ident(dim.key[0])}, valid_from) DO UPDATE SET {assignments},
                changed_at = now()
            WHERE ({old}) IS DISTINCT FROM ({new})""",
        [batch_id],
    )
    settle_history(cur, dim, f"SELECT {quote_ident(dim.key[0])} FROM {staging}")


def record_bulk_history(cur: Cursor, batch_id: str, dim: StarTable) -> None:
    """A bulk load filled the empty ``dim``: a version of every row (but placeholders) from
    ``batch_id``, by one INSERT ... SELECT. An empty history (an initial load) is written
    current at once; one that holds versions already (every row deleted since) is settled."""
    columns = _attributes(dim)
    listed = ", ".join(columns)
    key = quote_ident(dim.key[0])
    fresh = not fetch_all(cur, f"SELECT EXISTS (SELECT FROM {history_table(dim)})")[0][0]
    cur.execute(
        f"""INSERT INTO {history_table(dim)} ({listed}, valid_from, is_current)
            SELECT {listed}, {BATCH_TIME}($1), $2 FROM {quote_ident(dim.name)} d
            WHERE NOT EXISTS (SELECT FROM {INFERRED} i WHERE i.dim = $3 AND i.id = d.{key})
            ON CONFLICT ({key}, valid_from) DO NOTHING""",
        [batch_id, fresh, dim.name],
    )
    if not fresh:
        settle_history(cur, dim, f"SELECT {key} FROM {quote_ident(dim.name)}")


def record_deletions(cur: Cursor, batch_id: str, dim: StarTable, ids: list[int]) -> None:
    """Record that ``batch_id`` found ``ids`` deleted (every deletion is kept: an older version
    loaded later must end where the deletion came) and close their versions."""
    cur.execute(
        f"""INSERT INTO {DIM_DELETION} (star_table, id, batch_id)
            SELECT $1, gone.id, $2 FROM unnest($3::int[]) AS gone(id) ON CONFLICT DO NOTHING""",
        [dim.name, batch_id, ids],
    )
    settle_history(cur, dim, "SELECT unnest($1::int[])", [ids])


def settle_history(
    cur: Cursor, dim: StarTable, ids_sql: str, params: list[object] | None = None
) -> None:
    """Set the interval and currency of every version of the ids ``ids_sql`` selects from all
    their versions and deletions: a version ends where the next version or the first deletion
    at or after it begins, and is current while it has no end. Closing comes first, so the
    partial unique index (one current row per id) holds after each statement."""
    key, name = quote_ident(dim.key[0]), history_table(dim)
    surrogate = version_key(dim)
    n = len(params or [])
    settled = f"""SELECT h.{surrogate} AS k, least(
            lead(h.valid_from) OVER (PARTITION BY h.{key} ORDER BY h.valid_from),
            (SELECT {BATCH_TIME}(min(d.batch_id)) FROM {DIM_DELETION} d
                WHERE d.star_table = ${n + 1} AND d.id = h.{key}
                AND {BATCH_TIME}(d.batch_id) >= h.valid_from)) AS valid_to
        FROM {name} h WHERE h.{key} IN ({ids_sql})"""
    args = [*(params or []), dim.name]
    cur.execute(
        f"""UPDATE {name} h SET valid_to = s.valid_to, is_current = false, changed_at = now()
            FROM ({settled}) s WHERE h.{surrogate} = s.k AND s.valid_to IS NOT NULL
            AND (h.is_current OR h.valid_to IS DISTINCT FROM s.valid_to)""",
        args,
    )
    cur.execute(
        f"""UPDATE {name} h SET valid_to = NULL, is_current = true, changed_at = now()
            FROM ({settled}) s WHERE h.{surrogate} = s.k AND s.valid_to IS NULL
            AND NOT h.is_current""",
        args,
    )


def record_fact_batches(cur: Cursor, batch_id: str, fact: StarTable, staging: str) -> None:
    """Record, for each fact row the batch staged in ``staging`` holds, the first batch in the
    order that recorded that version (its ``_as_recorded`` view reads the dimension versions
    valid then). Rows a bulk load put there have their batch in its key range instead."""
    record = quote_ident(fact.surrogate_key or "")
    natural = " AND ".join(f"f.{quote_ident(k)} = s.{quote_ident(k)}" for k in fact.key)
    cur.execute(
        f"""INSERT INTO {FACT_RECORDED} AS r (star_table, record_id, batch_id)
            SELECT $2, f.{record}, $1 FROM {staging} s JOIN {quote_ident(fact.name)} f
            ON {natural}
            ON CONFLICT (star_table, record_id) DO UPDATE SET batch_id = EXCLUDED.batch_id
            WHERE EXCLUDED.batch_id < r.batch_id""",
        [batch_id, fact.name],
    )

"""Rows deleted in totesys: each deletion recorded as its row's current version, and the row
removed where history allows.

The extract finds the ids that left each source table (:mod:`ainsdale_etl.extract.deletions`).
A deletion is a version in the batch order (:mod:`.versions`): it applies over older versions
only, and a later re-insert supersedes it. In the warehouse a deleted dimension row goes too,
unless a fact points at it: history must stay resolvable, so it is kept, and ``verify`` counts
it apart. A fact's versions are its history, so a deleted order keeps them; its current view
leaves it out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.batches import Manifest, read_manifest
from ainsdale_etl.core.registry import STAR_TABLES, StarTable, quote_ident
from ainsdale_etl.core.storage import ObjectNotFoundError, Storage
from ainsdale_etl.load.ddl import ROW_VERSION
from ainsdale_etl.load.history import record_deletions
from ainsdale_etl.load.versions import current_version

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor


def star_deletions(extracted: Manifest) -> dict[str, tuple[str, list[int]]]:
    """star table -> (source table, ids deleted) of an extract manifest: each source table's
    deletions land on the star table that mirrors it one to one (dim_staff mirrors staff, not
    department, which totesys will not delete while staff point at it)."""
    mirrors = {t.sources[0]: name for name, t in STAR_TABLES.items() if t.sources}
    return {
        mirrors[source]: (source, entry.deleted)
        for source, entry in extracted.tables.items()
        if entry.deleted and source in mirrors
    }


def _unreferenced(dim: StarTable) -> str:
    """A condition true of a row of ``dim`` (aliased d) that no fact points at."""
    key = quote_ident(dim.key[0])
    tests = [
        f"NOT EXISTS (SELECT FROM {quote_ident(fact.name)} f "
        f"WHERE f.{quote_ident(column.name)} = d.{key})"
        for fact in STAR_TABLES.values()
        for column in fact.foreign_keys
        if column.references == dim.name
    ]
    return " AND ".join(tests) or "true"


def apply_deletions(
    cur: Cursor, batch_id: str, deletions: dict[str, tuple[str, list[int]]]
) -> dict[str, int]:
    """Record each deletion as its row's current version, where no newer version of the row
    is loaded (a rerun of an old batch deletes nothing that came back), and remove the
    dimension rows no fact points at, in the load's transaction; returns the rows removed per
    star table."""
    removed: dict[str, int] = {}
    for name, (_, ids) in deletions.items():
        table = STAR_TABLES[name]
        key = quote_ident(table.key[0])
        # A fact's deletion names the row of its last version (history kept, never current).
        record = (
            f"coalesce((SELECT v.record_id FROM {ROW_VERSION} v WHERE v.star_table = $1 "
            f"AND v.id = gone.id), (SELECT f.{quote_ident(table.surrogate_key)} "
            f"FROM {quote_ident(name)} f WHERE f.{key} = gone.id LIMIT 1))"
            if table.surrogate_key
            else "NULL::integer"
        )
        cur.execute(
            f"""INSERT INTO {ROW_VERSION} AS v (star_table, id, batch_id, record_id, deleted)
                SELECT $1, gone.id, $2, {record}, true FROM unnest($3::int[]) AS gone(id)
                WHERE $2 >= {current_version(table, "gone.id")}
                ON CONFLICT (star_table, id) DO UPDATE
                SET batch_id = EXCLUDED.batch_id, deleted = true, changed_at = now()
                WHERE (v.batch_id, v.deleted) IS DISTINCT FROM (EXCLUDED.batch_id, true)""",
            [name, batch_id, ids],
        )
        if table.is_fact:
            continue
        record_deletions(cur, batch_id, table, ids)
        gone = fetch_all(
            cur,
            f"""WITH gone AS (DELETE FROM {quote_ident(name)} d WHERE d.{key} = ANY($3)
                AND EXISTS (SELECT FROM {ROW_VERSION} v WHERE v.star_table = $1
                    AND v.id = d.{key} AND v.deleted AND v.batch_id = $2)
                AND {_unreferenced(table)} RETURNING 1) SELECT count(*) FROM gone""",
            [name, batch_id, ids],
        )
        removed[name] = int(gone[0][0])
    return removed


def deletions_of(ingest: Storage, batch_id: str) -> dict[str, tuple[str, list[int]]]:
    """The deletions an extracted batch found (none if its ingest manifest is gone)."""
    try:
        return star_deletions(read_manifest(ingest, batch_id))
    except ObjectNotFoundError:
        return {}

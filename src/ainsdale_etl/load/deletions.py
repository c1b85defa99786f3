"""Rows deleted in totesys: recorded in the ledger schema, and removed where history allows.

The extract finds the ids that left each source table (:mod:`ainsdale_etl.extract.deletions`).
In the warehouse a deleted dimension row goes too, unless a fact points at it: history must
stay resolvable, so it is kept, and ``verify`` counts it apart. A fact's versions are its
history, so a deleted order keeps them. Either way the deletion is recorded here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.batches import Manifest, read_manifest
from ainsdale_etl.core.registry import STAR_TABLES, StarTable, quote_ident
from ainsdale_etl.core.storage import ObjectNotFoundError, Storage
from ainsdale_etl.load.ddl import DELETED, DIM_VERSION

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
    """Remove and record each deleted row, in the load's transaction; returns the rows removed
    per star table (those kept are in the record, with ``kept``)."""
    removed: dict[str, int] = {}
    for name, (source, ids) in deletions.items():
        table = STAR_TABLES[name]
        key = quote_ident(table.key[0])
        if not table.is_fact:
            # The deletion is the row's newest version: an older batch loaded later must not
            # bring it back (see load/versions.py).
            cur.execute(
                f"""INSERT INTO {DIM_VERSION} (dim, id, batch_id)
                    SELECT $1, id, $2 FROM unnest($3::int[]) AS id
                    ON CONFLICT (dim, id) DO UPDATE
                    SET batch_id = EXCLUDED.batch_id, changed_at = now()
                    WHERE {DIM_VERSION}.batch_id < EXCLUDED.batch_id""",
                [name, batch_id, ids],
            )
            gone = fetch_all(
                cur,
                f"WITH gone AS (DELETE FROM {quote_ident(name)} d WHERE d.{key} = ANY($1) "
                f"AND {_unreferenced(table)} RETURNING 1) SELECT count(*) FROM gone",
                [ids],
            )
            removed[name] = int(gone[0][0])
        cur.execute(
            f"""INSERT INTO {DELETED} (star_table, id, source_table, batch_id, kept)
                SELECT $1, id, $2, $3, EXISTS (SELECT FROM {quote_ident(name)} WHERE {key} = id)
                FROM unnest($4::int[]) AS id
                ON CONFLICT (star_table, id) DO NOTHING""",
            [name, source, batch_id, ids],
        )
    return removed


def deletions_of(ingest: Storage, batch_id: str) -> dict[str, tuple[str, list[int]]]:
    """The deletions an extracted batch found (none if its ingest manifest is gone)."""
    try:
        return star_deletions(read_manifest(ingest, batch_id))
    except ObjectNotFoundError:
        return {}

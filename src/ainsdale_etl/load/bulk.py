"""The initial load: a batch copied straight into an empty table, keys rebuilt once after."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.registry import STAR_TABLES, StarTable, quote_ident
from ainsdale_etl.load.ddl import (
    FACT_KEY_RANGE,
    foreign_key_constraints,
    key_constraints,
    referencing_constraints,
)
from ainsdale_etl.load.history import record_bulk_history
from ainsdale_etl.load.inferred import infer_members
from ainsdale_etl.load.references import dangling_reference_error, repeated_key_error
from ainsdale_etl.load.table_data import TableData
from ainsdale_etl.load.triggers import TriggerSkipping
from ainsdale_etl.load.versions import record_base_version
from ainsdale_etl.testing.faults import fault_point

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor


# An initial load (an empty table, at least ``BULK_MIN_ROWS`` coming) is copied straight into
# the table with its keys dropped first and rebuilt after: an index built once from sorted rows
# costs a fraction of maintaining it row by row. Its foreign keys are checked set-based, never by
# PostgreSQL's trigger per inserted row (see bulk_load). At scale 100 this took the load from
# 36 s to about 8 s. Only an empty table qualifies: rebuilding a big table's indexes would cost
# more than a small batch's upkeep.
BULK_MIN_ROWS = 10_000
BULK_LOCK_TIMEOUT = "30s"  # waiting longer on a reader's lock: fail, and let the retry come
BULK_INDEX_MEMORY = "256MB"  # a rebuilt key sorts in memory (64MB spilled to disk at scale 100)
_UNIQUE_VIOLATION, _FOREIGN_KEY_VIOLATION = "23505", "23503"


def is_empty(cur: Cursor, table: StarTable) -> bool:
    return not fetch_all(cur, f"SELECT EXISTS (SELECT 1 FROM {quote_ident(table.name)})")[0][0]


def qualifies_for_bulk(cur: Cursor, table: StarTable, rows: int) -> bool:
    """Whether ``rows`` coming into ``table`` take the bulk path (BULK_MIN_ROWS is read at
    each call, so a test may lower it)."""
    return rows >= BULK_MIN_ROWS and is_empty(cur, table)


def _add_constraint(cur: Cursor, batch_id: str, table: StarTable, name: str, sql: str) -> None:
    """Re-add a dropped key or foreign key; a violation is the batch's bad input."""
    import adbc_driver_manager

    try:
        cur.execute(f"ALTER TABLE {quote_ident(table.name)} ADD CONSTRAINT {name} {sql}")
    except adbc_driver_manager.IntegrityError as exc:
        if exc.sqlstate == _UNIQUE_VIOLATION:
            raise repeated_key_error(batch_id, table) from None
        if exc.sqlstate == _FOREIGN_KEY_VIOLATION:
            raise dangling_reference_error(batch_id, table, exc) from None
        raise


def bulk_load(
    cur: Cursor, batch_id: str, table: StarTable, data: TableData, *, triggers: TriggerSkipping
) -> int:
    """Copy a batch straight into an empty table (see BULK_MIN_ROWS); returns its rows.

    The table's unique keys are dropped and rebuilt, and with them the foreign keys of other
    tables that reference them (a dimension's primary key; re-adding those validates tables
    that are empty on an initial load, so costs nothing). Where the role may skip the table's
    foreign-key triggers (:mod:`.triggers`), its own foreign keys stay in place and the copy
    runs without those per-row triggers: the copied rows' references are checked afterwards,
    set-based, by the caller (:class:`ReferenceCheck`). Otherwise they are dropped and
    re-added, which validates each in one pass, serially. Triggers of the user's always fire.
    """
    own_keys = key_constraints(table)
    referencing = [] if table.is_fact else referencing_constraints(table)
    if not all(is_empty(cur, STAR_TABLES[other]) for other, _, _ in referencing):
        # Re-adding those foreign keys would validate rows already loaded, serially: keep the
        # dimension's key, and pay for its upkeep during the copy instead.
        own_keys, referencing = [], []
    skip_triggers = triggers.skips(table)
    foreign_keys = [] if skip_triggers else foreign_key_constraints(table)
    cur.execute(f"SET LOCAL lock_timeout = '{BULK_LOCK_TIMEOUT}'")
    cur.execute(f"SET LOCAL maintenance_work_mem = '{BULK_INDEX_MEMORY}'")
    for other, constraint, _ in referencing:
        cur.execute(f"ALTER TABLE {quote_ident(other)} DROP CONSTRAINT {constraint}")
    for constraint, _ in [*foreign_keys, *own_keys]:
        cur.execute(f"ALTER TABLE {quote_ident(table.name)} DROP CONSTRAINT {constraint}")
    if foreign_keys or referencing:
        fault_point("foreign_keys_dropped")
    copied = data.only(table.column_names)
    if table.surrogate_key:
        copied = _with_reserved_keys(cur, batch_id, table, copied)
    with triggers.off(cur, table):
        rows = int(cur.adbc_ingest(table.name, copied.reader, mode="append"))
    if table.is_fact and not skip_triggers:  # before the foreign keys are re-added
        infer_members(cur, batch_id, table, quote_ident(table.name))
    for constraint, definition in [*own_keys, *foreign_keys]:
        _add_constraint(cur, batch_id, table, constraint, definition)
    for other, constraint, definition in referencing:
        _add_constraint(cur, batch_id, STAR_TABLES[other], constraint, definition)
    if not table.is_fact and table.name != "dim_date":  # all its rows are this batch's
        record_base_version(cur, batch_id, table)
        record_bulk_history(cur, batch_id, table)
    # No ANALYZE: autovacuum analyzes a table that gained this many rows within a minute, and
    # doing it here as well took half a second of every initial load at scale 100.
    return rows


def _with_reserved_keys(cur: Cursor, batch_id: str, table: StarTable, data: TableData) -> TableData:
    """``data`` with the fact's surrogate keys given here, in the object's row order, from one
    range taken from the identity's sequence; the range is recorded with the rows. The lake
    then writes these rows from the batch's object, keys and all, rather than read millions of
    rows back from the warehouse (lake/rows.py). COPY writes given identity values as they are.
    A rolled-back load leaves a gap in the keys, as any rolled-back insert does."""
    sequence = "pg_get_serial_sequence($1, $2)"
    where = [quote_ident(table.name), table.surrogate_key]
    first = int(fetch_all(cur, f"SELECT nextval({sequence})", where)[0][0])
    fetch_all(cur, f"SELECT setval({sequence}, $3)", [*where, first + max(data.rows, 1) - 1])
    cur.execute(
        f"""INSERT INTO {FACT_KEY_RANGE} (star_table, batch_id, first_key, rows, object_sha256)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (star_table, batch_id) DO UPDATE SET first_key = EXCLUDED.first_key,
                rows = EXCLUDED.rows, object_sha256 = EXCLUDED.object_sha256""",
        [table.name, batch_id, first, data.rows, data.sha256],
    )
    return data.numbered(table.surrogate_key or "", first)

"""Deadlines on the extract's reads of the source, sized by the data."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

    from ainsdale_etl.core.registry import SourceTable

# A table's reads may take a minute plus its size at a floor rate far below any healthy read
# (5 MB/s): a source that stops answering mid-read (a lock held by a migration, a disk gone
# slow) ends the extract as a deadline passed (exit 75), not a run holding the lock for ever.
STATEMENT_FLOOR_MS = 60_000
FLOOR_BYTES_PER_MS = 5_000


def bound_reads(conn: psycopg.Connection, table: SourceTable) -> None:
    """Set the transaction's ``statement_timeout`` for reading ``table``, sized by its size on
    disk as the catalog last counted it (``relpages``: reading it takes no lock on the table,
    which a held lock would make wait with no deadline yet)."""
    conn.execute(
        "SELECT set_config('statement_timeout', (%s + greatest(c.relpages, 0)::bigint "
        "* current_setting('block_size')::bigint / %s)::text, true) "
        "FROM pg_class c WHERE c.oid = %s::regclass",
        [STATEMENT_FLOOR_MS, FLOOR_BYTES_PER_MS, f"public.{table.name}"],
    )

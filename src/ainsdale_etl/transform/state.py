"""The transform's saved current state of the source tables that dimensions join (staff with
department, counterparty with address): ``state/current/<table>.parquet`` in the processed
bucket, merged from every batch by last-batch-wins (see :mod:`.star.current`).

It is derived state: every version in it came from an extracted batch. So a state file that is
lost (deleted by hand, a lifecycle rule) is rebuilt by folding every extracted batch's rows of
that table in batch order, logged once, before a batch is built against it: never a silent
``unknown`` department.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import fetch_checked, read_manifest
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.events import counted
from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.core.storage import ObjectNotFoundError

if TYPE_CHECKING:
    import polars as pl

    from ainsdale_etl.core.events import Reporter
    from ainsdale_etl.core.storage import Storage

CURRENT_PREFIX = "state/current/"
_BLOCK = 8 << 20  # CSV read at a time


def current_key(table: str) -> str:
    return f"{CURRENT_PREFIX}{table}.parquet"


def read_current(processed: Storage, table: str) -> pl.DataFrame:
    """The saved current state of ``table`` (empty before the first batch)."""
    import polars as pl

    from ainsdale_etl.transform.star import empty_source

    if not processed.exists(current_key(table)):
        return empty_source(table)
    return pl.read_parquet(io.BytesIO(processed.get_bytes(current_key(table))))


def put_current(processed: Storage, table: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    processed.put_bytes(current_key(table), buffer.getvalue())


def missing_state(processed: Storage) -> list[str]:
    """The joined tables whose saved state is gone (one look each)."""
    from ainsdale_etl.transform.star import JOINED_SOURCES

    return [t for t in JOINED_SOURCES if not processed.exists(current_key(t))]


def rebuild_state(
    ingest: Storage, processed: Storage, batch_ids: list[str], tables: list[str], reporter: Reporter
) -> None:
    """Rebuild the saved state of ``tables`` from the batches ``batch_ids`` (oldest first)."""
    import polars as pl

    from ainsdale_etl.transform.contracts import read_source_csv
    from ainsdale_etl.transform.star import empty_source, merge_current
    from ainsdale_etl.transform.star.current import latest

    states = {t: empty_source(t) for t in tables}
    with tempfile.TemporaryDirectory() as tmp:
        for batch_id in batch_ids:
            try:
                manifest = read_manifest(ingest, batch_id)
            except ObjectNotFoundError:
                continue  # expired: an older version may stay in the state, as read
            for table in tables:
                entry = manifest.tables.get(table)
                if entry is not None and entry.deleted:
                    states[table] = merge_current(
                        states[table], empty_source(table), table, batch_id, entry.deleted
                    )
                if entry is None or not entry.rows or entry.key is None:
                    continue
                try:
                    path = fetch_checked(ingest, batch_id, entry, Path(tmp))
                    rows = pl.concat(
                        read_source_csv(
                            path, SOURCE_TABLES[table], where=entry.key, block_bytes=_BLOCK
                        )
                    )
                except BadInputError:
                    continue  # a damaged or quarantined batch: its own transform says so
                path.unlink()
                states[table] = merge_current(states[table], latest(rows, table), table, batch_id)
    for table, frame in states.items():
        put_current(processed, table, frame)
        reporter.warning(
            f"the transform's saved state of {table} was missing; rebuilt from "
            f"{counted(len(batch_ids), 'extracted batch')} ({counted(frame.height)})",
            kind="transform_state_rebuilt",
            step="transform",
            table=table,
        )

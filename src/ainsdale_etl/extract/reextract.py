"""A committed batch extracted again: what the source holds now of that batch's windows.

For a batch whose objects were lost or damaged. Each table is read from the previous batch's
snapshot up to this batch's own (see :func:`.windows.window_of`): the versions that are still
current; those changed since are in later batches, and rows deleted since are gone, so
nothing is read twice and nothing is lost. The new objects get new names and the new manifest
replaces the old in one write, so a re-extract that fails leaves the batch as it was.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.batches import (
    History,
    Manifest,
    TableEntry,
    committed_batches,
    manifest_key,
    object_key,
    read_manifest,
    rewrite_extension,
    sha256_file,
    write_manifest,
)
from ainsdale_etl.core.errors import BadInputError, ConfigError
from ainsdale_etl.core.events import Reporter
from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.core.storage import Storage
from ainsdale_etl.extract.copy_out import copy_out
from ainsdale_etl.extract.drift import DriftPolicy, guard_source_columns
from ainsdale_etl.extract.extract import ExtractResult, snapshot_connections
from ainsdale_etl.extract.windows import copy_sql, previous_windows, window_of
from ainsdale_etl.runtime.shutdown import checkpoint


def reextract(
    source: Database,
    ingest: Storage,
    batch_id: str,
    reporter: Reporter,
    before_commit: Callable[[], None] = lambda: None,
    source_drift: DriftPolicy = "warn",
) -> ExtractResult:
    """Read ``batch_id``'s windows again from the source and replace the batch's objects."""
    committed = committed_batches(ingest)
    if batch_id not in committed or not ingest.exists(manifest_key(batch_id)):
        raise ConfigError(
            f"no committed batch {batch_id} in {ingest.uri}: without its manifest its windows "
            "are unknown; 'ainsdale-etl batches' lists the batches"
        )
    old = read_manifest(ingest, batch_id)
    unreadable = [n for n, e in old.tables.items() if e.snapshot is None]
    if unreadable:
        raise BadInputError(
            f"batch {batch_id} was captured by timestamp (an older release) for "
            f"{', '.join(unreadable)}: it cannot be read again; run 'ainsdale-etl extract --full'"
        )
    before = History(ingest, [b for b in committed if b < batch_id])
    previous = previous_windows(before, old.tables)
    extension = rewrite_extension(ingest, batch_id, "csv")
    entries: dict[str, TableEntry] = {}
    reporter.event("step_started", step="extract", batch_id=batch_id)
    with tempfile.TemporaryDirectory() as tmp, snapshot_connections(source, 1) as snap:
        [(conn, reference)] = snap.connections.items()
        guard_source_columns(conn, old.tables, source_drift, reporter)
        for name, entry in old.tables.items():
            checkpoint(f"during the re-extract of batch {batch_id} (it was left as it was)")
            table = SOURCE_TABLES[name]
            window = window_of(previous.get(name), entry, snap.snapshot, reference)
            path = Path(tmp) / f"{name}.csv"
            with path.open("wb") as out:
                rows = copy_out(conn, copy_sql(table, window), out)
            again = entry.model_copy(update={"rows": rows, "key": None, "sha256": None})
            if rows:
                again.key = object_key(batch_id, name, extension)
                again.sha256 = sha256_file(path)
                ingest.put_file(again.key, path)
            entries[name] = again
            reporter.event(
                "table_extracted", step="extract", batch_id=batch_id, table=name, rows=rows
            )
    manifest = Manifest(
        batch_id=batch_id,
        stage="extract",
        created_at=old.created_at,
        full=old.full,
        follows=old.follows,
        source=old.source,  # the windows read again are the ones taken on that history
        enums=old.enums,
        tables=entries,
    )
    before_commit()
    write_manifest(ingest, manifest)
    reporter.event("batch_committed", step="extract", batch_id=batch_id, rows=manifest.total_rows)
    return ExtractResult(batch_id, entries)

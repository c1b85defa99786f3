"""Load: a transformed batch into the warehouse, in one transaction with its ledger row.

Each table is bulk-copied (ADBC ingest, i.e. COPY): straight into an empty table on an initial
load (:mod:`.bulk`), else into a staging table merged with one statement (:mod:`.merge`). The
batch is recorded in the ledger (:mod:`.ledger`) in the same transaction: either all of it
commits or none of it does.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import Database, fetch_all
from ainsdale_etl.core.batches import read_manifest, readable
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.events import NullReporter, Reporter, plural, rate
from ainsdale_etl.core.registry import SCHEMA_VERSION, STAR_TABLES, StarTable
from ainsdale_etl.load.bulk import bulk_load, qualifies_for_bulk
from ainsdale_etl.load.ddl import INFERRED
from ainsdale_etl.load.deletions import apply_deletions, deletions_of
from ainsdale_etl.load.ledger import record_batch
from ainsdale_etl.load.merge import merge_table
from ainsdale_etl.load.references import ReferenceCheck
from ainsdale_etl.load.table_data import TableData, open_star_table
from ainsdale_etl.load.triggers import trigger_skipping
from ainsdale_etl.runtime.shutdown import checkpoint
from ainsdale_etl.testing.faults import fault_point

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor

    from ainsdale_etl.runtime.context import Context


def load_tables(
    db: Database,
    batch_id: str,
    tables: Iterable[tuple[str, TableData]],
    *,
    reporter: Reporter | None = None,
    before_commit: Callable[[], None] = lambda: None,
    deletions: Callable[[], dict[str, tuple[str, list[int]]]] = dict,
    schema_version: int = SCHEMA_VERSION,
) -> dict[str, int]:
    """Load one batch's star tables, apply the deletions its extract found, and record it in
    the ledger, in one transaction.

    ``tables`` are (name, data) pairs in any order, and may be a stream that waits for each
    (run-all hands tables over as its transform writes them). Where the role may skip
    triggers, a table that is bulk-loaded goes in as soon as it arrives, since its references
    are checked set-based at the end; every other table waits, and they are loaded in the
    registry's order, dimensions before the facts that point at them.

    ``deletions()`` gives the deletions to apply, asked once every table is in (run-all's
    extract may still be writing the batch when its load begins).

    ``schema_version`` is the version that wrote the batch (its manifest's), for the ledger.

    Returns the rows each table gained or changed. A dimension row is written only if no newer
    version of it is loaded (:mod:`.versions`), so batches load in any order.
    """
    reporter = reporter or NullReporter()
    merged: dict[str, int] = {}
    with db.connect() as conn, conn.cursor() as cur:
        triggers = trigger_skipping(cur)
        checks: list[ReferenceCheck] = []

        def is_bulk(table: StarTable, data: TableData) -> bool:
            return qualifies_for_bulk(cur, table, data.rows)

        def load(table: StarTable, data: TableData, *, bulk: bool) -> None:
            checkpoint(f"while loading batch {batch_id} (its transaction was rolled back)")
            started = time.perf_counter()
            if bulk:
                if triggers.skips(table):
                    check = ReferenceCheck(table, data)
                    checks.append(check)
                    data = check.data
                merged[table.name] = bulk_load(cur, batch_id, table, data, triggers=triggers)
            else:
                merged[table.name] = merge_table(
                    cur, batch_id, table, data, triggers=triggers, reporter=reporter
                )
            seconds = time.perf_counter() - started
            reporter.event(
                "table_loaded",
                step="load",
                batch_id=batch_id,
                table=table.name,
                rows=data.rows,
                merged=merged[table.name],
                path="bulk" if bulk else "merge",
                seconds=round(seconds, 3),
                rows_per_s=round(data.rows / seconds) if seconds else None,
            )
            fault_point("table_merged")

        waiting: dict[str, TableData] = {}
        for name, data in tables:
            if data.rows == 0:
                continue
            if triggers.everywhere and is_bulk(STAR_TABLES[name], data):
                load(STAR_TABLES[name], data, bulk=True)
            else:
                waiting[name] = data
        for name, table in STAR_TABLES.items():
            if name in waiting:
                load(table, waiting[name], bulk=is_bulk(table, waiting[name]))
        for check in checks:
            check.verify(cur, batch_id)
        deleted = deletions()
        if deleted:
            removed = apply_deletions(cur, batch_id, deleted)
            for name, (_, ids) in deleted.items():
                reporter.event(
                    "deletions_applied",
                    step="load",
                    batch_id=batch_id,
                    table=name,
                    deleted=len(ids),
                    removed=removed.get(name, 0),
                )
        _report_inferred(cur, reporter, batch_id)
        record_batch(cur, batch_id, merged, schema_version)
        before_commit()  # e.g. confirm the run still holds its lock
        conn.commit()
    fault_point("batch_loaded")
    return {name: merged[name] for name in STAR_TABLES if name in merged}


def load_batch(ctx: Context, batch_id: str) -> dict[str, int]:
    """Load one transformed batch into the warehouse (one transaction, ledger included)."""
    started = time.perf_counter()
    manifest = readable(read_manifest(ctx.processed, batch_id))
    unknown = set(manifest.tables) - set(STAR_TABLES)
    if unknown:
        raise BadInputError(
            f"batch {batch_id}: processed manifest names unknown tables {sorted(unknown)}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        tables = {
            name: open_star_table(ctx.processed, batch_id, entry, Path(tmp))
            for name, entry in manifest.tables.items()
            if entry.rows
        }
        merged = load_tables(
            ctx.warehouse,
            batch_id,
            tables.items(),
            reporter=ctx.reporter,
            before_commit=ctx.lock_check,
            deletions=lambda: deletions_of(ctx.ingest, batch_id),
            schema_version=manifest.schema_version,
        )
    report_loaded(ctx.reporter, batch_id, merged, time.perf_counter() - started)
    return merged


def _report_inferred(cur: Cursor, reporter: Reporter, batch_id: str) -> None:
    """Warn about the placeholders this batch added for dimension rows not delivered yet."""
    rows = fetch_all(
        cur,
        f"SELECT dim, count(*), min(id) FROM {INFERRED} WHERE batch_id = $1 GROUP BY 1 ORDER BY 1",
        [batch_id],
    )
    for dim, count, example in rows:
        reporter.warning(
            f"batch {batch_id}: facts point at {count:,} {dim} {plural('row', count)} not "
            f"delivered yet (e.g. id {example}); loaded with placeholders that the rows "
            "replace when they arrive",
            kind="inferred_members",
            batch_id=batch_id,
            table=dim,
            count=int(count),
        )


def report_loaded(
    reporter: Reporter, batch_id: str, merged: dict[str, int], seconds: float
) -> None:
    reporter.event(
        "batch_loaded",
        step="load",
        batch_id=batch_id,
        **rate(sum(merged.values()), seconds),
        tables=merged,
    )

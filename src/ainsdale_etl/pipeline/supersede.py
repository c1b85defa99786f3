"""A batch whose bad rows were fixed at the source since: loaded without those versions.

Someone fixes an impossible date or an over-large price in totesys; the fix is a new version
of the row, extracted in a later batch. The bad version's batch still fails, and would wait
forever for a fix that can only come after it. So when a transform fails on a row, the later
batches are asked whether one holds a newer version of that row (or its deletion); if one
does, the bad version is superseded: the batch is transformed without it, the dropped version
is logged and listed in the processed manifest (``superseded``), and ``batches`` shows it. A
bad row nothing supersedes keeps the batch quarantined, as before.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import Manifest, fetch_checked, read_manifest
from ainsdale_etl.core.errors import BadRowError
from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.extract.deletions import ids_in_csv
from ainsdale_etl.load.ledger import extracted_ids
from ainsdale_etl.transform.transform import transform_batch

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context


def newer_version(ctx: Context, batch_id: str, table: str, row_id: int) -> str | None:
    """The first batch after ``batch_id`` that holds a newer version of ``table``'s row
    ``row_id``, or its deletion; None if none does."""
    with tempfile.TemporaryDirectory() as tmp:
        for later in (b for b in extracted_ids(ctx.warehouse) if b > batch_id):
            entry = read_manifest(ctx.ingest, later).tables.get(table)
            if entry is None:
                continue
            if row_id in entry.deleted:
                return later
            if entry.key:
                path = fetch_checked(ctx.ingest, later, entry, Path(tmp))
                if bool((ids_in_csv(path, SOURCE_TABLES[table]) == row_id).any()):
                    return later
    return None


def transform_superseding(ctx: Context, batch_id: str) -> Manifest:
    """Transform ``batch_id``, leaving out each bad row version a later batch supersedes."""
    exclude: dict[str, set[int]] = {}
    while True:
        try:
            return transform_batch(
                ctx.ingest,
                ctx.processed,
                batch_id,
                ctx.reporter,
                workers=ctx.settings.workers,
                before_commit=ctx.lock_check,
                exclude=exclude,
            )
        except BadRowError as exc:
            row_id = int(str(exc.row_id))
            if row_id in exclude.get(exc.table, set()):
                raise
            later = newer_version(ctx, batch_id, exc.table, row_id)
            if later is None:
                raise
            exclude.setdefault(exc.table, set()).add(row_id)
            ctx.reporter.warning(
                f"batch {batch_id}: left out {exc.table} id {row_id}, whose version here is "
                f"bad ({exc}), because batch {later} holds a newer one",
                kind="superseded_version",
                batch_id=batch_id,
                step="transform",
                table=exc.table,
                row_id=row_id,
                superseded_by=later,
            )

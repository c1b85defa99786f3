"""The steps as the CLI runs them: extract a batch, then transform and load what is due.

Each batch's step runs under :mod:`.policy` and records its transition in the batch ledger
(load/ledger.py); run-all (:mod:`.run_all`) strings them together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import manifest_key, sha256_bytes
from ainsdale_etl.core.errors import failing_in
from ainsdale_etl.core.retry import retrying
from ainsdale_etl.load.ledger import (
    NOTHING_LEFT,
    any_transformed,
    batch_state,
    extracted_ids,
    record_extracted,
    record_repaired,
    record_transformed,
)
from ainsdale_etl.load.load import load_batch
from ainsdale_etl.pipeline.pending import due
from ainsdale_etl.pipeline.policy import guarded_step, stop_if_blocked
from ainsdale_etl.pipeline.repair import (
    adopt_committed,
    extract_history,
    missing_before_load,
    missing_before_transform,
)
from ainsdale_etl.pipeline.supersede import transform_superseding

if TYPE_CHECKING:
    from ainsdale_etl.extract.extract import ExtractResult
    from ainsdale_etl.runtime.context import Context


def transform_pending(
    ctx: Context,
    batch_ids: list[str] | None = None,
    *,
    explicit: bool | None = None,
) -> list[str]:
    """Transform the due batches (or ``batch_ids``), oldest first.

    ``explicit`` (default: whether ``batch_ids`` are given) says the batches were named one by
    one (--batch-id), so they may be tried past a quarantined batch; a range (--since/--until)
    is not explicit, and stops at a quarantined batch like a scheduled run.
    """
    ctx.reporter.event("step_started", step="transform")
    with failing_in("transform"):
        return _transform(ctx, batch_ids, explicit)


def _transform(ctx: Context, batch_ids: list[str] | None, explicit: bool | None) -> list[str]:
    now = due(ctx)
    if batch_ids is None and adopt_committed(ctx, now.newest):
        now = due(ctx)
    ids = now.transform if batch_ids is None else batch_ids
    marks = dict(now.quarantined)
    if ids:
        _restore_transform_state(ctx)
    with ctx.reporter.progress("transform", total=len(ids)) as bar:
        for batch_id in ids:
            stop_if_blocked(ctx, "transform", batch_id, _named(batch_ids, explicit), marks)
            if batch_ids is None:
                with failing_in("transform", batch_id):
                    missing_before_transform(ctx, batch_id)
            state = now.states.get(batch_id) or batch_state(ctx.warehouse, batch_id)

            def transform_and_record(batch_id: str = batch_id) -> None:
                transform_superseding(ctx, batch_id)
                record_transformed(ctx.warehouse, batch_id, ctx.processed.uri)

            guarded_step(
                ctx,
                "transform",
                batch_id,
                marks=marks,
                already_loaded=state is not None and state.loaded_at is not None,
                action=transform_and_record,
            )
            bar.advance()
    return ids


def _restore_transform_state(ctx: Context) -> None:
    """The transform's saved state of a joined table, gone since a batch was transformed
    against it, rebuilt from every extracted batch first (see transform/state.py)."""
    from ainsdale_etl.transform.state import missing_state, rebuild_state

    missing = missing_state(ctx.processed)
    if missing and any_transformed(ctx.warehouse):
        batches = extracted_ids(ctx.warehouse)
        rebuild_state(ctx.ingest, ctx.processed, batches, missing, ctx.reporter)


def _named(batch_ids: list[str] | None, explicit: bool | None) -> bool:
    return batch_ids is not None if explicit is None else explicit


def load_pending(
    ctx: Context,
    batch_ids: list[str] | None = None,
    *,
    explicit: bool | None = None,
) -> dict[str, dict[str, int]]:
    """Load the due batches (or ``batch_ids``), oldest first (``explicit``: see
    :func:`transform_pending`), then bring the lake up to the warehouse (:func:`lake_step`)."""
    ctx.reporter.event("step_started", step="load")
    with failing_in("load"):
        results = _load(ctx, batch_ids, explicit)
    lake_step(ctx)
    return results


def _load(
    ctx: Context, batch_ids: list[str] | None, explicit: bool | None
) -> dict[str, dict[str, int]]:
    now = due(ctx)
    if batch_ids is None and adopt_committed(ctx, now.newest):
        now = due(ctx)
    ids = now.load if batch_ids is None else batch_ids
    marks = dict(now.quarantined)
    results = {}
    with ctx.reporter.progress("load", total=len(ids)) as bar:
        for batch_id in ids:
            stop_if_blocked(ctx, "load", batch_id, _named(batch_ids, explicit), marks)
            if batch_ids is None:
                with failing_in("load", batch_id):
                    missing_before_load(ctx, batch_id)
            state = now.states.get(batch_id) or batch_state(ctx.warehouse, batch_id)
            results[batch_id] = guarded_step(
                ctx,
                "load",
                batch_id,
                marks=marks,
                already_loaded=state is not None and state.loaded_at is not None,
                action=lambda batch_id=batch_id: load_batch(ctx, batch_id),  # type: ignore[misc]
            )
            bar.advance()
    return results


def lake_step(ctx: Context, *, everything: bool = False) -> dict[str, int]:
    """Bring the lake up to the warehouse when the ledger says a loaded batch is not in it,
    or a table's files are gone (nothing when the lake is off); ``everything``: compare every
    table whatever the ledger says (``lake sync``)."""
    from ainsdale_etl.lake.catalog import lake_files_missing

    if not ctx.settings.lake_enabled:
        return {}
    with failing_in("lake"):
        owed = everything or due(ctx).lake
        if not owed and not lake_files_missing(ctx.settings, ctx.warehouse, ctx.processed):
            return {}
        from ainsdale_etl.lake.sync import sync_lake

        return sync_lake(ctx)


def extract_batch(
    ctx: Context,
    *,
    tables: list[str] | None = None,
    full: bool = False,
    dry_run: bool = False,
) -> ExtractResult:
    """Extract a new batch after the ledger's newest, repeating the whole extract after a
    transient database fault (nothing is committed before its manifest, so a repeat is safe),
    and record it in the ledger. A batch whose objects were lost before it was loaded is
    repaired here: its windows are read again (see :mod:`.repair`)."""
    with failing_in("extract"):
        return _extract(ctx, tables, full, dry_run)


def _extract(ctx: Context, tables: list[str] | None, full: bool, dry_run: bool) -> ExtractResult:
    from ainsdale_etl.extract.extract import extract

    history = extract_history(ctx, record=not dry_run)
    result = retrying(
        lambda: extract(
            ctx.source,
            ctx.ingest,
            history,
            tables=tables,
            full=full,
            key_check_every=ctx.settings.extract_key_check_every,
            dry_run=dry_run,
            reporter=ctx.reporter,
            workers=ctx.settings.workers,
            before_commit=ctx.lock_check,
            source_drift=ctx.settings.source_drift,
        ),
        what="extract",
        policy=ctx.retry_policy,
        on_retry=lambda message: ctx.reporter.warning(message, step="extract"),
    )
    if dry_run:
        return result
    if result.batch_id:
        _record_extracted(ctx, result.batch_id, history.follows)
    if history.lost:
        # Read again by this batch, or, with nothing changed since, nothing left to read.
        record_repaired(ctx.warehouse, history.lost, result.batch_id or NOTHING_LEFT)
    return result


def _record_extracted(ctx: Context, batch_id: str, follows: str | None) -> None:
    raw = ctx.ingest.get_bytes(manifest_key(batch_id))
    record_extracted(
        ctx.warehouse,
        batch_id,
        follows=follows,
        manifest_sha256=sha256_bytes(raw),
        ingest_uri=ctx.ingest.uri,
    )


def reextract_batch(ctx: Context, batch_id: str) -> ExtractResult:
    """Read a committed batch's windows again and replace its objects (see
    :mod:`ainsdale_etl.extract.reextract`); a transient fault repeats it whole. The ledger
    then owes it a transform and a load again."""
    with failing_in("extract", batch_id):
        return _reextract(ctx, batch_id)


def _reextract(ctx: Context, batch_id: str) -> ExtractResult:
    from ainsdale_etl.extract.reextract import reextract

    result = retrying(
        lambda: reextract(
            ctx.source,
            ctx.ingest,
            batch_id,
            ctx.reporter,
            before_commit=ctx.lock_check,
            source_drift=ctx.settings.source_drift,
        ),
        what=f"re-extract of batch {batch_id}",
        policy=ctx.retry_policy,
        on_retry=lambda message: ctx.reporter.warning(message, step="extract"),
    )
    _record_extracted(ctx, batch_id, None)
    return result

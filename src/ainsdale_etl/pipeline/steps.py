"""The steps as the CLI runs them: extract a batch, then transform and load what is due.

Each batch's step runs under :mod:`.policy`; run-all (:mod:`.run_all`) strings them together.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ainsdale_etl.core.retry import retrying
from ainsdale_etl.load.load import load_batch
from ainsdale_etl.pipeline.pending import pending_loads, pending_transforms
from ainsdale_etl.pipeline.policy import active_marks, guarded_step, stop_if_blocked
from ainsdale_etl.pipeline.supersede import transform_superseding

if TYPE_CHECKING:
    from collections.abc import Callable

    from ainsdale_etl.core.batches import TableEntry
    from ainsdale_etl.extract.extract import ExtractResult
    from ainsdale_etl.runtime.context import Context


def transform_pending(
    ctx: Context,
    batch_ids: list[str] | None = None,
    *,
    loads: dict[str, dict[str, int]] | None = None,
    force: bool = False,
    explicit: bool | None = None,
) -> list[str]:
    """Transform the pending batches (or ``batch_ids``), oldest first.

    ``explicit`` (default: whether ``batch_ids`` are given) says the batches were named one by
    one (--batch-id), so they may be tried past a quarantined batch; a range (--since/--until)
    is not explicit, and stops at a quarantined batch like a scheduled run.

    Given ``loads``, a new batch is also loaded while it is transformed (see
    :mod:`ainsdale_etl.load.alongside`) when nothing stands in the way (no quarantine, no newer
    batch loaded), and the rows each table merged are recorded there by batch id.
    """
    from ainsdale_etl.load.alongside import LoadAlongside
    from ainsdale_etl.load.ledger import loaded_batches

    ctx.reporter.event("step_started", step="transform")
    ids = pending_transforms(ctx) if batch_ids is None else batch_ids
    loaded = set(loaded_batches(ctx.warehouse))
    marks = active_marks(ctx, loaded)
    # Batches must reach the warehouse in order, and none may pass a quarantined one: a batch
    # is loaded alongside only if no batch before it waits to be loaded, and only while every
    # load alongside has succeeded.
    in_order = loads is not None and not pending_loads(ctx, loaded)
    with ctx.reporter.progress("transform", total=len(ids)) as bar:
        for batch_id in ids:
            stop_if_blocked(ctx, batch_id, _named(batch_ids, explicit), marks)
            alongside = None
            if in_order and not marks and all(b < batch_id for b in loaded):
                alongside = LoadAlongside(ctx, batch_id, force=force)
            try:
                guarded_step(
                    ctx,
                    "transform",
                    batch_id,
                    marks=marks,
                    already_loaded=batch_id in loaded,
                    action=partial(
                        transform_superseding,
                        ctx,
                        batch_id,
                        alongside.table_written if alongside else lambda n, e: None,
                    ),
                )
            except BaseException:
                if alongside is not None:
                    alongside.abandon()
                raise
            if alongside is not None and loads is not None:
                alongside.transform_committed()
                merged = alongside.result()
                if merged is None:
                    in_order = False  # this batch waits for the ordinary load; so do the next
                else:
                    loads[batch_id] = merged
                    loaded.add(batch_id)
            bar.advance()
    return ids


def nothing_waiting(ctx: Context) -> bool:
    """No batch waits for a transform or a load, and none is quarantined: a new batch may go
    through all three steps at once. Lists from the watermarks, and moves them, as the
    scheduled steps do."""
    from ainsdale_etl.load.ledger import loaded_batches

    loaded = set(loaded_batches(ctx.warehouse))
    if active_marks(ctx, loaded) or pending_transforms(ctx):
        return False
    return not pending_loads(ctx, loaded)


def _named(batch_ids: list[str] | None, explicit: bool | None) -> bool:
    return batch_ids is not None if explicit is None else explicit


def load_pending(
    ctx: Context,
    batch_ids: list[str] | None = None,
    *,
    force: bool = False,
    explicit: bool | None = None,
) -> dict[str, dict[str, int]]:
    """Load the pending batches (or ``batch_ids``), oldest first (``explicit``: see
    :func:`transform_pending`), then bring the lake up to the warehouse (:func:`lake_step`)."""
    from ainsdale_etl.load.ledger import loaded_batches
    from ainsdale_etl.load.migrate import ensure_warehouse

    ctx.reporter.event("step_started", step="load")
    ensure_warehouse(ctx.warehouse, force=force)
    loaded = set(loaded_batches(ctx.warehouse))
    ids = pending_loads(ctx, loaded) if batch_ids is None else batch_ids
    marks = active_marks(ctx, loaded)
    results = {}
    with ctx.reporter.progress("load", total=len(ids)) as bar:
        for batch_id in ids:
            stop_if_blocked(ctx, batch_id, _named(batch_ids, explicit), marks)
            results[batch_id] = guarded_step(
                ctx,
                "load",
                batch_id,
                marks=marks,
                already_loaded=batch_id in loaded,
                action=partial(load_batch, ctx, batch_id),
            )
            loaded.add(batch_id)
            bar.advance()
    lake_step(ctx)
    return results


def lake_step(ctx: Context, *, everything: bool = False) -> dict[str, dict[str, int]]:
    """Write every loaded batch the lake does not hold yet (nothing when the lake is off);
    ``everything``: look at every table, not only those changed since the lake's watermark."""
    if not ctx.settings.lake_enabled:
        return {}
    from ainsdale_etl.lake.sync import sync_lake

    return sync_lake(ctx, everything=everything)


def extract_batch(
    ctx: Context,
    *,
    tables: list[str] | None = None,
    full: bool = False,
    dry_run: bool = False,
    on_table: Callable[[str, str, TableEntry], None] | None = None,
) -> ExtractResult:
    """Extract a new batch, repeating the whole extract after a transient database fault
    (nothing is committed before its manifest, so a repeat is safe; a repeat is a new batch
    id, which ``on_table``, told of each table's object as it is written, sees)."""
    from ainsdale_etl.extract.extract import extract

    return retrying(
        lambda: extract(
            ctx.source,
            ctx.ingest,
            tables=tables,
            full=full,
            key_check_every=ctx.settings.extract_key_check_every,
            dry_run=dry_run,
            reporter=ctx.reporter,
            workers=ctx.settings.workers,
            before_commit=ctx.lock_check,
            source_drift=ctx.settings.source_drift,
            on_table=on_table or (lambda batch_id, name, entry: None),
        ),
        what="extract",
        policy=ctx.retry_policy,
        on_retry=lambda message: ctx.reporter.warning(message, step="extract"),
    )


def reextract_batch(ctx: Context, batch_id: str) -> ExtractResult:
    """Read a committed batch's windows again and replace its objects (see
    :mod:`ainsdale_etl.extract.reextract`); a transient fault repeats it whole."""
    from ainsdale_etl.extract.reextract import reextract

    return retrying(
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

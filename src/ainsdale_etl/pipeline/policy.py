"""The policy every batch's step runs under: transient faults retried, bad input quarantined,
and nothing passing a quarantined batch silently."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ainsdale_etl.core.batches import manifest_key
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.retry import retrying
from ainsdale_etl.runtime.quarantine import (
    QuarantineMark,
    blocked_error,
    quarantine,
    quarantined,
    release,
)
from ainsdale_etl.runtime.shutdown import checkpoint

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context

T = TypeVar("T")


def active_marks(ctx: Context, loaded: set[str]) -> dict[str, QuarantineMark]:
    """The quarantine marks that still hold. A mark on a batch the ledger already has (left by
    a crash between the load's commit and the mark's release) is lifted; so is, with a
    warning, a mark whose batch is gone from the ingest bucket."""
    marks = quarantined(ctx.processed)
    for batch_id in [b for b in marks if b in loaded]:
        release(ctx.processed, batch_id)
        del marks[batch_id]
    if marks:
        # A look per mark, not a listing of every batch: marks are few, batches many.
        gone = [b for b in marks if not ctx.ingest.exists(manifest_key(b))]
        for batch_id in gone:
            # Nothing is left to retry: the mark would block every later batch for nothing.
            ctx.reporter.warning(
                f"cleared the quarantine mark of batch {batch_id}: the batch is gone from "
                f"{ctx.ingest.uri} (deleted by hand?); its rows were not loaded, so re-extract "
                "them if they matter ('ainsdale-etl extract --full')",
                kind="quarantine_mark_cleared",
                batch_id=batch_id,
            )
            release(ctx.processed, batch_id)
            del marks[batch_id]
    return marks


def stop_if_blocked(
    ctx: Context, batch_id: str, explicit: bool, marks: dict[str, QuarantineMark]
) -> None:
    """A pending batch after a quarantined one is not touched: nothing passes a quarantined
    batch silently. The quarantined batch itself is tried again by every run, since its cause
    may be gone (a bad row fixed at the source since: see :mod:`.supersede`); so is a batch
    named explicitly (--batch-id)."""
    earliest = min(marks, default=None)
    if explicit or earliest is None or batch_id <= earliest:
        return
    mark = marks[earliest]
    # Logged with the quarantined batch's id, so the alert names that batch, not this one.
    ctx.reporter.event("batch_blocked", step=mark.step, batch_id=mark.batch_id)
    raise blocked_error(mark)


def guarded_step(
    ctx: Context,
    step: str,
    batch_id: str,
    *,
    marks: dict[str, QuarantineMark],
    already_loaded: bool,
    action: Callable[[], T],
) -> T:
    """Run one batch's step, retrying transient database faults, under the quarantine rules:
    bad input quarantines the batch (unless it is a rerun of a batch already loaded, whose
    failure must not hold up the batches after it); success lifts its mark."""
    checkpoint(f"before the {step} of batch {batch_id}")
    ctx.lock_check()
    ctx.reporter.event("batch_started", step=step, batch_id=batch_id)
    try:
        result = retrying(
            action,
            what=f"{step} of batch {batch_id}",
            policy=ctx.retry_policy,
            on_retry=lambda message: ctx.reporter.warning(message, batch_id=batch_id, step=step),
        )
    except BadInputError as exc:
        if already_loaded:
            raise
        again = quarantine(ctx.processed, batch_id, step, str(exc))
        ctx.reporter.event(
            "batch_quarantined", str(exc), level="error", step=step, batch_id=batch_id
        )
        if batch_id in marks:  # tried again, and its cause is still there
            raise blocked_error(again) from None
        raise
    mark = marks.pop(batch_id, None)
    # A transform that now succeeds lifts a transform mark; a load mark waits for the load.
    if mark is not None and (mark.step == step or step == "load"):
        release(ctx.processed, batch_id)
        ctx.reporter.event("quarantine_lifted", step=step, batch_id=batch_id)
    return result

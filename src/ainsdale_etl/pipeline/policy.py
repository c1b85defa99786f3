"""The policy every batch's step runs under: transient faults retried, bad input quarantined
(in the batch ledger), and nothing passing a quarantined batch silently."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ainsdale_etl.core.errors import BadInputError, Place, failing_in, mark_place
from ainsdale_etl.core.retry import retrying
from ainsdale_etl.load.ledger import BatchState, record_quarantine
from ainsdale_etl.runtime.quarantine import blocked_error
from ainsdale_etl.runtime.shutdown import checkpoint

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context

T = TypeVar("T")


def _blocked(mark: BatchState) -> BadInputError:
    return blocked_error(
        mark.batch_id, mark.quarantine_step or "", mark.quarantine_reason or "", mark.quarantined_at
    )


def stop_if_blocked(
    ctx: Context, step: str, batch_id: str, explicit: bool, marks: dict[str, BatchState]
) -> None:
    """A pending batch after a quarantined one is not touched: nothing passes a quarantined
    batch silently. The quarantined batch itself is tried again by every run, since its cause
    may be gone (a bad row fixed at the source since: see :mod:`.supersede`); so is a batch
    named explicitly (--batch-id)."""
    earliest = min(marks, default=None)
    if explicit or earliest is None or batch_id <= earliest:
        return
    mark = marks[earliest]
    # The quarantined batch stopped the run: the alert names that batch, not this one.
    ctx.reporter.event("batch_blocked", step=mark.quarantine_step, batch_id=mark.batch_id)
    where = Place(mark.quarantine_step or step, mark.batch_id, quarantined=True)
    raise mark_place(_blocked(mark), where)


def guarded_step(
    ctx: Context,
    step: str,
    batch_id: str,
    *,
    marks: dict[str, BatchState],
    already_loaded: bool,
    action: Callable[[], T],
) -> T:
    """Run one batch's step, retrying transient database faults, under the quarantine rules:
    bad input quarantines the batch (unless it is a rerun of a batch already loaded, whose
    failure must not hold up the batches after it). The step's own ledger transition lifts
    the quarantine (a transform's a transform quarantine, a load's any). A failure carries
    the step and the batch (:func:`~ainsdale_etl.core.errors.failing_in`)."""
    with failing_in(step, batch_id):
        checkpoint(f"before the {step} of batch {batch_id}")
        ctx.lock_check()
        ctx.reporter.event("batch_started", step=step, batch_id=batch_id)
        try:
            result = retrying(
                action,
                what=f"{step} of batch {batch_id}",
                policy=ctx.retry_policy,
                on_retry=lambda message: ctx.reporter.warning(
                    message, batch_id=batch_id, step=step
                ),
            )
        except BadInputError as exc:
            if already_loaded:
                raise
            again = record_quarantine(ctx.warehouse, batch_id, step, str(exc))
            ctx.reporter.event(
                "batch_quarantined", str(exc), level="error", step=step, batch_id=batch_id
            )
            where = Place(step, batch_id, quarantined=True)
            if batch_id in marks:  # tried again, and its cause is still there
                raise mark_place(_blocked(again), where) from None
            mark_place(exc, where)
            raise
        mark = marks.pop(batch_id, None)
        if mark is not None and (mark.quarantine_step == step or step == "load"):
            ctx.reporter.event("quarantine_lifted", step=step, batch_id=batch_id)
        return result

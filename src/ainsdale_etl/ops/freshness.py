"""How fresh the warehouse is: batches waiting to be loaded, and the lag behind totesys.

The lag is now minus the time the warehouse is known to be current as of: the moment this run
read totesys when nothing is left to load (it holds all there was), else the newest loaded
batch's id, which is the moment its extract began (its snapshot's upper bound is moments
later, so the lag is never understated). Reported as one ``freshness`` event at the end of
``extract``, ``load`` and ``run-all``: a metric (cli/metrics.py) the freshness alarm watches.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.batches import parse_batch_id

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context


def freshness(
    committed: Iterable[str], loaded: Iterable[str], checked_at: datetime | None, now: datetime
) -> dict[str, Any]:
    """``batches_pending`` and (when anything is known) ``lag_seconds``."""
    held = set(loaded)
    pending = [b for b in committed if b not in held]
    fresh_as_of = checked_at if checked_at is not None and not pending else None
    if fresh_as_of is None and held:
        fresh_as_of = parse_batch_id(max(held))
    fields: dict[str, Any] = {"batches_pending": len(pending)}
    if fresh_as_of is not None:
        fields["lag_seconds"] = round(max(0.0, (now - fresh_as_of).total_seconds()), 1)
    return fields


def report_freshness(ctx: Context, checked_at: datetime | None = None) -> None:
    """The ``freshness`` event for the run that just ended well; ``checked_at``: when it read
    totesys, if it did. A failure to measure is a warning, never the run's failure."""
    from ainsdale_etl.load.ledger import newest_loaded
    from ainsdale_etl.pipeline.pending import due

    try:
        now = due(ctx)
        newest = [b for b in [newest_loaded(ctx.warehouse)] if b is not None]
        pending = sorted({*now.transform, *now.load})
        fields = freshness(pending + newest, newest, checked_at, datetime.now(UTC))
    except Exception as exc:
        ctx.reporter.warning(f"could not measure the warehouse's freshness: {exc}")
        return
    ctx.reporter.event("freshness", **fields)

"""What is due: the committed batches a later step has not taken yet, oldest first.

Each step lists its buckets from its watermark on (:mod:`ainsdale_etl.core.watermarks`), not
from the first batch ever, so a scheduled run's requests are the same after 3 batches or
30,000. The watermark moves when a listing shows it may: one run behind the batches it
covers, which costs that run's few batches in the next listing and needs no bookkeeping in
the steps themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.batches import committed_batches
from ainsdale_etl.core.watermarks import contiguous_through, read_watermark, write_watermark

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context

TRANSFORMED = "transformed"  # every extracted batch through it has been transformed
LOADED = "loaded"  # every transformed batch through it is in the warehouse's ledger


def _listed_whole(ctx: Context, step: str, why: str) -> None:
    ctx.reporter.event("listed_whole", f"{step}: {why}; listed every batch", step=step)


def pending_transforms(ctx: Context, *, record: bool = True) -> list[str]:
    """Extracted batches not yet transformed (``record``: move the watermark if it may; a dry
    run writes nothing)."""
    mark = read_watermark(ctx.processed, TRANSFORMED)
    since = mark["batch_id"] if mark else None
    transformed = committed_batches(ctx.processed, since=since)
    if since is not None and since not in transformed:
        _listed_whole(ctx, "transform", f"batch {since} of its watermark is gone")
        since, transformed = None, committed_batches(ctx.processed)
    elif since is None:
        _listed_whole(ctx, "transform", "no watermark yet")
    extracted = committed_batches(ctx.ingest, since=since)
    done = set(transformed)
    through = contiguous_through(extracted, done)
    if record and through is not None and through != since:
        write_watermark(ctx.processed, TRANSFORMED, through)
    return [b for b in extracted if b not in done]


def _loaded_through(mark: dict[str, Any] | None, loaded: set[str]) -> str | None:
    """The "loaded" watermark's batch, if it still describes this warehouse's ledger."""
    if mark is None or sum(b <= mark["batch_id"] for b in loaded) != mark.get("ledger_rows"):
        return None
    return str(mark["batch_id"])


def not_loaded(ctx: Context, loaded: set[str]) -> list[str]:
    """Extracted batches the warehouse's ledger does not hold yet (the freshness metric's
    pending), listed from the "loaded" watermark like the load's own listing."""
    since = _loaded_through(read_watermark(ctx.processed, LOADED), loaded)
    return [b for b in committed_batches(ctx.ingest, since=since) if b not in loaded]


def pending_loads(ctx: Context, loaded: set[str], *, record: bool = True) -> list[str]:
    """Transformed batches the warehouse's ledger does not hold. The watermark also records how
    many ledger rows it covered: a warehouse replaced or restored since does not match, and
    every batch is looked at again.

    It never passes the "transformed" watermark: a batch not transformed yet (quarantined,
    while a later one was repaired out of turn) sorts before later ones, and must still be
    listed when its transform comes."""
    mark = read_watermark(ctx.processed, LOADED)
    since = _loaded_through(mark, loaded)
    if mark is not None and since is None:
        _listed_whole(ctx, "load", "the warehouse's ledger does not match its watermark")
    elif since is None:
        _listed_whole(ctx, "load", "no watermark yet")
    transformed = committed_batches(ctx.processed, since=since)
    ceiling = read_watermark(ctx.processed, TRANSFORMED)
    through = contiguous_through(
        [b for b in transformed if ceiling is not None and b <= ceiling["batch_id"]], loaded
    )
    if record and through is not None and through != since:
        rows = sum(b <= through for b in loaded)
        write_watermark(ctx.processed, LOADED, through, ledger_rows=rows)
    return [b for b in transformed if b not in loaded]

"""Watermarks: where a bucket's listing may start, so that a run's requests do not grow with
the number of batches before it (a year at a 15-minute schedule is ~35,000 batches).

A watermark names a batch and promises something of every committed batch up to it: the newest
batch extracted, every batch transformed through it, every batch loaded through it. It is
written after the commits it describes, so it can only lag behind them: a lagging watermark
costs a longer listing, never a batch. One whose promise no longer holds (its batch gone, the
warehouse replaced) or that is missing is ignored, and the listing starts at the beginning:
once, logged, and the watermark is written again at the end of the run. The manifests stay the
source of truth; a watermark is only where to start looking for them.
"""

from __future__ import annotations

import json
from typing import Any

from ainsdale_etl.core.batches import committed_batches
from ainsdale_etl.core.events import Reporter
from ainsdale_etl.core.storage import ObjectNotFoundError, Storage

PREFIX = "state/watermarks/"
NEWEST = "newest"  # in the ingest bucket: the newest batch extracted


def read_watermark(storage: Storage, name: str) -> dict[str, Any] | None:
    """The watermark ``name`` (``{"batch_id": …, …}``), or None if there is none or it cannot
    be read (it is only a hint: a full listing replaces it)."""
    try:
        mark = json.loads(storage.get_bytes(f"{PREFIX}{name}.json"))
    except (ObjectNotFoundError, ValueError):
        return None
    return mark if isinstance(mark, dict) and isinstance(mark.get("batch_id"), str) else None


def write_watermark(storage: Storage, name: str, batch_id: str, **facts: Any) -> None:
    storage.put_bytes(f"{PREFIX}{name}.json", json.dumps({"batch_id": batch_id, **facts}).encode())


def contiguous_through(ordered: list[str], done: set[str]) -> str | None:
    """The last batch of ``ordered`` up to which every batch is in ``done`` (pure): how far a
    "through" watermark may move."""
    through = None
    for batch_id in ordered:
        if batch_id not in done:
            break
        through = batch_id
    return through


def newest_batches(ingest: Storage, reporter: Reporter) -> list[str]:
    """The newest committed batch and any after it: what a new batch's windows follow, in one
    listing from the ``newest`` watermark."""
    mark = read_watermark(ingest, NEWEST)
    if mark is not None:
        committed = committed_batches(ingest, since=mark["batch_id"])
        if mark["batch_id"] in committed:
            return committed
    why = (
        "no watermark yet" if mark is None else f"batch {mark['batch_id']} of its watermark is gone"
    )
    return listed_whole(ingest, reporter, why)


def listed_whole(
    ingest: Storage, reporter: Reporter, why: str = "a window older than the newest batch"
) -> list[str]:
    """Every committed batch, in the one listing whose cost grows with history: said as a
    ``listed_whole`` event, so that a run doing it every time (a table extracted alone with
    ``--tables``, key checks every N batches) shows in the logs."""
    reporter.event("listed_whole", f"extract: {why}; listed every batch", step="extract")
    return committed_batches(ingest)

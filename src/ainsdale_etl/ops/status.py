"""Where each batch stands: extracted (ingest manifest), transformed (processed manifest),
loaded (warehouse ledger)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.batches import committed_batches, read_manifest

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context


@dataclass(frozen=True)
class BatchStatus:
    batch_id: str
    status: str  # extracted | transformed | loaded | quarantined
    rows: int  # source rows extracted
    tables: dict[str, int]
    deleted: dict[str, int]  # rows found deleted at the source, per table
    inferred: dict[str, int]  # placeholders it added that still wait for their rows, per dim
    superseded: dict[str, list[int]]  # bad versions left out, fixed in a later batch
    snapshot: str | None  # the source snapshot read (pg_current_snapshot)
    upper: str | None  # when it was taken, UTC
    loaded_at: str | None
    problem: str | None = None  # why a quarantined batch was stopped

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def batch_statuses(ctx: Context) -> list[BatchStatus]:
    from ainsdale_etl.load.ledger import inferred_waiting, loaded_batches
    from ainsdale_etl.runtime.quarantine import quarantined

    marks = quarantined(ctx.processed)
    transformed = set(committed_batches(ctx.processed))
    loaded = loaded_batches(ctx.warehouse)
    waiting = inferred_waiting(ctx.warehouse)
    result = []
    for batch_id in committed_batches(ctx.ingest):
        manifest = read_manifest(ctx.ingest, batch_id)
        windows = [t for t in manifest.tables.values() if t.upper]
        mark = marks.get(batch_id)
        status = (
            "quarantined"
            if mark
            else "loaded"
            if batch_id in loaded
            else "transformed"
            if batch_id in transformed
            else "extracted"
        )
        result.append(
            BatchStatus(
                batch_id=batch_id,
                status=status,
                rows=manifest.total_rows,
                tables={n: t.rows for n, t in manifest.tables.items() if t.rows},
                deleted={n: len(t.deleted) for n, t in manifest.tables.items() if t.deleted},
                inferred=waiting.get(batch_id, {}),
                superseded=(
                    read_manifest(ctx.processed, batch_id).superseded
                    if batch_id in transformed
                    else {}
                ),
                snapshot=next((t.snapshot for t in windows if t.snapshot), None),
                upper=max((t.upper for t in windows if t.upper), default=None),
                loaded_at=str(loaded[batch_id]["loaded_at"]) if batch_id in loaded else None,
                problem=f"{mark.step}: {mark.error}" if mark else None,
            )
        )
    return result

"""run-all: extract, then transform and load every due batch, then the lake; or redo chosen
batches. The steps run one after another: overlapping them on threads was measured slower
on this project's machines (see docs/performance.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.pipeline.steps import extract_batch, load_pending, transform_pending

if TYPE_CHECKING:
    from ainsdale_etl.extract.extract import ExtractResult
    from ainsdale_etl.runtime.context import Context


@dataclass
class RunSummary:
    """What one run-all did: the extract (None for a backfill) and the rows each batch merged."""

    extracted: ExtractResult | None = None
    transformed: list[str] = field(default_factory=list)
    loaded: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def loaded_rows(self) -> dict[str, int]:
        """Rows merged per star table, over every batch loaded."""
        totals: dict[str, int] = {}
        for tables in self.loaded.values():
            for name, rows in tables.items():
                totals[name] = totals.get(name, 0) + rows
        return totals


def run_all(
    ctx: Context,
    *,
    tables: list[str] | None = None,
    full: bool = False,
    batch_ids: list[str] | None = None,
) -> RunSummary:
    """Extract, then transform and load every due batch; with ``batch_ids``, redo those
    batches instead (backfill / repair) and extract nothing."""
    summary = RunSummary()
    if batch_ids is not None:
        summary.transformed = transform_pending(ctx, batch_ids)
        summary.loaded = load_pending(ctx, batch_ids)
        return summary
    summary.extracted = extract_batch(ctx, tables=tables, full=full)
    try:
        summary.transformed = transform_pending(ctx)
    except BadInputError:
        # The batches before the one that stopped the transform are ready: load them (only
        # later batches wait behind a quarantined one), then report the stop.
        summary.loaded = load_pending(ctx)
        raise
    summary.loaded = load_pending(ctx)
    return summary

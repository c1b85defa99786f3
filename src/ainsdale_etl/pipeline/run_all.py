"""run-all: extract, then transform and load every pending batch, or redo chosen ones."""

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
    force: bool = False,
) -> RunSummary:
    """Extract, then transform and load every pending batch; with ``batch_ids``, redo those
    batches instead (backfill / repair) and extract nothing."""
    summary = RunSummary()
    if batch_ids is None:
        summary.extracted = extract_batch(ctx, tables=tables, full=full)
    # A new batch is loaded while it is transformed; a backfill goes step by step.
    loads: dict[str, dict[str, int]] | None = {} if batch_ids is None else None
    try:
        summary.transformed = transform_pending(ctx, batch_ids, loads=loads, force=force)
    except BadInputError:
        if batch_ids is None:
            # The batches before the one that stopped the transform are ready: load them
            # (only later batches wait behind a quarantined one), then report the stop.
            summary.loaded = load_pending(ctx, None, force=force)
        raise
    summary.loaded = (loads or {}) | load_pending(ctx, batch_ids, force=force)
    return summary

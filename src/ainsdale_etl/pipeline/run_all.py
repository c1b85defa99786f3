"""run-all: extract, then transform and load every pending batch, or redo chosen ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.pipeline.early import TransformAlongside
from ainsdale_etl.pipeline.steps import (
    extract_batch,
    load_pending,
    nothing_waiting,
    transform_pending,
)

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
    if batch_ids is not None:  # a backfill goes step by step
        summary.transformed = transform_pending(ctx, batch_ids, force=force)
        summary.loaded = load_pending(ctx, batch_ids, force=force)
        return summary
    if ctx.settings.overlaps_steps and nothing_waiting(ctx):
        return _new_batch_alongside(ctx, summary, tables=tables, full=full, force=force)
    summary.extracted = extract_batch(ctx, tables=tables, full=full)
    # A new batch is loaded while it is transformed, once the batches before it are.
    loads: dict[str, dict[str, int]] = {}
    try:
        summary.transformed = transform_pending(ctx, None, loads=loads, force=force)
    except BadInputError:
        # The batches before the one that stopped the transform are ready: load them (only
        # later batches wait behind a quarantined one), then report the stop.
        summary.loaded = load_pending(ctx, None, force=force)
        raise
    summary.loaded = loads | load_pending(ctx, None, force=force)
    return summary


def _new_batch_alongside(
    ctx: Context, summary: RunSummary, *, tables: list[str] | None, full: bool, force: bool
) -> RunSummary:
    """The common run: nothing waits, so the new batch is transformed and loaded while it is
    extracted (:mod:`.early`); whatever that did not finish, the ordinary steps do after."""
    alongside = TransformAlongside(ctx, force=force)
    try:
        summary.extracted = extract_batch(
            ctx, tables=tables, full=full, on_table=alongside.table_extracted
        )
    except BaseException:
        alongside.abandon()
        raise
    batch_id = summary.extracted.batch_id
    transformed, merged = alongside.finish(summary.extracted)
    new = [batch_id] if batch_id else []
    loads = {batch_id: merged} if batch_id and merged is not None else {}
    if not transformed:  # under the quarantine rules, as any scheduled transform
        transform_pending(ctx, new, loads=loads, force=force, explicit=False)
    summary.transformed = new
    summary.loaded = loads | load_pending(
        ctx, [b for b in new if b not in loads], force=force, explicit=False
    )
    return summary

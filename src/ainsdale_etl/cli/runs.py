"""run-all's work and what it prints, shared by ``run-all`` and ``demo``; dry runs' answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.cli.options import chosen_batches
from ainsdale_etl.cli.results import print_counts, say
from ainsdale_etl.core.events import counted

if TYPE_CHECKING:
    from ainsdale_etl.core.events import Reporter
    from ainsdale_etl.core.storage import Storage
    from ainsdale_etl.pipeline.run_all import RunSummary
    from ainsdale_etl.runtime.context import Context


def run_everything(
    ctx: Context, *, tables: list[str] | None, full: bool, batch_id: str | None
) -> RunSummary:
    """run-all under the caller's lock: a new batch, or ``batch_id`` again."""
    from ainsdale_etl.pipeline.run_all import run_all as run_pipeline

    chosen = None
    if batch_id is not None:
        chosen = chosen_batches(ctx.ingest, batch_id, None, None)
    return run_pipeline(ctx, tables=tables, full=full, batch_ids=chosen)


def report_connect_time(reporter: Reporter) -> None:
    """How long the run waited for database connections (a line of its time breakdown)."""
    from ainsdale_etl.adapters.postgres import CONNECT_TIME

    reporter.event(
        "connect_time",
        step="run-all",
        sessions=CONNECT_TIME.count,
        seconds=round(CONNECT_TIME.seconds, 3),
    )


def print_run(summary: RunSummary) -> None:
    if summary.extracted is not None:
        print_counts("extracted", {t: e.rows for t, e in summary.extracted.tables.items()})
    if summary.loaded:
        print_counts(f"loaded ({counted(len(summary.loaded), 'batch')})", summary.loaded_rows)
    else:
        say("loaded nothing: no batch was waiting")


def print_batch_rows(doing: str, bucket: Storage, batch_ids: list[str]) -> None:
    """A dry run's answer: each batch's rows per table, as its manifest in ``bucket`` says."""
    from ainsdale_etl.core.batches import read_manifest

    for b in batch_ids:
        print_counts(
            f"{doing} {b}", {t: e.rows for t, e in read_manifest(bucket, b).tables.items()}
        )
    say(f"{doing} {counted(len(batch_ids), 'batch')}")


def story_of(summary: RunSummary) -> list[str]:
    """What a run did, in a few sentences a newcomer can follow (demo's answer)."""
    lines = []
    extracted = summary.extracted
    if extracted is not None and extracted.batch_id:
        changed = {t: e.rows for t, e in extracted.tables.items() if e.rows}
        lines.append(
            f"extracted batch {extracted.batch_id}: {counted(sum(changed.values()))} changed "
            f"in {counted(len(changed), 'table')} of totesys"
        )
    elif extracted is not None:
        lines.append("extracted nothing: no row of totesys changed since the last batch")
    merged = summary.loaded_rows
    if summary.loaded:
        lines.append(
            f"transformed and loaded {counted(len(summary.loaded), 'batch')}: "
            f"{counted(sum(merged.values()))} merged into {counted(len(merged), 'star table')}"
        )
    return lines


def print_holdings(held: dict[str, int], merged: dict[str, int]) -> None:
    """One table: what each star table holds now, and what this run merged into it."""
    from rich.console import Console
    from rich.table import Table

    from ainsdale_etl.cli.results import json_logs, reporter

    if json_logs():
        reporter().event("summary", title="warehouse", tables=held, merged=merged)
        return
    table = Table("star table", "rows", "merged by this run", title="the warehouse now holds")
    for name, count in held.items():
        table.add_row(name, f"{count:,}", f"{merged.get(name, 0):,}")
    Console().print(table)

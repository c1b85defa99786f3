"""A command's results: plain lines and tables on a terminal, summary events in JSON logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ainsdale_etl.cli.session import json_logs, reporter, state
from ainsdale_etl.core.events import plural

if TYPE_CHECKING:
    from ainsdale_etl.ops.status import BatchStatus
    from ainsdale_etl.ops.verify import Verification


def say(message: str, **fields: Any) -> None:
    """A result line: plain on a terminal, a JSON log event in a container."""
    if state.quiet:
        return
    if json_logs():
        reporter().event("result", message, **fields)
    else:
        typer.echo(message)


def print_counts(title: str, counts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    if state.quiet:
        return
    if json_logs():
        reporter().event("summary", title=title, rows=sum(counts.values()), tables=counts)
        return
    table = Table("table", "rows", title=title)
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    Console().print(table)


def print_batches(rows: list[BatchStatus], where: str) -> None:
    """The ``batches`` table, then how to repair each quarantined batch."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "batch id", "status", "rows", "deleted", "read at (UTC)", title=f"batches in {where}"
    )
    for r in rows:
        status = f"[red]{r.status}[/red]" if r.problem or r.missing else r.status
        deleted = ", ".join(f"{n} {c:,}" for n, c in r.deleted.items())
        table.add_row(r.batch_id, status, f"{r.rows:,}", deleted, r.upper or "")
    Console().print(table)
    for r in rows:
        for source, ids in r.superseded.items():
            typer.echo(
                f"batch {r.batch_id}: left out {source} {plural('id', len(ids))} "
                f"{', '.join(map(str, ids))}, "
                "bad there and fixed in a later batch"
            )
        if r.problem:
            typer.echo(
                f"batch {r.batch_id} is quarantined ({r.problem}); every run tries it again: "
                "fix the row in totesys or restore its objects"
            )
        for problem in r.missing:
            typer.echo(f"batch {r.batch_id}: {problem}")


def print_verification(result: Verification) -> None:
    """``verify``'s table of checks, then its notes."""
    from rich.console import Console
    from rich.table import Table

    from ainsdale_etl.ops.verify import shown

    table = Table("table", "check", "source", "warehouse", "", title="verify")
    for c in result.checks:
        mark = "[green]ok[/green]" if c.ok else f"[red]DIFFERS[/red] {c.detail}".rstrip()
        table.add_row(c.mart, c.name, shown(c.source), shown(c.warehouse), mark)
    Console(width=160).print(table)
    for note in result.notes:
        typer.echo(f"note: {note}")

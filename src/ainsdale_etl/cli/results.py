"""A command's results: plain lines and tables on a terminal, summary events in JSON logs."""

from __future__ import annotations

from typing import Any

import typer

from ainsdale_etl.cli.session import json_logs, reporter


def say(message: str, **fields: Any) -> None:
    """A result line: plain on a terminal, a JSON log event in a container."""
    if json_logs():
        reporter().event("result", message, **fields)
    else:
        typer.echo(message)


def print_counts(title: str, counts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    if json_logs():
        reporter().event("summary", title=title, rows=sum(counts.values()), tables=counts)
        return
    table = Table("table", "rows", title=title)
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    Console().print(table)

"""``ainsdale-etl dbt-sources``: the star as a dbt ``sources.yml`` (see docs/analysts.md: dbt)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ainsdale_etl.cli.exits import handle_errors
from ainsdale_etl.cli.results import say


@handle_errors
def dbt_sources(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write sources.yml here (e.g. models/ainsdale_sources.yml) instead of stdout; "
            "a file this command did not write is refused unless --force.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace --output even if this command did not write it."),
    ] = False,
    schema: Annotated[str, typer.Option(help="The warehouse schema the star is in.")] = "public",
    warn_after: Annotated[
        int,
        typer.Option(
            min=1,
            help="Minutes since the newest loaded batch before `dbt source freshness` warns "
            "(the default is the freshness alarm's, terraform's freshness_threshold_minutes).",
        ),
    ] = 120,
    error_after: Annotated[
        int,
        typer.Option(min=1, help="Minutes since the newest loaded batch before it errors."),
    ] = 240,
) -> None:
    """Write a dbt sources.yml of the star: every table and view with its columns, what they
    mean, its keys as dbt tests, and freshness on the batch ledger's load time."""
    from ainsdale_etl.ops.dbt_sources import sources_yaml, write_sources

    text = sources_yaml(
        schema=schema, warn_after_minutes=warn_after, error_after_minutes=error_after
    )
    if output is None:
        typer.echo(text, nl=False)
        return
    write_sources(output, text, force=force)
    say(f"wrote {output}: put it under a dbt project's models/ and run `dbt source freshness`")

"""``ainsdale-etl lake sync|maintain``: the lake's own commands (load and run-all sync it too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ainsdale_etl.cli.exits import handle_errors
from ainsdale_etl.cli.options import AsJson, Rebind, Wait
from ainsdale_etl.cli.results import print_counts, say
from ainsdale_etl.cli.session import exclusive, json_document, make_context
from ainsdale_etl.core.events import counted

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context

lake = typer.Typer(
    help="The lake: the star as Iceberg tables in the processed bucket, for Athena, DuckDB, "
    "Spark (see docs/warehouse.md: The lake).",
    no_args_is_help=True,
)


# How far back time travel reaches unless `lake maintain --retention-days` says otherwise.
RETENTION_DAYS = 30.0


def _require_lake(ctx: Context) -> None:
    from ainsdale_etl.core.errors import ConfigError

    if not ctx.settings.lake_enabled:
        raise ConfigError("the lake is off: set AINSDALE_LAKE_CATALOG (sql, glue or a URI)")


@lake.command()
@handle_errors
def sync(wait: Wait = None, rebind: Rebind = False) -> None:
    """Bring every lake table to what the warehouse holds, rebuilding any whose files are gone
    (load and run-all do this when the ledger shows a batch the lake has not taken; this
    compares every table whatever the ledger says)."""
    from ainsdale_etl.lake.catalog import lake_location
    from ainsdale_etl.pipeline.steps import lake_step

    ctx = make_context()
    _require_lake(ctx)
    with exclusive(ctx, wait, rebind=rebind):
        written = lake_step(ctx, everything=True)
    changed = {name: n for name, n in written.items() if n}
    if changed:
        print_counts("lake: rows written", changed)
    say(f"the lake is up to date with the warehouse at {lake_location(ctx.settings)}")


@lake.command()
@handle_errors
def maintain(
    retention_days: Annotated[
        float,
        typer.Option(
            min=0,
            help="Expire snapshots older than this many days (the latest always stays): how "
            "far back time travel reaches.",
        ),
    ] = RETENTION_DAYS,
    wait: Wait = None,
    rebind: Rebind = False,
) -> None:
    """Compact small files, expire old snapshots and delete the data files no snapshot reads."""
    from ainsdale_etl.lake.maintain import maintain_lake

    ctx = make_context()
    _require_lake(ctx)
    with exclusive(ctx, wait, rebind=rebind):
        done = maintain_lake(ctx, retention_days=retention_days)
    print_counts(
        "lake: data files per table after maintenance",
        {name: m.files_after for name, m in done.items()},
    )
    expired = sum(m.snapshots_expired for m in done.values())
    deleted = sum(m.files_deleted for m in done.values())
    say(
        f"lake maintained: {counted(expired, 'snapshot')} expired, "
        f"{counted(deleted, 'unreferenced file')} deleted"
    )


@lake.command()
@handle_errors
def tables(as_json: AsJson = False) -> None:
    """List the lake's tables: rows, snapshots, latest batch and current metadata file."""
    import json

    from ainsdale_etl.lake.describe import describe_lake

    json_document(as_json)
    ctx = make_context(reads_only=True)
    _require_lake(ctx)
    # Only the sql catalog lives in the warehouse: a Glue or URI catalog is read without one
    # (an analyst's machine may have no warehouse configured, and none embedded).
    warehouse = ctx.warehouse if ctx.settings.lake_catalog == "sql" else None
    found = describe_lake(ctx.settings, warehouse)
    if as_json:
        typer.echo(json.dumps([t.as_dict() for t in found], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    # The metadata files go below the table, one a line and never cut or folded: each is what
    # a reader pastes into DuckDB's iceberg_scan, and a terminal's width must not break it.
    table = Table("table", "rows", "snapshots", "latest batch", title="lake")
    for t in found:
        table.add_row(t.name, f"{t.rows:,}", str(t.snapshots), t.latest_batch or "")
    Console().print(table)
    typer.echo("current metadata files (for DuckDB's iceberg_scan):")
    for t in found:
        typer.echo(f"{t.name} {t.metadata_location}")

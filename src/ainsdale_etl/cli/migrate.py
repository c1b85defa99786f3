"""``ainsdale-etl migrate``: the warehouse's schema brought to this release's version."""

from __future__ import annotations

from typing import Annotated

import typer

from ainsdale_etl.cli.exits import handle_errors
from ainsdale_etl.cli.options import Force, Wait
from ainsdale_etl.cli.results import say
from ainsdale_etl.cli.session import exclusive, make_context


@handle_errors
def migrate(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the SQL the migration would run; write nothing."),
    ] = False,
    force: Force = False,
    wait: Wait = None,
) -> None:
    """Bring the warehouse's schema to this release's version (as every load does first)."""
    from contextlib import nullcontext

    from ainsdale_etl.load.migrate import migrate_warehouse

    ctx = make_context(reads_only=dry_run)
    with nullcontext() if dry_run else exclusive(ctx, wait, prepare=False):
        plan = migrate_warehouse(ctx.warehouse, force=force, dry_run=dry_run)
    if plan.up_to_date:
        say(f"the warehouse's schema is at version {plan.version}, this release's: nothing to do")
        return
    typer.echo(plan.sql())
    done = "would migrate" if dry_run else "migrated"
    say(
        f"{done} the warehouse's schema from version {plan.version} to {plan.target}",
        version=plan.version,
        target=plan.target,
    )

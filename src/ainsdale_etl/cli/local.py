"""The embedded default's commands: ``seed``, ``demo`` and ``embedded url|psql|stop``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ainsdale_etl.cli.exits import handle_errors
from ainsdale_etl.cli.options import Force, Wait
from ainsdale_etl.cli.results import print_counts, say
from ainsdale_etl.cli.session import exclusive, make_context
from ainsdale_etl.core.errors import ConfigError

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context


@handle_errors
def seed(
    context: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL URI to seed (default: AINSDALE_SOURCE_URL, the source of the "
            "settings). Keep its password out of the command line, where every user of the "
            "machine can read it (ps): set the URI in AINSDALE_SEED_URL instead, or leave "
            "the password out and set PGPASSWORD.",
            envvar="AINSDALE_SEED_URL",
            show_envvar=False,
        ),
    ] = None,
    scale: Annotated[
        float, typer.Option(min=0.0001, help="1 ≈ the production database (~11k sales orders).")
    ] = 1.0,
    random_seed: Annotated[
        int, typer.Option(min=0, help="Seed of the generator: same seed, same data.")
    ] = 42,
    force: Force = False,
) -> None:
    """Create the totesys schema and fill it with realistic synthetic data."""
    from pydantic import SecretStr

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.core.settings import postgres_uri_problem
    from ainsdale_etl.ops.seed import seed as run_seed

    if url and (problem := postgres_uri_problem(url)):
        raise ConfigError(f"--url {problem}")
    ctx = make_context()
    if url and _password_in_argv(context, url):
        ctx.reporter.warning(
            "--url holds a password, which every user of this machine can read in the "
            "process list; set AINSDALE_SEED_URL (or AINSDALE_SOURCE_URL) instead, or leave "
            "the password out and set PGPASSWORD"
        )
    db = Database("source", SecretStr(url)) if url else ctx.source
    counts = run_seed(db, scale=scale, random_seed=random_seed, force=force)
    print_counts("seeded", counts)


def _password_in_argv(context: typer.Context, url: str) -> bool:
    """Whether ``url`` came from the command line (not AINSDALE_SEED_URL) with a password."""
    from urllib.parse import urlsplit

    # By name: Typer's Context may come from its own copy of Click, with its own enum.
    source = context.get_parameter_source("url")
    if source is None or source.name != "COMMANDLINE":
        return False
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


@handle_errors
def demo(
    scale: Annotated[
        float, typer.Option(min=0.0001, help="Size of the demo source if it must be seeded.")
    ] = 1.0,
    wait: Wait = None,
) -> None:
    """Seed the embedded source if it is empty, run the whole pipeline, and say where things are."""
    from ainsdale_etl.cli.report import dashboard_folder
    from ainsdale_etl.cli.runs import print_holdings, run_everything, story_of
    from ainsdale_etl.core.events import counted
    from ainsdale_etl.load.ledger import table_counts
    from ainsdale_etl.ops.report.write import write_report
    from ainsdale_etl.ops.seed import seed as run_seed
    from ainsdale_etl.ops.seed import source_is_empty

    ctx = make_context()
    if source_is_empty(ctx.source):
        say(f"seeding totesys with synthetic data (scale {scale:g}) ...")
        seeded = run_seed(ctx.source, scale=scale)
        say(f"seeded totesys: {counted(sum(seeded.values()))} in {counted(len(seeded), 'table')}")
    say("running extract → transform → load ...")
    quiet, ctx.reporter.quiet = getattr(ctx.reporter, "quiet", False), True  # the story, not steps
    try:
        with exclusive(ctx, wait):
            summary = run_everything(ctx, tables=None, full=False, batch_id=None)
    finally:
        ctx.reporter.quiet = quiet
    for line in story_of(summary):
        say(line)
    print_holdings(table_counts(ctx.warehouse), summary.loaded_rows)
    report = write_report(ctx.warehouse, dashboard_folder(ctx))
    say(f"ingest bucket     {ctx.ingest.uri}")
    say(f"processed bucket  {ctx.processed.uri}")
    if ctx.settings.warehouse_is_embedded:
        say(f"warehouse         embedded PostgreSQL under {Path(ctx.settings.home).resolve()}")
        say("                  `ainsdale-etl embedded url warehouse` prints a URI for psql or BI")
    say(f"dashboard         {report.index.resolve()} (works offline)")
    _say_lake(ctx)
    say("next: `ainsdale-etl verify` reconciles the warehouse with totesys, table by table")


def _say_lake(ctx: Context) -> None:
    """Where the lake is, and one query to try on it."""
    if not ctx.settings.lake_enabled:
        return
    from ainsdale_etl.lake.catalog import lake_location
    from ainsdale_etl.lake.describe import describe_lake, duckdb_extensions, query_to_try

    tables = describe_lake(ctx.settings, ctx.warehouse)
    say(f"lake              {len(tables)} Iceberg tables under {lake_location(ctx.settings)}")
    say("                  `ainsdale-etl lake tables` lists them (docs/warehouse.md: The lake)")
    if query := query_to_try(tables):
        extensions = duckdb_extensions()
        setup = f"SET extension_directory = '{extensions}'; " if extensions else "INSTALL iceberg; "
        say("try, in DuckDB (the current version of each order; docs/analysts.md for more):")
        say(f"  {setup}LOAD iceberg;")
        say(f"  {query};")


class EmbeddedDatabase(StrEnum):
    totesys = "totesys"
    warehouse = "warehouse"


embedded = typer.Typer(
    help="The embedded PostgreSQL of the default setup: reach it from psql, DuckDB or a BI tool.",
    no_args_is_help=True,
)

Which = Annotated[EmbeddedDatabase, typer.Argument(help="The database.")]


def _home() -> Path:
    ctx = make_context()
    s = ctx.settings
    if not (s.source_is_embedded or s.warehouse_is_embedded):
        raise ConfigError(
            "both databases are configured (AINSDALE_SOURCE_* and AINSDALE_WAREHOUSE_*): "
            "there is no embedded server to reach"
        )
    return Path(s.home)


@embedded.command()
@handle_errors
def url(database: Which = EmbeddedDatabase.warehouse) -> None:
    """Start the embedded server, keep it running, and print a URI to paste into psql."""
    from ainsdale_etl.adapters.embedded import embedded_url, keep_running

    home = _home()
    keep_running(home)
    typer.echo(embedded_url(home, database.value))


# Every argument after the database is psql's own, -h and -q included (only --help is ours).
_PASSED_TO_PSQL = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": ["--help"],
}


@embedded.command(context_settings=_PASSED_TO_PSQL)
@handle_errors
def psql(
    context: typer.Context,
    database: Annotated[
        str, typer.Argument(help="The database: totesys or warehouse.", show_default=True)
    ] = EmbeddedDatabase.warehouse.value,
) -> None:
    """Open psql (shipped with the embedded server) on one of its databases; what follows the
    database goes to psql: `embedded psql totesys -c "select 1"` (`embedded psql -c ...` on
    the warehouse)."""
    from ainsdale_etl.adapters.embedded import embedded_url, keep_running, psql_path
    from ainsdale_etl.runtime.shutdown import run_child

    args = list(context.args)
    if database.startswith("-"):  # no database named: the first word is psql's
        database, args = EmbeddedDatabase.warehouse.value, [database, *args]
    choices = [d.value for d in EmbeddedDatabase]
    if database not in choices:
        raise ConfigError(f"embedded psql: {database!r} is not one of {', '.join(choices)}")
    home = _home()
    keep_running(home)
    uri = embedded_url(home, database)
    # A child, not exec: this process still leaves the server's handle list tidy at exit.
    raise typer.Exit(run_child([psql_path(), uri, *args], "psql"))


@embedded.command()
@handle_errors
def stop() -> None:
    """Stop the embedded server that `embedded url` left running."""
    from ainsdale_etl.adapters.embedded import stop_server

    say("embedded server stopped" if stop_server(_home()) else "embedded server was not running")

"""The ``ainsdale-etl`` command line: a thin layer over the core, one function per command."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Annotated

import typer

from ainsdale_etl.cli.dbt import dbt_sources
from ainsdale_etl.cli.exits import fail, handle_errors
from ainsdale_etl.cli.group import GlobalOptionsGroup
from ainsdale_etl.cli.lake import lake
from ainsdale_etl.cli.local import demo, embedded, seed
from ainsdale_etl.cli.migrate import migrate
from ainsdale_etl.cli.options import (
    AsJson,
    BatchId,
    DryRun,
    Force,
    Full,
    Rebind,
    ReExtract,
    Since,
    Tables,
    Until,
    Wait,
    chosen_batches,
    parse_tables,
)
from ainsdale_etl.cli.report import PublishReport, publish_after_load, refresh_dashboard, report
from ainsdale_etl.cli.results import print_batches, print_counts, print_verification, say
from ainsdale_etl.cli.runs import (
    print_batch_rows,
    print_run,
    report_connect_time,
    run_everything,
)
from ainsdale_etl.cli.session import (
    LogFormat,
    exclusive,
    json_document,
    json_logs,
    make_context,
    state,
)
from ainsdale_etl.core.errors import BadInputError, ConfigError, ExitCode
from ainsdale_etl.core.events import counted
from ainsdale_etl.ops.freshness import report_freshness

app = typer.Typer(
    name="ainsdale-etl",
    cls=GlobalOptionsGroup,
    help="Move totesys into a star-schema warehouse: extract, transform, load.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"ainsdale-etl {version('ainsdale-etl')}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for failures.", envvar="AINSDALE_DEBUG")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Only warnings, errors and the command's own answer (tables, --json).",
            envvar="AINSDALE_QUIET",
        ),
    ] = False,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            help="Log lines as json (default off a terminal) or console.",
            envvar="AINSDALE_LOG_FORMAT",
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """ainsdale-etl: incremental, versioned ETL from totesys into a PostgreSQL star schema.

    Global options may follow the command too: `ainsdale-etl verify --debug`.
    """
    state.debug = debug
    state.quiet = quiet
    state.log_format = log_format
    state.reporter = None
    state.json_document = False  # each invocation decides (in-process runs share this state)


@app.command()
@handle_errors
def extract(
    tables: Tables = None,
    full: Full = False,
    dry_run: DryRun = False,
    wait: Wait = None,
    batch_id: ReExtract = None,
    rebind: Rebind = False,
) -> None:
    """Extract rows changed since the last batch into a new CSV batch in the ingest bucket."""
    from ainsdale_etl.pipeline.steps import extract_batch, reextract_batch

    if batch_id is not None and (tables or full or dry_run):
        raise ConfigError(
            "--batch-id reads that batch's own windows: drop --tables/--full/--dry-run"
        )
    ctx = make_context(reads_only=dry_run)
    started = datetime.now(UTC)
    with nullcontext() if dry_run else exclusive(ctx, wait, rebind=rebind):
        result = (
            reextract_batch(ctx, batch_id)
            if batch_id is not None
            else extract_batch(ctx, tables=parse_tables(tables), full=full, dry_run=dry_run)
        )
    if not dry_run and batch_id is None:
        report_freshness(ctx, checked_at=started)
    print_counts(
        "would extract" if dry_run else "extracted", {t: e.rows for t, e in result.tables.items()}
    )
    if result.batch_id and not dry_run:
        say(f"batch {result.batch_id} committed to {ctx.ingest.uri}", batch_id=result.batch_id)


@app.command()
@handle_errors
def transform(
    batch_id: BatchId = None,
    since: Since = None,
    until: Until = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show which batches would be transformed.")
    ] = False,
    wait: Wait = None,
    rebind: Rebind = False,
) -> None:
    """Turn pending (or the chosen) CSV batches into Parquet star tables in the processed bucket."""
    from ainsdale_etl.pipeline.pending import due
    from ainsdale_etl.pipeline.steps import transform_pending

    ctx = make_context(reads_only=dry_run)
    chosen = chosen_batches(ctx.ingest, batch_id, since, until)
    if dry_run:
        ids = chosen if chosen is not None else due(ctx).transform
        print_batch_rows("would transform", ctx.ingest, ids)
        return
    with exclusive(ctx, wait, rebind=rebind):
        done = transform_pending(ctx, chosen, explicit=batch_id is not None)
    say(f"transformed {counted(len(done), 'batch')} into {ctx.processed.uri}")


@app.command()
@handle_errors
def load(
    batch_id: BatchId = None,
    since: Since = None,
    until: Until = None,
    force: Force = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show which batches would be loaded; write nothing.")
    ] = False,
    wait: Wait = None,
    rebind: Rebind = False,
    publish_report: PublishReport = False,
) -> None:
    """Load pending (or the chosen) Parquet batches into the warehouse."""
    from ainsdale_etl.pipeline.pending import due
    from ainsdale_etl.pipeline.steps import load_pending

    ctx = make_context(reads_only=dry_run)
    chosen = chosen_batches(ctx.processed, batch_id, since, until)
    if dry_run:
        ids = chosen if chosen is not None else due(ctx).load
        print_batch_rows("would load", ctx.processed, ids)
        return
    with exclusive(ctx, wait, force=force, rebind=rebind):
        results = load_pending(ctx, chosen, explicit=batch_id is not None)
    report_freshness(ctx)
    say(f"loaded {counted(len(results), 'batch')} into the warehouse")
    publish_after_load(ctx, len(results), publish_report)


@app.command("run-all")
@handle_errors
def run_all(
    tables: Tables = None,
    full: Full = False,
    batch_id: BatchId = None,
    force: Force = False,
    wait: Wait = None,
    rebind: Rebind = False,
    publish_report: PublishReport = False,
) -> None:
    """Extract, then transform and load every pending batch (with --batch-id: redo that batch);
    on the embedded default, then refresh the dashboard in AINSDALE_HOME/report."""
    ctx = make_context()
    started = datetime.now(UTC)
    try:
        with exclusive(ctx, wait, force=force, rebind=rebind):
            summary = run_everything(ctx, tables=parse_tables(tables), full=full, batch_id=batch_id)
    except BadInputError:
        # A batch quarantined after others loaded: the page shows what did load (it is redrawn
        # only if behind), not what the warehouse held before, for as long as the batch waits.
        refresh_dashboard(ctx, 0)
        raise
    report_connect_time(ctx.reporter)
    report_freshness(ctx, checked_at=started if batch_id is None else None)
    print_run(summary)
    publish_after_load(ctx, len(summary.loaded), publish_report)
    refresh_dashboard(ctx, len(summary.loaded))


@app.command()
@handle_errors
def batches(
    as_json: AsJson = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Also read every committed object back against its checksum; exit 1 naming "
            "each one that is gone or changed, with its repair.",
        ),
    ] = False,
) -> None:
    """List batches from the ledger, newest last, with their status (extracted / transformed /
    loaded / quarantined / lost) and any committed object that is gone."""
    from ainsdale_etl.ops.status import batch_statuses

    json_document(as_json)
    ctx = make_context(reads_only=True)
    statuses = batch_statuses(ctx, check=check)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in statuses], indent=2, default=str))
    else:
        print_batches(statuses, ctx.ingest.uri)
    problems = sum(len(r.missing) for r in statuses if r.status != "lost")
    if check and problems:
        fail(
            f"{counted(problems, 'committed object')} gone or changed; see the list above for the "
            "repair",
            int(ExitCode.FAILED),
            alert=False,
        )


@app.command()
@handle_errors
def verify(as_json: AsJson = False) -> None:
    """Reconcile the warehouse with the source, and the lake with the warehouse; exit 1 and
    show the differences if they differ."""
    from ainsdale_etl.ops.verify import verify as run_verify

    json_document(as_json)
    ctx = make_context(reads_only=True)
    if ctx.settings.lake_enabled:
        from concurrent.futures import ThreadPoolExecutor

        from ainsdale_etl.ops.verify_lake import verify_lake
        from ainsdale_etl.ops.verify_shared import SharedWarehouse, sourced_names

        # The lake's checks beside the source's (hashing by servers or polars: no GIL held),
        # in one warehouse snapshot, one scan of a table giving both their blocks; ``shared``
        # is left first, so a failed comparison with the source ends the lake's.
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-lake") as pool,
            SharedWarehouse(ctx.warehouse, sourced_names()) as shared,
        ):
            lake_checks = pool.submit(verify_lake, ctx.settings, ctx.warehouse, shared)
            result = run_verify(ctx.source, ctx.warehouse, shared)
            result.checks += lake_checks.result()
    else:
        result = run_verify(ctx.source, ctx.warehouse)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        print_verification(result)
    if not result.ok:
        failed = [f"{c.mart} {c.name}" for c in result.checks if not c.ok]
        message = f"warehouse differs from the source: {'; '.join(failed)}"
        fail(message, int(ExitCode.FAILED), error_class="VerifyFailed")


@app.command()
@handle_errors
def check(as_json: AsJson = False) -> None:
    """Check the configuration can run: source, warehouse, both buckets, alerts. Writes nothing."""
    from ainsdale_etl.ops.check import run_checks

    json_document(as_json)
    ctx = make_context(reads_only=True)
    checks = run_checks(ctx)
    failed = [c for c in checks if not c.ok]
    if as_json:
        typer.echo(json.dumps({"ok": not failed, "checks": [c.as_dict() for c in checks]}))
    elif json_logs():
        for c in checks:
            ctx.reporter.event("check", c.detail, name=c.name, ok=c.ok, warning=c.warning)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("check", "", "detail", title="check", show_lines=False)
        for c in checks:
            mark = (
                "[red]FAILED[/red]"
                if not c.ok
                else "[yellow]warning[/yellow]"
                if c.warning
                else "[green]ok[/green]"
            )
            table.add_row(c.name, mark, c.detail)
        Console(width=160).print(table)
    if failed:
        # A person reads the table; paging the team about a diagnostic would be noise.
        fail(
            f"{counted(len(failed), 'check')} failed: {', '.join(c.name for c in failed)}",
            int(ExitCode.FAILED),
            alert=False,
        )


app.command()(report)


app.command()(seed)
app.command()(demo)
app.command()(migrate)
app.command("dbt-sources")(dbt_sources)
app.add_typer(embedded, name="embedded")
app.add_typer(lake, name="lake")

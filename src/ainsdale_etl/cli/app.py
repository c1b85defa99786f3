"""The ``ainsdale-etl`` command line: a thin layer over the core, one function per command."""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import json
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ainsdale_etl.cli.options import (
    AsJson,
    BatchId,
    DryRun,
    Force,
    Full,
    Since,
    Tables,
    Until,
    Wait,
    chosen_batches,
    parse_tables,
)
from ainsdale_etl.core.errors import ExitCode, describe_failure
from ainsdale_etl.runtime.alerts import page

app = typer.Typer(
    name="ainsdale-etl",
    help="Move totesys into a star-schema warehouse: extract, transform, load.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class _State:
    debug = False
    log_format: LogFormat | None = None
    reporter: Any = None
    command: str | None = None  # the command running, for the failure alert


state = _State()


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for failures.", envvar="AINSDALE_DEBUG")
    ] = False,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            help="Log lines as json (default off a terminal) or console.",
            envvar="AINSDALE_LOG_FORMAT",
        ),
    ] = None,
) -> None:
    """ainsdale-etl: incremental, versioned ETL from totesys into a PostgreSQL star schema."""
    state.debug = debug
    state.log_format = log_format
    state.reporter = None
    # At exit, leave every object to the operating system instead of a last garbage
    # collection over pyarrow's, polars' and ADBC's: 0.1 s of each run, a tenth of an
    # incremental one. Everything that holds a resource (connections, files, temporary
    # folders) is closed by its context manager before that; atexit handlers still run.
    atexit.register(gc.freeze)


def _reporter() -> Any:
    if state.reporter is None:
        from ainsdale_etl.cli.output import make_reporter

        state.reporter = make_reporter(state.log_format.value if state.log_format else None)
    return state.reporter


def _json_logs() -> bool:
    return state.log_format == LogFormat.json or (
        state.log_format is None and not sys.stdout.isatty()
    )


def _say(message: str, **fields: Any) -> None:
    """A result line: plain on a terminal, a JSON log event in a container."""
    if _json_logs():
        _reporter().event("result", message, **fields)
    else:
        typer.echo(message)


# A command read by a person at a terminal: its failures are shown, not paged.
NEVER_PAGES = {"check"}


def _fail(message: str, code: int, *, alert: bool = True) -> None:
    """End the command with one line on stderr, the failure in the logs, and an alert."""
    from ainsdale_etl.adapters.postgres import scrub
    from ainsdale_etl.cli.output import JsonReporter

    message = scrub(message)  # last line of defence: no credential leaves the process
    reporter = _reporter()
    if isinstance(reporter, JsonReporter):
        reporter.error(message, exit_code=code)  # for CloudWatch queries
    typer.echo(f"error: {message}", err=True)
    if alert and state.command not in NEVER_PAGES:
        page(_reporter(), state.command or "ainsdale-etl", message, code)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Map every expected failure to one line and its exit code (tracebacks only with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ainsdale_etl.runtime.shutdown import stop_on_sigterm

        state.command = func.__name__.replace("_", "-")  # as Typer names the command
        try:
            with stop_on_sigterm():
                return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            _fail("interrupted", int(ExitCode.INTERRUPTED))
        except Exception as exc:
            message, code = describe_failure(exc)
            if state.debug:
                # The traceback, then the same line, exit code and page as without --debug:
                # debugging a scheduled task must not change what its scheduler sees.
                traceback.print_exc()
            _fail(message, code)
        return None

    return wrapper  # type: ignore[return-value]


def _context() -> Any:
    from ainsdale_etl.core.settings import load_settings
    from ainsdale_etl.runtime.context import Context

    return Context(load_settings(), _reporter())


@contextmanager
def _exclusive(ctx: Any, wait: float | None) -> Iterator[None]:
    """Hold the pipeline lock (see locking.py) for a command that writes."""
    from ainsdale_etl.runtime.lock import pipeline_lock

    seconds = ctx.settings.lock_wait_seconds if wait is None else wait
    ctx.reporter.event("step_started", step="lock")  # a failure here names the lock, not a step
    with (
        pipeline_lock(ctx.warehouse, wait_seconds=seconds) as lock,
        ctx.warehouse.reusing_connections(),
    ):
        ctx.lock_check = lock.verify
        yield


def _warm_up() -> None:
    """Import the columnar stack (polars, pyarrow, ADBC: about 0.4 s) on a background thread
    while run-all extracts, which needs only polars, and only at the end of a changed table.
    Only third-party packages that never import this one: no import lock can be taken in an
    order the main thread could take in reverse."""

    def load() -> None:
        for name in ("polars", "pyarrow.parquet", "adbc_driver_postgresql.dbapi"):
            with suppress(Exception):  # the main thread imports it again, and says why
                importlib.import_module(name)

    threading.Thread(target=load, name="warm-up imports", daemon=True).start()


@app.command()
@handle_errors
def extract(
    tables: Tables = None, full: Full = False, dry_run: DryRun = False, wait: Wait = None
) -> None:
    """Extract rows changed since the last batch into a new CSV batch in the ingest bucket."""
    from contextlib import nullcontext

    from ainsdale_etl.transform.transform import extract_batch

    ctx = _context()
    with nullcontext() if dry_run else _exclusive(ctx, wait):
        result = extract_batch(ctx, tables=parse_tables(tables), full=full, dry_run=dry_run)
    _print_counts(
        "would extract" if dry_run else "extracted", {t: e.rows for t, e in result.tables.items()}
    )
    if result.batch_id and not dry_run:
        _say(f"batch {result.batch_id} committed to {ctx.ingest.uri}", batch_id=result.batch_id)


@app.command()
@handle_errors
def transform(
    batch_id: BatchId = None, since: Since = None, until: Until = None, wait: Wait = None
) -> None:
    """Turn pending (or the chosen) CSV batches into Parquet star tables in the processed bucket."""
    from ainsdale_etl.core.batches import committed_batches
    from ainsdale_etl.transform.transform import transform_pending

    ctx = _context()
    chosen = chosen_batches(committed_batches(ctx.ingest), batch_id, since, until)
    with _exclusive(ctx, wait):
        done = transform_pending(ctx, chosen)
    _say(f"transformed {len(done)} batch(es) into {ctx.processed.uri}")


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
) -> None:
    """Load pending (or the chosen) Parquet batches into the warehouse."""
    from ainsdale_etl.core.batches import committed_batches, read_manifest
    from ainsdale_etl.load.ddl import loaded_batches
    from ainsdale_etl.transform.transform import load_pending, pending_loads

    ctx = _context()
    chosen = chosen_batches(committed_batches(ctx.processed), batch_id, since, until)
    if dry_run:
        ids = (
            chosen
            if chosen is not None
            else pending_loads(ctx.processed, set(loaded_batches(ctx.warehouse)))
        )
        for b in ids:
            _print_counts(
                f"would load {b}",
                {t: e.rows for t, e in read_manifest(ctx.processed, b).tables.items()},
            )
        _say(f"would load {len(ids)} batch(es)")
        return
    with _exclusive(ctx, wait):
        results = load_pending(ctx, chosen, force=force)
    _say(f"loaded {len(results)} batch(es) into the warehouse")


@app.command("run-all")
@handle_errors
def run_all(
    tables: Tables = None,
    full: Full = False,
    batch_id: BatchId = None,
    force: Force = False,
    wait: Wait = None,
) -> None:
    """Extract, then transform and load every pending batch (with --batch-id: redo that batch)."""
    ctx = _context()
    with _exclusive(ctx, wait):
        _warm_up()
        _run_all(ctx, tables=parse_tables(tables), full=full, batch_id=batch_id, force=force)


def _run_all(
    ctx: Any, *, tables: list[str] | None, full: bool, batch_id: str | None, force: bool
) -> None:
    from ainsdale_etl.core.batches import committed_batches
    from ainsdale_etl.transform.transform import run_all as run_pipeline

    chosen = None
    if batch_id is not None:
        chosen = chosen_batches(committed_batches(ctx.ingest), batch_id, None, None)
    summary = run_pipeline(ctx, tables=tables, full=full, batch_ids=chosen, force=force)
    if summary.extracted is not None:
        _print_counts("extracted", {t: e.rows for t, e in summary.extracted.tables.items()})
    _print_counts(f"loaded ({len(summary.loaded)} batch(es))", summary.loaded_rows)


@app.command()
@handle_errors
def batches(as_json: AsJson = False) -> None:
    """List batches, newest last, with their status (extracted / transformed / loaded)."""
    from ainsdale_etl.ops.status import batch_statuses

    ctx = _context()
    rows = batch_statuses(ctx)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "batch id", "status", "rows", "window upper", title=f"batches in {ctx.ingest.uri}"
    )
    for r in rows:
        status = f"[red]{r.status}[/red]" if r.problem else r.status
        table.add_row(r.batch_id, status, f"{r.rows:,}", r.upper or "")
    Console().print(table)
    for r in rows:
        if r.problem:
            typer.echo(
                f"batch {r.batch_id} is quarantined ({r.problem}); fix its input, then run "
                f"'ainsdale-etl run-all --batch-id {r.batch_id}'"
            )


@app.command()
@handle_errors
def verify(as_json: AsJson = False) -> None:
    """Reconcile the warehouse with the source; exit 1 and show the differences if they differ."""
    from ainsdale_etl.ops.verify import verify as run_verify

    ctx = _context()
    result = run_verify(ctx.source, ctx.warehouse)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("table", "check", "source", "warehouse", "", title="verify")
        for c in result.checks:
            mark = "[green]ok[/green]" if c.ok else "[red]DIFFERS[/red]"
            table.add_row(c.mart, c.name, c.source, c.warehouse, mark)
        Console(width=160).print(table)
    if not result.ok:
        failed = [f"{c.mart} {c.name}" for c in result.checks if not c.ok]
        _fail(f"warehouse differs from the source: {'; '.join(failed)}", int(ExitCode.FAILED))


@app.command()
@handle_errors
def check(as_json: AsJson = False) -> None:
    """Check the configuration can run: source, warehouse, both buckets, alerts. Writes nothing."""
    from ainsdale_etl.ops.check import run_checks

    ctx = _context()
    checks = run_checks(ctx)
    failed = [c for c in checks if not c.ok]
    if as_json:
        typer.echo(json.dumps({"ok": not failed, "checks": [c.as_dict() for c in checks]}))
    elif _json_logs():
        for c in checks:
            ctx.reporter.event("check", c.detail, name=c.name, ok=c.ok)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("check", "", "detail", title="check", show_lines=False)
        for c in checks:
            mark = "[green]ok[/green]" if c.ok else "[red]FAILED[/red]"
            table.add_row(c.name, mark, c.detail)
        Console(width=160).print(table)
    if failed:
        # A person reads the table; paging the team about a diagnostic would be noise.
        _fail(
            f"{len(failed)} check(s) failed: {', '.join(c.name for c in failed)}",
            int(ExitCode.FAILED),
            alert=False,
        )


@app.command()
@handle_errors
def report(
    out: Annotated[Path, typer.Option(help="Folder for index.html and the charts.")] = Path(
        "report"
    ),
    date_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First order date.")
    ] = None,
    date_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last order date.")
    ] = None,
) -> None:
    """Write the warehouse's story as charts and a static HTML page."""
    from ainsdale_etl.ops.report.page import write_report

    ctx = _context()
    result = write_report(
        ctx.warehouse,
        out,
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
    )
    _say(f"report written to {result.index.resolve()}")


@app.command()
@handle_errors
def seed(
    url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL URI to seed (default: the source of the settings).",
            envvar="AINSDALE_SEED_URL",
            show_envvar=False,
        ),
    ] = None,
    scale: Annotated[
        float, typer.Option(min=0.0001, help="1 ≈ the production database (~11k sales orders).")
    ] = 1.0,
    random_seed: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Seed of the generator, 0..1: same seed, same data."),
    ] = 0.42,
    force: Force = False,
) -> None:
    """Create the totesys schema and fill it with realistic synthetic data."""
    from pydantic import SecretStr

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.ops.seed import seed as run_seed

    ctx = _context()
    db = Database("source", SecretStr(url)) if url else ctx.source
    counts = run_seed(db, scale=scale, random_seed=random_seed, force=force)
    _print_counts("seeded", counts)


@app.command()
@handle_errors
def demo(
    scale: Annotated[
        float, typer.Option(min=0.0001, help="Size of the demo source if it must be seeded.")
    ] = 1.0,
    wait: Wait = None,
) -> None:
    """Seed the embedded source if it is empty, run the whole pipeline, and say where things are."""
    from ainsdale_etl.ops.seed import seed as run_seed
    from ainsdale_etl.ops.seed import source_is_empty

    ctx = _context()
    if source_is_empty(ctx.source):
        _print_counts("seeded", run_seed(ctx.source, scale=scale))
    with _exclusive(ctx, wait):
        _run_all(ctx, tables=None, full=False, batch_id=None, force=False)
    from ainsdale_etl.load.ddl import table_counts

    _print_counts("warehouse now holds", table_counts(ctx.warehouse))
    _say(f"ingest bucket:    {ctx.ingest.uri}")
    _say(f"processed bucket: {ctx.processed.uri}")
    if ctx.settings.warehouse_is_embedded:
        _say(f"warehouse:        embedded PostgreSQL under {Path(ctx.settings.home).resolve()}")
    from ainsdale_etl.ops.report.page import write_report

    result = write_report(ctx.warehouse, Path(ctx.settings.home) / "report")
    _say(f"report:           {result.index.resolve()}")


def _print_counts(title: str, counts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    if _json_logs():
        _reporter().event("summary", title=title, rows=sum(counts.values()), tables=counts)
        return
    table = Table("table", "rows", title=title)
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    Console().print(table)

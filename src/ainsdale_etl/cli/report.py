"""``ainsdale-etl report``: build the dashboard, publish it to the processed bucket, or print
the address to open the published one at; the publishing a load does with
``--publish-report``; and the embedded default's dashboard, refreshed after each run."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ainsdale_etl.cli.exits import handle_errors
from ainsdale_etl.cli.results import say
from ainsdale_etl.cli.session import make_context
from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.runtime.alerts import dashboard_published, page_dashboard_not_published

PublishReport = Annotated[
    bool,
    typer.Option(
        "--publish-report",
        help="After loading a batch, publish the report to the processed bucket "
        "(reports/<batch_id>/ and reports/latest/), as 'report --publish' does; a report "
        "that cannot be published is a warning, not a failure of the load.",
    ),
]


def _day(value: datetime | None) -> Any:
    return value.date() if value else None


def publish(ctx: Any, out: Path, date_from: Any = None, date_to: Any = None) -> None:
    """Build the report in ``out``, compared with the last one published, and publish it."""
    from ainsdale_etl.ops.report.publish import latest_state, publish_report
    from ainsdale_etl.ops.report.write import write_report

    previous = latest_state(ctx.processed)
    result = write_report(
        ctx.warehouse, out, date_from=date_from, date_to=date_to, previous=previous or b"",
        pngs=True,  # the bucket's readers get the charts as images too, for e-mail
    )  # fmt: skip
    _warn(ctx, result.warnings)
    if result.as_of is None:
        raise ConfigError("the warehouse holds no loaded batch yet: there is no report to publish")
    published = publish_report(ctx.processed, result.folder, result.as_of[0])
    base = ctx.processed.uri.rstrip("/")
    say(
        f"report published to {base}/{published.batch_prefix} and {base}/{published.latest_prefix}",
        batch_id=result.as_of[0],
        kind="report_published",  # the dashboard_unpublished metric's 0 (cli/metrics.py)
    )
    dashboard_published(ctx.reporter)


def _warn(ctx: Any, warnings: tuple[str, ...]) -> None:
    for message in warnings:
        ctx.reporter.warning(message, kind="report_chart_left_out")


def publish_after_load(ctx: Any, loaded: int, wanted: bool) -> None:
    """With ``--publish-report``, publish the report after a load that loaded something:
    stakeholders see each load without anyone running the CLI."""
    if not wanted or loaded == 0:
        return
    try:
        with tempfile.TemporaryDirectory(prefix="ainsdale-report-") as folder:
            publish(ctx, Path(folder))
    except Exception as exc:
        # The load committed: a report that could not be published must not fail it (and have
        # the scheduler retry a load with nothing left to load). The page would stay stale
        # unseen: the warning is the dashboard_unpublished metric's 1, and the first such run
        # pages (once, until a publish clears it: runtime/alerts.py).
        from ainsdale_etl.adapters.postgres import scrub
        from ainsdale_etl.cli.session import state
        from ainsdale_etl.runtime.failures import describe_failure

        message, code = describe_failure(exc)
        message = scrub(message)
        ctx.reporter.warning(
            f"the dashboard was not published ({message}); the load stands: "
            "`ainsdale-etl report --publish` publishes it",
            kind="report_not_published",
        )
        page_dashboard_not_published(ctx.reporter, state.command or "load", message, code)


@handle_errors
def report(
    out: Annotated[
        Path, typer.Option(help="Folder for index.html, report.json and any PNGs.")
    ] = Path("report"),
    date_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First order date.")
    ] = None,
    date_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last order date.")
    ] = None,
    publish_it: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Also upload it to the processed bucket under reports/<batch_id>/ and "
            "reports/latest/, and print the URL to open it at.",
        ),
    ] = False,
    url: Annotated[
        bool,
        typer.Option(
            "--url",
            help="Only print a URL of the published reports/latest/index.html: "
            "presigned for S3 (signed with your credentials), a file URI for a folder.",
        ),
    ] = False,
    png: Annotated[
        bool,
        typer.Option(
            "--png",
            help="Also draw each chart as a PNG per currency, for e-mail (--publish does).",
        ),
    ] = False,
    expires: Annotated[
        int,
        typer.Option(min=1, max=604_800, help="Seconds the --url / --publish URL stays valid."),
    ] = 604_800,
) -> None:
    """Write the warehouse's story as an interactive, self-contained HTML dashboard."""
    ctx = make_context(reads_only=True)
    if not url:
        if publish_it:
            publish(ctx, out, _day(date_from), _day(date_to))
        else:
            from ainsdale_etl.ops.report.write import write_report

            result = write_report(
                ctx.warehouse, out, date_from=_day(date_from), date_to=_day(date_to), pngs=png
            )
            _warn(ctx, result.warnings)
        say(f"report written to {(out / 'index.html').resolve()}")
    if url or publish_it:
        from ainsdale_etl.ops.report.publish import latest_url

        typer.echo(latest_url(ctx.processed, expires))  # alone on stdout: open "$(… --url)"


def dashboard_folder(ctx: Any) -> Path:
    return Path(ctx.settings.home) / "report"


def refresh_dashboard(ctx: Any, loaded: int) -> None:
    """On the embedded default, keep the dashboard in AINSDALE_HOME/report current: build it
    again after a run that loaded a batch, or that finds it behind the warehouse (a refresh
    that failed or was stopped); a run that loaded nothing leaves a current page alone.

    The run's data work is done and committed by now: a refresh that fails is a warning and
    the run still succeeds. A stop requested before it ends the run as any stop does (exit
    130): the rerun finds the page behind and refreshes it.
    """
    if not ctx.settings.warehouse_is_embedded:
        return
    from ainsdale_etl.runtime.shutdown import StopRequestedError, checkpoint

    out = dashboard_folder(ctx)
    try:
        if loaded == 0 and _is_current(ctx, out):
            return
        checkpoint("before refreshing the dashboard")
        from ainsdale_etl.ops.report.write import write_report

        result = write_report(ctx.warehouse, out)
    except StopRequestedError:
        raise
    except Exception as exc:
        from ainsdale_etl.adapters.postgres import scrub
        from ainsdale_etl.runtime.failures import describe_failure

        ctx.reporter.warning(
            f"the dashboard was not refreshed ({scrub(describe_failure(exc)[0])}); the run's "
            f"data stands, and the next run-all tries again (or `ainsdale-etl report --out "
            f"{out}`)",
            kind="dashboard_not_refreshed",
        )
        return
    batch = result.as_of[0] if result.as_of else None
    say(f"dashboard refreshed: {result.index.resolve()}", batch_id=batch)


def _is_current(ctx: Any, out: Path) -> bool:
    """Whether the page in ``out`` is as of the warehouse's newest batch."""
    from ainsdale_etl.ops.report.data import INDEX
    from ainsdale_etl.ops.report.queries import latest_batch, warehouse_ready
    from ainsdale_etl.ops.report.write import report_batch

    if not (out / INDEX).is_file():
        return False
    with ctx.warehouse.connect() as conn, conn.cursor() as cur:
        newest = latest_batch(cur) if warehouse_ready(cur) else None
    return (newest[0] if newest else None) == report_batch(out)

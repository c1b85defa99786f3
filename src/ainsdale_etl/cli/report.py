"""``ainsdale-etl report``: build the dashboard, publish it to the processed bucket, or print
the address to open the published one at; and the publishing a load does when
``AINSDALE_REPORT_PUBLISH`` is set."""

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


def _day(value: datetime | None) -> Any:
    return value.date() if value else None


def publish(ctx: Any, out: Path, date_from: Any = None, date_to: Any = None) -> None:
    """Build the report in ``out``, compared with the last one published, and publish it."""
    from ainsdale_etl.ops.report.publish import latest_state, publish_report
    from ainsdale_etl.ops.report.write import write_report

    previous = latest_state(ctx.processed)
    result = write_report(
        ctx.warehouse, out, date_from=date_from, date_to=date_to, previous=previous or b""
    )
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


def publish_after_load(ctx: Any, loaded: int) -> None:
    """With ``AINSDALE_REPORT_PUBLISH`` set, publish the report after a load that loaded
    something: stakeholders see each load without anyone running the CLI."""
    if not ctx.settings.report_publish or loaded == 0:
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
    out: Annotated[Path, typer.Option(help="Folder for index.html, the PNGs and report.json.")] = (
        Path("report")
    ),
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
                ctx.warehouse, out, date_from=_day(date_from), date_to=_day(date_to)
            )
            _warn(ctx, result.warnings)
        say(f"report written to {(out / 'index.html').resolve()}")
    if url or publish_it:
        from ainsdale_etl.ops.report.publish import latest_url

        typer.echo(latest_url(ctx.processed, expires))  # alone on stdout: open "$(… --url)"

"""How a command ends when it fails: one line on stderr, its exit code, and an alert.

Every failure is mapped here, in one place (:func:`handle_errors`); what it says and the code
it exits with are :func:`ainsdale_etl.runtime.failures.describe_failure`'s to decide.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ainsdale_etl.cli.session import reporter, state
from ainsdale_etl.core.errors import ExitCode, Place, place_of
from ainsdale_etl.runtime.alerts import page, resolve_incidents
from ainsdale_etl.runtime.failures import describe_failure

F = TypeVar("F", bound=Callable[..., Any])

# A command read by a person at a terminal: its failures are shown, not paged.
NEVER_PAGES = {"check", "dbt-sources"}


def fail(
    message: str,
    code: int,
    *,
    alert: bool = True,
    error_class: str = "",
    place: Place | None = None,
) -> None:
    """End the command with one line on stderr, the failure in the logs, and an alert (once
    per incident: ``error_class`` and ``place``, the step and batch the failure was raised
    in, are part of its key, see runtime/incidents.py)."""
    from ainsdale_etl.adapters.postgres import scrub
    from ainsdale_etl.cli.output import JsonReporter

    message = scrub(message)  # last line of defence: no credential leaves the process
    run_reporter = reporter()
    if isinstance(run_reporter, JsonReporter):
        # For CloudWatch queries, and the failures metric (see cli/metrics.py).
        where = {"step": place.step, "batch_id": place.batch_id} if place else {}
        run_reporter.error(message, exit_code=code, command=state.command, **where)
    typer.echo(f"error: {message}", err=True)
    if alert and state.command not in NEVER_PAGES:
        command = state.command or "ainsdale-etl"
        page(run_reporter, command, message, code, error_class, place)
    raise typer.Exit(code)


# Options that narrow a command to chosen batches: its success says nothing of the others.
_NARROWING = ("dry_run", "batch_id", "since", "until", "tables")


def _succeeded(options: dict[str, Any]) -> None:
    """A command that did its whole work resolves the incidents its kind had open. A dry run
    proves nothing; a repair of one batch (--batch-id) or a range says nothing of a batch
    still quarantined before it, whose incident stays open."""
    if (
        state.command
        and state.command not in NEVER_PAGES
        and not any(options.get(name) for name in _NARROWING)
    ):
        resolve_incidents(reporter(), state.command)


def handle_errors(func: F) -> F:
    """Map every expected failure to one line and its exit code (tracebacks only with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ainsdale_etl.runtime.shutdown import stop_on_sigterm

        state.command = func.__name__.replace("_", "-")  # as Typer names the command
        try:
            with stop_on_sigterm():
                result = func(*args, **kwargs)
        except typer.Exit as done:
            if done.exit_code == 0:
                _succeeded(kwargs)
            raise
        except KeyboardInterrupt as stop:
            fail(
                "interrupted",
                int(ExitCode.INTERRUPTED),
                error_class="KeyboardInterrupt",
                place=place_of(stop),
            )
        except Exception as exc:
            message, code = describe_failure(exc)
            if state.debug:
                # The traceback, then the same line, exit code and page as without --debug:
                # debugging a scheduled task must not change what its scheduler sees.
                traceback.print_exc()
            fail(message, code, error_class=type(exc).__name__, place=place_of(exc))
        _succeeded(kwargs)
        return result

    return wrapper  # type: ignore[return-value]

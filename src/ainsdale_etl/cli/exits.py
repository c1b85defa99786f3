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
from ainsdale_etl.core.errors import ExitCode
from ainsdale_etl.runtime.alerts import page
from ainsdale_etl.runtime.failures import describe_failure

F = TypeVar("F", bound=Callable[..., Any])

# A command read by a person at a terminal: its failures are shown, not paged.
NEVER_PAGES = {"check"}


def fail(message: str, code: int, *, alert: bool = True) -> None:
    """End the command with one line on stderr, the failure in the logs, and an alert."""
    from ainsdale_etl.adapters.postgres import scrub
    from ainsdale_etl.cli.output import JsonReporter

    message = scrub(message)  # last line of defence: no credential leaves the process
    run_reporter = reporter()
    if isinstance(run_reporter, JsonReporter):
        run_reporter.error(message, exit_code=code)  # for CloudWatch queries
    typer.echo(f"error: {message}", err=True)
    if alert and state.command not in NEVER_PAGES:
        page(run_reporter, state.command or "ainsdale-etl", message, code)
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
            fail("interrupted", int(ExitCode.INTERRUPTED))
        except Exception as exc:
            message, code = describe_failure(exc)
            if state.debug:
                # The traceback, then the same line, exit code and page as without --debug:
                # debugging a scheduled task must not change what its scheduler sees.
                traceback.print_exc()
            fail(message, code)
        return None

    return wrapper  # type: ignore[return-value]

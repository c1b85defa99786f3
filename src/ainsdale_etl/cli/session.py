"""One invocation of the CLI: its global options, its reporter, its context and its lock."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from typing import Any


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class _State:
    debug = False
    log_format: LogFormat | None = None
    reporter: Any = None
    command: str | None = None  # the command running, for the failure alert
    json_document = False  # --json: stdout holds one JSON document; logs go to stderr


state = _State()


def reporter() -> Any:
    if state.reporter is None:
        from ainsdale_etl.cli.output import make_reporter

        state.reporter = make_reporter(
            state.log_format.value if state.log_format else None,
            stream=sys.stderr if state.json_document else None,
        )
    return state.reporter


def json_document(wanted: bool) -> None:
    """A command's --json: keep stdout for the one document it prints, so that
    ``json.loads`` reads it whole, on success and failure alike; log lines go to stderr."""
    if wanted:
        state.json_document = True
        state.reporter = None


def json_logs() -> bool:
    return state.log_format == LogFormat.json or (
        state.log_format is None and not sys.stdout.isatty()
    )


def make_context() -> Any:
    from ainsdale_etl.core.settings import load_settings
    from ainsdale_etl.runtime.context import Context

    return Context(load_settings(), reporter())


@contextmanager
def exclusive(ctx: Any, wait: float | None) -> Iterator[None]:
    """Hold the pipeline lock (see runtime/lock.py) for a command that writes."""
    from ainsdale_etl.runtime.lock import pipeline_lock

    seconds = ctx.settings.lock_wait_seconds if wait is None else wait
    ctx.reporter.event("step_started", step="lock")  # a failure here names the lock, not a step
    with (
        pipeline_lock(ctx.warehouse, wait_seconds=seconds) as lock,
        ctx.warehouse.reusing_connections(),
    ):
        ctx.lock_check = lock.verify
        yield


def warm_up() -> None:
    """Import the columnar stack (polars, pyarrow, ADBC: about 0.4 s) on a background thread
    while run-all extracts, which needs only polars, and only at the end of a changed table.
    Only third-party packages that never import this one: no import lock can be taken in an
    order the main thread could take in reverse."""

    def load() -> None:
        for name in ("polars", "pyarrow.parquet", "adbc_driver_postgresql.dbapi"):
            with suppress(Exception):  # the main thread imports it again, and says why
                importlib.import_module(name)

    threading.Thread(target=load, name="warm-up imports", daemon=True).start()

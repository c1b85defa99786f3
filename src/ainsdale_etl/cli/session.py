"""One invocation of the CLI: its global options, its reporter, its context and its lock."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class _State:
    debug = False
    quiet = False  # --quiet: no progress or step lines, no step summaries
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
            quiet=state.quiet,
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


def make_context(*, reads_only: bool = False) -> Any:
    """The command's context; one that ``reads_only`` never makes a new embedded server."""
    import os

    from ainsdale_etl.core.settings import (
        REPLACED_SETTINGS,
        load_settings,
        misspelled_variables,
        settings_variables,
    )
    from ainsdale_etl.runtime.context import Context

    settings = load_settings()
    names = settings_variables(os.environ)
    for name in sorted(names & set(REPLACED_SETTINGS)):
        reporter().warning(
            f"{name} is no longer a setting and is ignored; it is {REPLACED_SETTINGS[name]}"
        )
    for name, closest in misspelled_variables(dict.fromkeys(names, "")):
        hint = f"; did you mean {closest}?" if closest else "; see docs/reference/configuration.md"
        reporter().warning(f"{name} is not a setting of ainsdale-etl and is ignored{hint}")
    return Context(settings, reporter(), reads_only=reads_only)


def require_writable_buckets(ctx: Any) -> None:
    """A local bucket a write would fail in is one line now, not an error after the extract."""
    from ainsdale_etl.core.errors import ConfigError

    for name, setting in (("ingest", "INGEST_URI"), ("processed", "PROCESSED_URI")):
        storage = getattr(ctx, name)
        problem = getattr(storage, "writable_problem", None)  # local folders only
        reason = problem() if problem else None
        if reason:
            raise ConfigError(
                f"the {name} bucket {storage.uri} cannot be written: {reason}; "
                f"fix its permissions or set AINSDALE_{setting}"
            )


@contextmanager
def exclusive(
    ctx: Any,
    wait: float | None,
    *,
    force: bool = False,
    rebind: bool = False,
    prepare: bool = True,
) -> Iterator[None]:
    """Hold the pipeline lock (see runtime/lock.py) for a command that writes, with the
    warehouse migrated and bound to this environment (pipeline/binding.py) unless not to
    ``prepare`` it (``migrate`` does its own)."""
    from contextlib import ExitStack

    from ainsdale_etl.core.errors import failing_in
    from ainsdale_etl.pipeline.binding import prepare_warehouse
    from ainsdale_etl.runtime.lock import pipeline_lock

    seconds = ctx.settings.lock_wait_seconds if wait is None else wait
    require_writable_buckets(ctx)
    ctx.reporter.event("step_started", step="lock")
    with ExitStack() as held:
        with failing_in("lock"):  # a failure here names the lock, not a step
            lock = held.enter_context(pipeline_lock(ctx.warehouse, wait_seconds=seconds))
            held.enter_context(ctx.warehouse.reusing_connections())
        ctx.lock_check = lock.verify
        if prepare:
            ctx.reporter.event("step_started", step="prepare")
            with failing_in("prepare"):
                ctx.environment_id = prepare_warehouse(ctx, force=force, rebind=rebind)
            ctx.rebound = rebind
        yield

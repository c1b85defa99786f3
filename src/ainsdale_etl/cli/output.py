"""The CLI's reporters: rich lines on a terminal, one JSON object per line in a container.

Both remember the step and batch of the latest event, so that a failure alert can say where the
run stopped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from ainsdale_etl.adapters.postgres import scrub
from ainsdale_etl.core.events import NullReporter, Progress

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


# A batch that stopped the run: run-all goes on to load the batches before it, but the
# failure, its alert and its incident key are about this one.
_STOPPING_EVENTS = {"batch_quarantined", "batch_blocked"}


class _Whereabouts:
    """The step and batch the run was last heard of in, or that stopped it."""

    step: str | None = None
    batch_id: str | None = None
    stopped_at: tuple[str | None, str | None] | None = None  # (step, batch) of a quarantine
    quiet = False  # --quiet: info events only move the whereabouts; nothing is written

    def _note(self, fields: dict[str, Any], event: str = "") -> None:
        if event in _STOPPING_EVENTS:
            self.stopped_at = (fields.get("step"), fields.get("batch_id"))
        step = fields.get("step") or self.step
        if step != self.step:
            self.step, self.batch_id = step, None  # a new step has not reached a batch yet
        self.batch_id = fields.get("batch_id") or self.batch_id


class JsonReporter(_Whereabouts):
    """One JSON object per event, for CloudWatch Logs Insights and other log pipelines; the
    events that measure something carry CloudWatch metrics too (see cli/metrics.py)."""

    def __init__(self, stream: TextIO | None = None, *, namespace: str = "") -> None:
        self.stream = stream or sys.stdout
        self.namespace = namespace  # of the embedded metrics; empty: none

    def _emit(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        from ainsdale_etl.cli.metrics import embedded_metrics

        self._note(fields, event)
        now = datetime.now(UTC)
        record = {
            "timestamp": now.isoformat(timespec="milliseconds"),
            "level": level,
            "event": event,
            **({"message": message} if message else {}),
            **fields,
        }
        record |= embedded_metrics(self.namespace, event, record, int(now.timestamp() * 1000))
        # Every line scrubbed: a warning or a check may quote a library's error, and that may
        # quote a URI with its password (a catalog's, a database's).
        self.stream.write(scrub(json.dumps(record, default=str)) + "\n")
        self.stream.flush()

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        if self.quiet:
            self._note(fields, event)
            return
        self._emit("info", event, message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit("warning", "warning", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("error", "failed", message, fields)

    def progress(self, description: str, total: int) -> AbstractContextManager[Progress]:
        return NullReporter().progress(description, total)


class _RichBar:
    def __init__(self, bar: RichProgress, task: TaskID) -> None:
        self.bar, self.task = bar, task

    def advance(self, steps: int = 1) -> None:
        self.bar.advance(self.task, steps)


class ConsoleReporter(_Whereabouts):
    """Short human lines on stderr (stdout is left for results)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        self._note(fields, event)
        if self.quiet:
            return
        parts = [str(fields[k]) for k in ("step", "table") if k in fields]
        if "rows" in fields:
            parts.append(f"{fields['rows']:,} rows")
        if "seconds" in fields:
            parts.append(f"{fields['seconds']:.2f}s")
        detail = " · ".join(parts)
        text = message or event.replace("_", " ")
        self.console.print(f"[dim]{detail:<40}[/dim] {text}" if detail else text)

    def warning(self, message: str, **fields: Any) -> None:
        self._note(fields)
        # One line however long: the names in it must survive a copy and a grep.
        self.console.print(f"[yellow]warning:[/yellow] {scrub(message)}", soft_wrap=True)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Progress]:
        if self.quiet:
            with NullReporter().progress(description, total) as silent:
                yield silent
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        # Transient, on the reporter's own console: event lines print above the bar, and the
        # bar is gone when the step ends.
        with RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            yield _RichBar(bar, bar.add_task(description, total=total))


def make_reporter(
    log_format: str | None, stream: TextIO | None = None, *, quiet: bool = False
) -> JsonReporter | ConsoleReporter:
    """The run's reporter; JSON log lines go to ``stream`` (default stdout)."""
    from ainsdale_etl.core.settings import alert_settings

    fmt = log_format or ("console" if sys.stdout.isatty() else "json")
    namespace = alert_settings().metrics_namespace
    reporter = JsonReporter(stream, namespace=namespace) if fmt == "json" else ConsoleReporter()
    reporter.quiet = quiet
    return reporter

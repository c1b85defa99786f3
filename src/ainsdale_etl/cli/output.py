"""The CLI's reporters: rich lines on a terminal, one JSON object per line in a container.

Where a failure happened is not theirs to remember: the exception carries its step and batch
(core/errors.py: ``failing_in``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from ainsdale_etl.adapters.postgres import scrub
from ainsdale_etl.core.events import NullReporter, Progress, counted

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


class JsonReporter:
    """One JSON object per event, for CloudWatch Logs Insights and other log pipelines; the
    events that measure something carry CloudWatch metrics too (see cli/metrics.py)."""

    quiet = False  # --quiet: info events are not written

    def __init__(self, stream: TextIO | None = None, *, namespace: str = "") -> None:
        self.stream = stream or sys.stdout
        self.namespace = namespace  # of the embedded metrics; empty: none

    def _emit(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        from ainsdale_etl.cli.metrics import embedded_metrics

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
        if not self.quiet:
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


class ConsoleReporter:
    """Short human lines on stderr (stdout is left for results)."""

    quiet = False  # --quiet: no event lines and no progress bars

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        if self.quiet:
            return
        parts = [str(fields[k]) for k in ("step", "table") if k in fields]
        if "rows" in fields:
            parts.append(counted(fields["rows"]))
        if "seconds" in fields:
            parts.append(f"{fields['seconds']:.2f}s")
        detail = " · ".join(parts)
        text = message or event.replace("_", " ")
        self.console.print(f"[dim]{detail:<40}[/dim] {text}" if detail else text)

    def warning(self, message: str, **fields: Any) -> None:
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

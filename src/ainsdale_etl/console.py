"""The CLI's reporters: rich lines on a terminal, one JSON object per line in a container."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO


class JsonReporter:
    """One JSON object per event, for CloudWatch Logs Insights and other log pipelines."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _emit(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        record = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "event": event,
            **({"message": message} if message else {}),
            **fields,
        }
        self.stream.write(json.dumps(record, default=str) + "\n")
        self.stream.flush()

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        self._emit("info", event, message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit("warning", "warning", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("error", "failed", message, fields)


class ConsoleReporter:
    """Short human lines on stderr (stdout is left for results)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        parts = [str(fields[k]) for k in ("step", "table") if k in fields]
        if "rows" in fields:
            parts.append(f"{fields['rows']:,} rows")
        if "seconds" in fields:
            parts.append(f"{fields['seconds']:.2f}s")
        detail = " · ".join(parts)
        text = message or event.replace("_", " ")
        self.console.print(f"[dim]{detail:<40}[/dim] {text}" if detail else text)

    def warning(self, message: str, **fields: Any) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}")


def make_reporter(log_format: str | None) -> JsonReporter | ConsoleReporter:
    fmt = log_format or ("console" if sys.stdout.isatty() else "json")
    return JsonReporter() if fmt == "json" else ConsoleReporter()

"""How the core reports progress without printing: a tiny reporter interface.

The CLI implements it (rich on a terminal, one JSON object per line in a container); tests and
library callers can use :class:`NullReporter` or collect events with :class:`ListReporter`.
"""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    def event(self, event: str, message: str = "", **fields: Any) -> None:
        """Something happened: ``event`` is a stable name, ``fields`` its facts
        (batch_id, step, table, rows, seconds, ...)."""

    def warning(self, message: str, **fields: Any) -> None: ...


class NullReporter:
    def event(self, event: str, message: str = "", **fields: Any) -> None:
        pass

    def warning(self, message: str, **fields: Any) -> None:
        pass


class ListReporter:
    """Keeps every event, for tests and for summaries."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        self.events.append({"event": event, "message": message, **fields})

    def warning(self, message: str, **fields: Any) -> None:
        self.event("warning", message, **fields)

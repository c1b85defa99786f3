"""How the core reports progress without printing: a tiny reporter interface.

The CLI implements it (rich on a terminal, one JSON object per line in a container); library callers
and tests can use :class:`NullReporter`.
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

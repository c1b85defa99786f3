"""How the core reports progress without printing: a tiny reporter interface.

The CLI implements it (rich on a terminal, one JSON object per line in a container); library callers
and tests can use :class:`NullReporter`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol


class Progress(Protocol):
    def advance(self, steps: int = 1) -> None:
        """``steps`` more of the total are done."""


class Reporter(Protocol):
    def event(self, event: str, message: str = "", **fields: Any) -> None:
        """Something happened: ``event`` is a stable name, ``fields`` its facts
        (batch_id, step, table, rows, seconds, ...)."""

    def warning(self, message: str, **fields: Any) -> None: ...

    def progress(self, description: str, total: int) -> AbstractContextManager[Progress]:
        """A long step of ``total`` parts (tables, batches): a progress bar on a terminal,
        nothing in logs, where the events already say it."""


class _NoProgress:
    def advance(self, steps: int = 1) -> None:
        pass


class NullReporter:
    def event(self, event: str, message: str = "", **fields: Any) -> None:
        pass

    def warning(self, message: str, **fields: Any) -> None:
        pass

    def progress(self, description: str, total: int) -> AbstractContextManager[Progress]:
        return nullcontext(_NoProgress())


def rate(rows: int, seconds: float) -> dict[str, Any]:
    """The fields of a timed event: ``rows``, ``seconds`` and ``rows_per_s``."""
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds) if seconds > 0 else 0,
    }


def plural(noun: str, n: int) -> str:
    """``noun`` as it goes with a count of ``n``: row, rows; batch, batches."""
    if n == 1:
        return noun
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def counted(n: int, noun: str = "row") -> str:
    """``1 row``, ``2 rows``, ``1,234 batches``: counts as people write them."""
    return f"{n:,} {plural(noun, n)}"

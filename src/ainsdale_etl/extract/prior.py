"""What a new batch follows: the committed batches before it, from the batch ledger.

The pipeline builds it (pipeline/repair.py) and the extract walks it back for each table's
last window and for the ids delivered so far (extract/windows.py, extract/deletions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ainsdale_etl.core.batches import History
from ainsdale_etl.core.storage import Storage


@dataclass(frozen=True)
class Prior:
    """The committed batches a new batch follows, from the batch ledger: ``batches`` (oldest
    first; perhaps only the newest, with ``older`` giving them all), and where a lost batch
    sends the windows back to (``window_floor``: windows are read from the batches before it)."""

    batches: list[str]
    older: Callable[[], list[str]] | None = None
    window_floor: str | None = None
    lost: list[str] = field(default_factory=list)
    newest: str | None = None  # the newest batch id ever extracted, lost or not

    @property
    def follows(self) -> str | None:
        """The batch the new one continues: the last whose windows it reads on from."""
        kept = [b for b in self.batches if self.window_floor is None or b < self.window_floor]
        return kept[-1] if kept else None

    def history(self, ingest: Storage) -> History:
        return History(ingest, self.batches, older=self.older)

    def window_history(self, ingest: Storage) -> History:
        """The batches whose windows a new batch reads on from: those before a lost one."""
        if self.window_floor is None:
            return self.history(ingest)
        before = [b for b in (self.older or (lambda: self.batches))() if b < self.window_floor]
        return History(ingest, before)

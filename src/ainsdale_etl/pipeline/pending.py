"""What is due, from the batch ledger: one query, and a pure function over its rows.

The ledger (:mod:`ainsdale_etl.load.ledger`) records each step's transition, so what a step
owes is what the ledger says it has not done: no bucket is listed to find out, and a run's
requests do not grow with history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ainsdale_etl.load.ledger import BatchState, open_batches

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context


@dataclass(frozen=True)
class Due:
    """What each step owes, oldest first."""

    transform: list[str] = field(default_factory=list)
    load: list[str] = field(default_factory=list)
    lake: bool = False  # a loaded batch the lake has not taken yet
    quarantined: dict[str, BatchState] = field(default_factory=dict)
    newest: str | None = None  # the newest batch extracted: what a new batch follows
    states: dict[str, BatchState] = field(default_factory=dict)


def due_of(states: list[BatchState], newest: str | None) -> Due:
    """What is due, given the ledger's open batches (pure). A lost batch (its objects gone
    before it was loaded) is owed nothing: the next extract reads its windows again."""
    live = [s for s in states if s.lost_at is None or s.loaded_at is not None]
    return Due(
        transform=[s.batch_id for s in live if s.extracted_at and not s.transformed_at],
        load=[s.batch_id for s in live if s.transformed_at is not None and s.loaded_at is None],
        lake=any(
            s.loaded_at is not None and (s.lake_at is None or s.lake_at < s.loaded_at) for s in live
        ),
        quarantined={s.batch_id: s for s in live if s.quarantine_step is not None},
        newest=newest,
        states={s.batch_id: s for s in states},
    )


def due(ctx: Context) -> Due:
    """What is due now, from the warehouse's ledger."""
    return due_of(*open_batches(ctx.warehouse))

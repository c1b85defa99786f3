"""Quarantine: a batch that failed on its input is marked, so no later batch passes it silently.

The mark is a small JSON object ``state/quarantine/<batch_id>.json`` in the processed bucket,
next to the pipeline's other state. While it is there, every run tries that batch again first
and stops there if it still fails, with one line saying why and what to do; ``ainsdale-etl
batches`` shows it. The mark lifts when the batch succeeds.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from ainsdale_etl.core.batches import parse_batch_id
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.storage import Storage

QUARANTINE_PREFIX = "state/quarantine/"


class QuarantineMark(BaseModel):
    batch_id: str
    step: str  # transform | load
    error: str
    at: str


def _key(batch_id: str) -> str:
    parse_batch_id(batch_id)  # only well-formed ids become keys
    return f"{QUARANTINE_PREFIX}{batch_id}.json"


def quarantine(processed: Storage, batch_id: str, step: str, error: str) -> QuarantineMark:
    mark = QuarantineMark(
        batch_id=batch_id, step=step, error=error, at=datetime.now().astimezone().isoformat()
    )
    processed.put_bytes(_key(batch_id), mark.model_dump_json(indent=2).encode())
    return mark


def quarantined(processed: Storage) -> dict[str, QuarantineMark]:
    marks = {}
    for key in processed.list(QUARANTINE_PREFIX):
        mark = QuarantineMark.model_validate_json(processed.get_bytes(key))
        marks[mark.batch_id] = mark
    return marks


def release(processed: Storage, batch_id: str) -> None:
    processed.delete(_key(batch_id))


def blocked_error(mark: QuarantineMark) -> BadInputError:
    """The error a run stops with when a quarantined batch still fails."""
    return BadInputError(
        f"batch {mark.batch_id} is quarantined since {mark.at[:19]} ({mark.step}: {mark.error}); "
        "later batches wait behind it, and every run tries it again. Fix the row in totesys "
        "(the next run takes its new version and leaves this one out) or restore the batch's "
        f"objects, then let the schedule run, or run 'ainsdale-etl run-all --batch-id "
        f"{mark.batch_id}'"
    )

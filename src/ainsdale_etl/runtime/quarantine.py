"""Quarantine: a batch that failed on its input is marked, so no later batch passes it silently.

The mark is a small JSON object ``state/quarantine/<batch_id>.json`` in the processed bucket,
next to the pipeline's other state. While it is there, transform and load stop at that batch
with one line saying why and what to do; ``ainsdale-etl batches`` shows it. Re-running the
batch explicitly (``--batch-id``), after fixing its input, lifts the mark once it succeeds.
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
    """The error a run stops with when it reaches a quarantined batch."""
    return BadInputError(
        f"batch {mark.batch_id} is quarantined since {mark.at[:19]} ({mark.step}: {mark.error}); "
        f"later batches wait behind it. Fix its input, then run "
        f"'ainsdale-etl run-all --batch-id {mark.batch_id}' (if the fix is a record added to "
        "totesys, first extract it and run that batch the same way: see README, Failure modes)"
    )

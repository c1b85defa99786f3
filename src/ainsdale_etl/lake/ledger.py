"""Which batch each lake snapshot follows: every commit the lake makes names the newest
batch the warehouse had loaded in its snapshot summary (``ainsdale.batch_id``), so a table can be
read AS OF a batch. (What the lake owes is decided by content, see :mod:`.sync`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ainsdale_etl.lake.schema import BATCH_PROPERTY

if TYPE_CHECKING:
    from pyiceberg.table import Table


def batches_held(table: Table) -> set[str]:
    """The batches whose snapshots ``table`` still has."""
    return {
        str(s.summary.additional_properties[BATCH_PROPERTY])
        for s in table.metadata.snapshots
        if s.summary is not None and BATCH_PROPERTY in s.summary.additional_properties
    }


def snapshot_of(table: Table, batch_id: str) -> int | None:
    """The id of the last snapshot that wrote ``batch_id`` to ``table`` (AS OF that batch)."""
    found = None
    for s in sorted(table.metadata.snapshots, key=lambda s: s.sequence_number or 0):
        if s.summary is not None and s.summary.additional_properties.get(BATCH_PROPERTY) == (
            batch_id
        ):
            found = s.snapshot_id
    return found


@dataclass(frozen=True)
class KeyRange:
    """The surrogate keys a bulk load gave one batch's rows of a fact, in its object's order."""

    first_key: int
    rows: int
    object_sha256: str

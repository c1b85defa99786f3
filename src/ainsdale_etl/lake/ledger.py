"""Which batches each lake table holds, and which it still owes: the snapshot summary is the ledger.

Every commit the lake makes carries ``ainsdale.batch_id`` in its snapshot summary, in the same
atomic commit as the data. A batch the warehouse holds is owed to a table when it changed that
table (its ledger row counts rows merged there, or it added placeholders or deletions, or it
bulk-loaded a dimension) and no snapshot of the table names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.registry import STAR_TABLES
from ainsdale_etl.lake.schema import BATCH_PROPERTY

if TYPE_CHECKING:
    from pyiceberg.table import Table

# Set by `lake maintain` on a table whose old snapshots it expired: batches loaded before this
# instant (epoch ms) count as held even though their snapshots are gone.
EXPIRED_BEFORE = "ainsdale.expired-before-ms"


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


@dataclass(frozen=True)
class WarehouseChanges:
    """What each loaded batch did to the warehouse, as far as the lake needs to know."""

    loaded: dict[str, dict[str, Any]]  # the warehouse's ledger: batch -> {loaded_at, rows}
    touched: set[tuple[str, str]] = field(default_factory=set)  # (table, batch): extra changes
    base: dict[str, str] = field(default_factory=dict)  # dimension -> batch that bulk-loaded it
    key_ranges: dict[tuple[str, str], KeyRange] = field(default_factory=dict)  # (fact, batch)

    def only_change(self, table: str) -> str | None:
        """The batch that changed ``table`` if exactly one loaded batch did, else None."""
        changed = [b for b in self.loaded if self.changed(table, b)]
        return changed[0] if len(changed) == 1 else None

    def changed(self, table: str, batch_id: str) -> bool:
        rows = self.loaded[batch_id]["rows"].get(table, 0)
        return bool(rows) or (table, batch_id) in self.touched or self.base.get(table) == batch_id


def _expired_before(table: Table) -> datetime | None:
    value = table.properties.get(EXPIRED_BEFORE)
    if not value:
        return None
    from datetime import UTC

    return datetime.fromtimestamp(int(value) / 1000, UTC)


def owed(tables: dict[str, Table], changes: WarehouseChanges) -> list[tuple[str, str]]:
    """(batch, table) pairs the lake has yet to write, in batch order and, within a batch, in
    the registry's order (dimensions before facts)."""
    due = []
    held = {name: batches_held(t) for name, t in tables.items()}
    cutoff = {name: _expired_before(t) for name, t in tables.items()}
    for batch_id in sorted(changes.loaded):
        loaded_at = changes.loaded[batch_id]["loaded_at"]
        for name in STAR_TABLES:
            if name not in tables or batch_id in held[name]:
                continue
            before = cutoff[name]
            if before is not None and loaded_at is not None and loaded_at < before:
                continue
            if changes.changed(name, batch_id):
                due.append((batch_id, name))
    return due

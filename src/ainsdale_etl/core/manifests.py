"""A batch's manifest, as written and read: what each table's objects hold, and for an
extract what the windows were read in (see :mod:`.batches` for where manifests live)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer, model_validator

from ainsdale_etl.core.registry import SCHEMA_VERSION


class TableEntry(BaseModel):
    """One table of a batch: its object (none when no rows changed), row count and checksum."""

    key: str | None = None
    rows: int = 0
    sha256: str | None = None
    # Extract only (see extract/windows.py): the source snapshot the rows were read in, as
    # pg_current_snapshot() prints it, the transactions in flight at that moment (their
    # writes belong to the next window) as runs [first, last] of consecutive xids (a bounded
    # number: older manifests listed every xid in ``in_flight``, still read) and, if those
    # may be incomplete, the xid from which all count as in flight; the snapshot's clock in
    # UTC, for people.
    snapshot: str | None = None
    in_flight: list[int] = []
    in_flight_ranges: list[tuple[int, int]] = []
    in_flight_from: int | None = None
    upper: str | None = None
    # Extract only: ids that left the source since the previous key check, and the object
    # holding the ids present at this one (see extract/deletions.py). Past a few, the ids are
    # written packed (``deleted_packed``): a TRUNCATE of a million-row table listed inline
    # would take the manifest past MAX_MANIFEST_BYTES, and every step would refuse it.
    deleted: list[int] = []
    ids_key: str | None = None
    ids_sha256: str | None = None
    ids_count: int | None = None  # how many ids that object holds (None: not recorded)

    @model_validator(mode="before")
    @classmethod
    def _unpack_deleted(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("deleted_packed"):
            data = dict(data)
            data["deleted"] = unpack_ids(data.pop("deleted_packed"))
        return data

    @model_serializer(mode="wrap")
    def _pack_deleted(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields: dict[str, Any] = handler(self)
        if len(self.deleted) > PACKED_FROM:
            fields.pop("deleted")
            fields["deleted_packed"] = pack_ids(self.deleted)
        return fields


PACKED_FROM = 100  # ids listed inline up to this many (readable by people), packed beyond


def pack_ids(ids: list[int]) -> str:
    """Sorted distinct ids as base64 of their little-endian int64 deltas, compressed: a
    million consecutive ids take a few hundred bytes."""
    import base64
    import zlib

    import numpy as np

    deltas = np.diff(np.asarray(ids, dtype=np.int64), prepend=0)
    return base64.b64encode(zlib.compress(deltas.astype("<i8").tobytes(), 6)).decode()


def unpack_ids(packed: str) -> list[int]:
    import base64
    import zlib

    import numpy as np

    raw = zlib.decompress(base64.b64decode(packed))
    return [int(i) for i in np.cumsum(np.frombuffer(raw, dtype="<i8"))]


class SourceIdentity(BaseModel):
    """Which history of the source a batch was read from (see extract/history.py): the
    cluster's system identifier and its timeline, each None where this role could not read it."""

    system_identifier: str | None = None
    timeline: int | None = None

    def __str__(self) -> str:
        system = self.system_identifier or "unknown"
        timeline = "unknown" if self.timeline is None else str(self.timeline)
        return f"system {system}, timeline {timeline}"


class Manifest(BaseModel):
    batch_id: str
    stage: Literal["extract", "transform"]
    created_at: str
    # The registry version (core/registry.py) of the release that wrote the batch; a manifest
    # without one was written before versions were recorded, by version 1 (see read_manifest).
    schema_version: int = SCHEMA_VERSION
    full: bool = False
    source_batch_id: str | None = None  # transform: the ingest batch it was built from
    # extract: the batch whose windows this one continues (the chain the ledger records; a
    # gap in it is a batch lost before it was loaded, see pipeline/repair.py)
    follows: str | None = None
    # transform: source rows left out because a later batch holds a newer version of them
    # (bad here, fixed in totesys since: see pipeline/supersede.py), per source table
    superseded: dict[str, list[int]] = {}
    # extract: the source's history the windows are in, and the labels of each enum type its
    # tables use, in order (see extract/history.py); None: written before they were recorded,
    # unknown (never taken as a change)
    source: SourceIdentity | None = None
    enums: dict[str, list[str]] | None = None
    tables: dict[str, TableEntry]

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

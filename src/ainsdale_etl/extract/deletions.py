"""Hard deletes: ids that left the source, found by comparing key sets.

Change capture reads row versions, and a deleted row has none left to read. So, every
``AINSDALE_EXTRACT_KEY_CHECK_EVERY`` batches, each table's ids are read in the extract's
snapshot and stored with the batch (sorted, delta-encoded and compressed: a million
consecutive ids take a few kilobytes). The ids known to the warehouse by then are those of the
previous check plus those extracted since; the ones missing now were deleted.
"""

from __future__ import annotations

import io
import zlib
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import Manifest, TableEntry, fetch_checked
from ainsdale_etl.core.registry import SourceTable
from ainsdale_etl.extract.copy_out import copy_out

if TYPE_CHECKING:
    import psycopg

    from ainsdale_etl.core.storage import Storage


def read_ids(conn: psycopg.Connection, table: SourceTable) -> array[int]:
    """The ids of ``table`` in ``conn``'s snapshot, sorted."""
    from psycopg import sql

    out = io.BytesIO()
    statement = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT").format(
        sql.Identifier(table.id_column), sql.Identifier(table.name)
    )
    copy_out(conn, statement, out)
    return array("q", sorted(map(int, out.getvalue().split())))


def encode_ids(ids: array[int]) -> bytes:
    deltas = array("q", (b - a for a, b in zip((0, *ids), ids, strict=False)))
    return zlib.compress(deltas.tobytes(), 6)


def decode_ids(raw: bytes) -> array[int]:
    deltas = array("q")
    deltas.frombytes(zlib.decompress(raw))
    total, ids = 0, array("q")
    for delta in deltas:
        total += delta
        ids.append(total)
    return ids


def ids_in_csv(path: Path, table: SourceTable) -> set[int]:
    """The ids of the rows of an extracted CSV object."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as src:
        rows = csv.reader(src)
        at_id = next(rows).index(table.id_column)
        return {int(row[at_id]) for row in rows}


def known_ids(
    ingest: Storage, table: SourceTable, history: Iterable[Manifest], tmp: Path
) -> set[int] | None:
    """The ids the batches so far delivered and no check has found deleted since: those of the
    last key check, plus those extracted after it. ``history`` is the committed manifests,
    newest first. None if no batch ever checked: this check is the baseline."""
    since: list[tuple[str, TableEntry]] = []
    for manifest in history:
        entry = manifest.tables.get(table.name)
        if entry is None:
            continue
        if entry.ids_key:
            checked = fetch_checked(ingest, manifest.batch_id, _ids_entry(entry), tmp)
            ids = set(decode_ids(checked.read_bytes()))
            checked.unlink()
            for batch_id, extracted in since:  # only when checks are not every batch
                path = fetch_checked(ingest, batch_id, extracted, tmp)
                ids |= ids_in_csv(path, table)
                path.unlink()
            return ids
        if entry.key:
            since.append((manifest.batch_id, entry))
    return None


def _ids_entry(entry: TableEntry) -> TableEntry:
    return TableEntry(key=entry.ids_key, sha256=entry.ids_sha256)


def batches_since_check(table: str, history: Iterable[Manifest]) -> int | None:
    """How many batches of ``history`` (newest first) came after the last one that checked
    ``table``'s keys; None if none ever did."""
    for count, manifest in enumerate(history):
        entry = manifest.tables.get(table)
        if entry is not None and entry.ids_key:
            return count
    return None

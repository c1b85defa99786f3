"""Hard deletes: ids that left the source, found by comparing key sets.

Change capture reads row versions, and a deleted row has none left to read. So, every
``AINSDALE_EXTRACT_KEY_CHECK_EVERY`` batches, each table's id set is checked in the extract's
snapshot and stored with the batch (sorted, delta-encoded and compressed: a million
consecutive ids take a few kilobytes). The ids delivered by then are those of the previous
check plus those extracted since; the ones missing now were deleted.

Every id the source holds was extracted at some point (the capture misses no version), so
the ids now are a subset of those delivered, and equal to them exactly when there are as
many: one ``count(*)`` proves a check with no deletions, the common case, without moving a
single id. Only when the count falls short are the ids read, and compared.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import Manifest, TableEntry, fetch_checked
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.registry import SourceTable
from ainsdale_etl.extract.copy_out import copy_out

_CSV_BLOCK_BYTES = 1 << 20  # of an object parsed at a time for its ids

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt
    import psycopg

    from ainsdale_etl.core.storage import Storage
    from ainsdale_etl.extract.windows import Window

    # A sorted set of ids: numpy, not Arrow, so that a table with no changes is checked
    # without waiting for pyarrow's import (run-all imports it beside the extract).
    Ids: TypeAlias = npt.NDArray[np.int64]


def read_ids(conn: psycopg.Connection, table: SourceTable) -> Ids:
    """The ids of ``table`` in ``conn``'s snapshot, sorted. Parsed by Arrow: a million ids in
    a few milliseconds, where Python took half a second."""
    from psycopg import sql

    out = io.BytesIO()
    statement = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT").format(
        sql.Identifier(table.id_column), sql.Identifier(table.name)
    )
    copy_out(conn, statement, out)
    return sorted_ids(_parse_ids(out.getvalue()))


def no_ids() -> Ids:
    import numpy as np

    return np.empty(0, dtype=np.int64)


def sorted_ids(ids: Ids) -> Ids:
    """``ids`` (distinct) in ascending order; as they are if they already are (numpy checks
    1.5M ids in a millisecond, and sorts them in a tenth of the time Arrow's sort took)."""
    import numpy as np

    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        return np.sort(ids, kind="stable")
    return ids


def with_new_ids(known: Ids, extracted: Ids) -> Ids:
    """The sorted union of ``known`` (sorted, distinct) and ``extracted``: ``known`` itself
    when every extracted id is in it already (an update, the common case), found by binary
    search rather than by hashing a million known ids."""
    import numpy as np

    if not len(extracted):
        return known
    if not len(known):
        return np.unique(extracted)
    at = np.minimum(np.searchsorted(known, extracted), len(known) - 1)
    new = np.unique(extracted[known[at] != extracted])
    if not len(new):
        return known
    return np.sort(np.concatenate([known, new]), kind="stable")


def _parse_ids(text: bytes) -> Ids:
    import pyarrow as pa
    from pyarrow import csv

    if not text.strip():
        return no_ids()
    parsed = csv.read_csv(
        io.BytesIO(text),
        read_options=csv.ReadOptions(column_names=["id"]),
        convert_options=csv.ConvertOptions(column_types={"id": pa.int64()}),
    )
    return parsed.column("id").to_numpy()


def encode_ids(ids: Ids) -> bytes:
    """Sorted ids as little-endian int64 deltas, compressed (consecutive ids: all ones)."""
    import numpy as np

    deltas = np.diff(ids, prepend=0) if len(ids) else ids
    # Level 1: sorted ids' deltas are nearly all ones, which any level compresses to nothing.
    return zlib.compress(deltas.astype("<i8").tobytes(), 1)


def decode_ids(raw: bytes) -> Ids:
    import numpy as np

    return np.cumsum(np.frombuffer(zlib.decompress(raw), dtype="<i8")).astype(np.int64)


def missing_from(known: Ids, present: Ids) -> list[int]:
    """The ids of ``known`` not in ``present`` (both sorted, distinct), in order."""
    import numpy as np

    return [int(i) for i in np.setdiff1d(known, present, assume_unique=True)]


def ids_in_csv(path: Path, table: SourceTable) -> Ids:
    """The ids of the rows of an extracted CSV object, read a megabyte at a time (memory stays
    flat whatever the object's size, and it is faster than reading the object whole)."""
    import numpy as np
    import pyarrow as pa
    from pyarrow import csv

    reader = csv.open_csv(
        path,
        read_options=csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
        parse_options=csv.ParseOptions(newlines_in_values=True),  # text may hold newlines
        convert_options=csv.ConvertOptions(
            include_columns=[table.id_column], column_types={table.id_column: pa.int64()}
        ),
    )
    parts = [batch.column(0).to_numpy() for batch in reader]
    return np.concatenate(parts) if parts else no_ids()


def check_keys_of(
    conn: psycopg.Connection,
    table: SourceTable,
    window: Window,
    csv_path: Path,
    rows: int,
    known: Ids | None,
) -> tuple[Ids, list[int]]:
    """The ids ``table`` holds in ``conn``'s snapshot and those of ``known`` (delivered before
    this batch; None: no check yet) that left it, given this batch's rows, just copied to
    ``csv_path``."""

    extracted = ids_in_csv(csv_path, table) if rows else no_ids()
    if window.floor is None and window.below is None:  # read whole: these are all its ids
        present = sorted_ids(extracted)
        return present, missing_from(known, present) if known is not None else []
    if known is None:
        return read_ids(conn, table), []
    delivered = with_new_ids(known, extracted)
    if row_count(conn, table) == len(delivered):
        return delivered, []
    present = read_ids(conn, table)
    return present, missing_from(delivered, present)


@dataclass(frozen=True)
class Known:
    """The ids delivered so far, read only if asked for (:meth:`ids`). ``entry`` is the
    manifest entry whose object holds exactly them, when nothing was extracted since, and
    ``count`` how many it holds, if recorded: a table unchanged since its last check, with as
    many rows as that, is proved unchanged by one ``count(*)``, and points at that object
    again, without reading a single id (or importing numpy, see :func:`unchanged`)."""

    entry: TableEntry | None
    count: int | None
    load: Callable[[], Ids | None]
    stored: Callable[[], bool] = lambda: True  # whether ``entry``'s object is still there

    def ids(self) -> Ids | None:
        """The ids, or None if an object is gone (a batch deleted by hand): the check then
        starts afresh, as a baseline, rather than fail every extract from now on."""
        return self.load()


def known_ids(
    ingest: Storage, table: SourceTable, history: Iterable[Manifest], tmp: Path
) -> Known | None:
    """The ids the batches so far delivered and no check has found deleted since: those of the
    last key check, plus those extracted after it. ``history`` is the committed manifests,
    newest first. None if no batch ever checked: this check is the baseline."""
    since: list[tuple[str, TableEntry]] = []
    for manifest in history:
        entry = manifest.tables.get(table.name)
        if entry is None:
            continue
        if entry.ids_key:
            load = partial(_read_known, ingest, table, tmp, (manifest.batch_id, entry), since)
            if since:
                return Known(None, None, load)
            stored = partial(ingest.exists, entry.ids_key)
            return Known(entry, entry.ids_count, load, stored)
        if entry.key:
            since.append((manifest.batch_id, entry))
    return None


def _read_known(
    ingest: Storage,
    table: SourceTable,
    tmp: Path,
    checked: tuple[str, TableEntry],
    since: list[tuple[str, TableEntry]],
) -> Ids | None:
    """The ids of the check ``checked`` (batch, entry), with those extracted ``since``; None
    if an object is gone."""
    import numpy as np

    try:
        path = fetch_checked(ingest, checked[0], _ids_entry(checked[1]), tmp)
        parts = [decode_ids(path.read_bytes())]
        path.unlink()
        for batch_id, extracted in since:  # only when checks skip batches
            path = fetch_checked(ingest, batch_id, extracted, tmp)
            parts.append(ids_in_csv(path, table))
            path.unlink()
    except BadInputError:
        return None
    return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))


def unchanged(conn: psycopg.Connection, table: SourceTable, rows: int, known: Known | None) -> bool:
    """Nothing extracted and nothing deleted since the last check: no row was extracted, and
    the table holds as many as the ids delivered (every id it holds was delivered, so the
    sets are equal; see the module's docstring)."""
    if rows or known is None or known.entry is None or known.count is None:
        return False
    # The set's object must still be there to be pointed at again (one look, not a read): a
    # batch deleted by hand makes this check the baseline, as reading the set would have.
    return row_count(conn, table) == known.count and known.stored()


def row_count(conn: psycopg.Connection, table: SourceTable) -> int:
    from psycopg import sql

    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.name))
    ).fetchone()
    return int(row[0]) if row is not None else 0


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

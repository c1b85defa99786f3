"""An extracted batch's tables as its transform takes them: all at once from a committed
manifest, or one by one as run-all's extract writes them (:class:`Arrivals`).

run-all transforms a new batch while it is still being extracted: each source table is read
and built as soon as its object is in the ingest bucket, and the transform commits only after
the extract's manifest has (the transform's ``before_commit`` never comes before the last
arrival, and that is the manifest). If the extract fails, the transform is abandoned: it has
committed nothing, and its objects are overwritten by whatever transforms the batch later.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import TYPE_CHECKING, TypeVar

from ainsdale_etl.core.batches import (
    Manifest,
    TableEntry,
    check_object_keys,
    read_manifest,
    readable,
)
from ainsdale_etl.core.registry import SOURCE_TABLES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from ainsdale_etl.core.events import Reporter
    from ainsdale_etl.core.storage import Storage

R = TypeVar("R")


class ArrivalsAbandonedError(Exception):
    """The extract did not commit the batch whose tables were arriving."""


class Arrivals:
    """A batch's tables in the order its extract writes them, ended by the extract's commit.

    The extract calls :meth:`table_written` (from its worker threads) and then
    :meth:`committed` or :meth:`abandon`; the transform iterates, then reads :attr:`manifest`.
    """

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self._queue: SimpleQueue[tuple[str, TableEntry] | Manifest | None] = SimpleQueue()
        self._manifest: Manifest | None = None

    def table_written(self, name: str, entry: TableEntry) -> None:
        self._queue.put((name, entry))

    def committed(self, manifest: Manifest) -> None:
        self._queue.put(manifest)

    def abandon(self) -> None:
        self._queue.put(None)

    def __iter__(self) -> Iterator[tuple[str, TableEntry]]:
        while True:
            arrival = self._queue.get()
            if arrival is None:
                raise ArrivalsAbandonedError(f"the extract of batch {self.batch_id} stopped")
            if isinstance(arrival, Manifest):
                self._manifest = arrival
                return
            yield arrival

    @property
    def manifest(self) -> Manifest:
        """The extract's committed manifest, once every table has arrived."""
        assert self._manifest is not None, "read after the last arrival"
        return self._manifest


def committed_tables(
    ingest: Storage, batch_id: str
) -> tuple[Manifest, list[tuple[str, TableEntry]]]:
    """A committed batch's manifest and its tables, smallest first (the load running
    alongside, in run-all, gets its first table sooner)."""
    manifest = check_object_keys(readable(read_manifest(ingest, batch_id)))
    return manifest, sorted(manifest.tables.items(), key=lambda item: item[1].rows)


def read_as_they_come(
    read: Callable[[str], R],
    tables: Iterable[tuple[str, TableEntry]],
    entries: dict[str, TableEntry],
    workers: int,
    reporter: Reporter,
    batch_id: str,
) -> dict[str, R]:
    """``read(name)`` of each source table with rows, on up to ``workers`` threads, each begun
    as soon as ``tables`` yields it (polars and pyarrow release the GIL, so tables really are
    parsed and written in parallel). ``entries`` gets each table's entry as it comes."""
    futures: dict[str, Future[R]] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        try:
            for name, entry in tables:
                if name not in SOURCE_TABLES:
                    reporter.warning(
                        f"batch {batch_id}: ignoring unknown table {name}", batch_id=batch_id
                    )
                elif entry.rows:
                    entries[name] = entry
                    futures[name] = pool.submit(read, name)
        except BaseException:
            for pending in futures.values():
                pending.cancel()
            raise
        return {name: done.result() for name, done in futures.items()}

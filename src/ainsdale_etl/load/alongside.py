"""run-all's load of a new batch while its transform is still writing it.

Run one after the other, the warehouse idles while a batch is transformed, and the client's
CPU idles while the warehouse copies. So run-all hands each star table to the load as soon as
the transform has written its object: the load runs on a thread of its own, in its own
transaction, bulk-copying tables as they arrive (see :func:`.load.load_tables`), and
commits only after the transform has committed its manifest. At scale 100 this hid most of
the transform behind the load.

While it waits for the next table, the load's transaction holds the locks its copies took
(a bulk load drops keys: an exclusive lock on that table until commit), so readers of a table
loaded early wait until the batch commits, as they would for any load of it.

This is only ever a shortcut. If the transform fails, or the load does for any reason, the
load's transaction is rolled back and the batch is loaded the ordinary way once the transform
is done (``pipeline.steps.load_pending``), with its retries and quarantine rules; so a failure
here is never reported twice, and never decides anything on its own.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, cast

from ainsdale_etl.core.errors import BadInputError, LockedError
from ainsdale_etl.runtime.failures import describe_failure
from ainsdale_etl.runtime.shutdown import StopRequestedError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from ainsdale_etl.core.batches import TableEntry
    from ainsdale_etl.core.events import Progress, Reporter
    from ainsdale_etl.load.table_data import TableData
    from ainsdale_etl.runtime.context import Context

_DONE = "done"  # the transform committed: every table has arrived
_ABANDON = "abandon"  # the transform failed or repeated itself: roll back


class _Abandoned(Exception):
    """The transform did not commit what this load was loading."""


class Marked:
    """The run's reporter, with every event of this load marked ``alongside``: they are logged
    as usual, but do not move where the run is said to be (the step and batch a failure alert
    names), which is the transform's."""

    def __init__(self, inner: Reporter) -> None:
        self._inner = inner

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        self._inner.event(event, message, alongside=True, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._inner.warning(message, alongside=True, **fields)

    def progress(self, description: str, total: int) -> AbstractContextManager[Progress]:
        return self._inner.progress(description, total)


class LoadAlongside:
    """Loads one batch in the background while its transform writes it.

    Call :meth:`table_written` for each star table as its object is written, then
    :meth:`transform_committed` and :meth:`result`; or :meth:`abandon` if the transform failed.
    """

    def __init__(self, ctx: Context, batch_id: str, *, force: bool = False) -> None:
        self._ctx, self._batch_id, self._force = ctx, batch_id, force
        self._arrivals: SimpleQueue[tuple[str, TableEntry] | str] = SimpleQueue()
        self._seen: set[str] = set()
        self._loaded: dict[str, TableEntry] = {}
        self._merged: dict[str, int] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"load {batch_id}", daemon=True)
        self._thread.start()

    def table_written(self, name: str, entry: TableEntry) -> None:
        if name in self._seen:  # the transform is being retried: what it wrote before is moot
            self._arrivals.put(_ABANDON)
        self._seen.add(name)
        self._arrivals.put((name, entry))

    def transform_committed(self) -> None:
        self._arrivals.put(_DONE)

    def abandon(self) -> None:
        self._arrivals.put(_ABANDON)
        self._thread.join()

    def result(self) -> dict[str, int] | None:
        """The rows each table merged, once the load has committed; None if it did not (the
        batch is then for the ordinary load). A stop or a lost lock is raised here."""
        self._thread.join()
        if isinstance(self._error, StopRequestedError | LockedError):
            raise self._error
        if self._error is not None and not isinstance(self._error, BadInputError | _Abandoned):
            # Bad input will be reported by the ordinary load, which meets it again.
            message, _ = describe_failure(cast(Exception, self._error))
            self._ctx.reporter.warning(
                f"loading batch {self._batch_id} alongside its transform failed ({message}); "
                "loading it after the transform instead",
                batch_id=self._batch_id,
                step="load",
                alongside=True,
            )
        return self._merged

    def _tables(self, tmp: Path) -> Iterator[tuple[str, TableData]]:
        from ainsdale_etl.load.table_data import open_star_table

        while (arrival := self._arrivals.get()) != _DONE:
            if isinstance(arrival, str):  # _ABANDON
                raise _Abandoned
            name, entry = arrival
            self._loaded[name] = entry
            yield name, open_star_table(self._ctx.processed, self._batch_id, entry, tmp)

    def _check_committed(self) -> None:
        """Commit only what the transform committed: every table of its manifest, as written."""
        from ainsdale_etl.core.batches import read_manifest

        manifest = read_manifest(self._ctx.processed, self._batch_id)
        committed = {n: (e.key, e.sha256) for n, e in manifest.tables.items() if e.rows}
        if committed != {n: (e.key, e.sha256) for n, e in self._loaded.items()}:
            raise _Abandoned

    def _before_commit(self) -> None:
        self._check_committed()
        self._ctx.lock_check()

    def _run(self) -> None:
        from ainsdale_etl.load.deletions import deletions_of
        from ainsdale_etl.load.load import load_tables, report_loaded
        from ainsdale_etl.load.migrate import ensure_warehouse

        ctx = self._ctx
        reporter = Marked(ctx.reporter)
        started = time.perf_counter()
        try:
            ensure_warehouse(ctx.warehouse, force=self._force)
            reporter.event("batch_started", step="load", batch_id=self._batch_id)
            with tempfile.TemporaryDirectory() as tmp:
                merged = load_tables(
                    ctx.warehouse,
                    self._batch_id,
                    self._tables(Path(tmp)),
                    bulk_min_rows=ctx.settings.bulk_load_min_rows,
                    reporter=reporter,
                    before_commit=self._before_commit,
                    deletions=lambda: deletions_of(ctx.ingest, self._batch_id),
                )
            report_loaded(reporter, self._batch_id, merged, time.perf_counter() - started)
            self._merged = merged
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

"""run-all's transform (and load) of a new batch while its extract is still writing it.

Run one after the other, the transform waits for the slowest table's extract, and the client's
CPU idles while the server copies out. So when nothing else waits (no batch pending a
transform or a load, none quarantined), run-all hands each table to the transform as soon as
the extract has written its object (:mod:`ainsdale_etl.transform.arrivals`), and the transform
hands each star table on to the load alongside it (:mod:`ainsdale_etl.load.alongside`): the
three steps of one table overlap, and of different tables too.

Nothing is committed out of turn: the transform's manifest is written only after the extract's,
the load's transaction only after the transform's manifest. Like the load alongside, this is
only ever a shortcut. If the extract fails, the transform is abandoned; if the transform fails
for any reason, nothing of it is kept and the batch is transformed the ordinary way after the
extract, under the quarantine rules (so bad input is reported once, by that transform).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, cast

from ainsdale_etl.core.errors import BadInputError, LockedError
from ainsdale_etl.runtime.failures import describe_failure
from ainsdale_etl.runtime.shutdown import StopRequestedError
from ainsdale_etl.transform.arrivals import Arrivals, ArrivalsAbandonedError

if TYPE_CHECKING:
    from ainsdale_etl.core.batches import Manifest, TableEntry
    from ainsdale_etl.extract.extract import ExtractResult
    from ainsdale_etl.runtime.context import Context


class TransformAlongside:
    """Transforms (and loads) the batch being extracted, table by table as it is written.

    Pass :meth:`table_extracted` to the extract as its ``on_table``; then call :meth:`finish`
    with the extract's result, or :meth:`abandon` if the extract failed.
    """

    def __init__(self, ctx: Context, *, force: bool = False) -> None:
        self._ctx, self._force = ctx, force
        self._lock = threading.Lock()
        self._arrivals: Arrivals | None = None
        self._thread: threading.Thread | None = None
        self._given_up = False
        self._transformed = False
        self._merged: dict[str, int] | None = None
        self._error: BaseException | None = None
        self._received: dict[str, TableEntry] = {}

    def table_extracted(self, batch_id: str, name: str, entry: TableEntry) -> None:
        with self._lock:
            if self._given_up:
                return
            try:
                self._take(batch_id, name, entry)
            except Exception:  # never the extract's failure: this is only a shortcut
                self._give_up()

    def _take(self, batch_id: str, name: str, entry: TableEntry) -> None:  # under the lock
        if self._arrivals is None:
            self._arrivals = Arrivals(batch_id)
            self._thread = threading.Thread(
                target=self._run, args=(self._arrivals,), name=f"transform {batch_id}"
            )
            self._thread.start()
        elif self._arrivals.batch_id != batch_id or name in self._received:
            # The extract began again (a transient fault), under a new id or, with this host's
            # clock behind the last batch's, the same one: what arrived before is moot.
            self._give_up()
            return
        self._received[name] = entry
        self._arrivals.table_written(name, entry)

    def abandon(self) -> None:
        with self._lock:
            self._give_up()
        self._join()

    def finish(self, extracted: ExtractResult) -> tuple[bool, dict[str, int] | None]:
        """Once the extract has committed: whether the batch was transformed here, and the rows
        its load merged (None: the batch is for the ordinary load). A stop or a lost lock is
        raised here."""
        from ainsdale_etl.core.batches import read_manifest

        try:
            with self._lock:
                arrivals = self._arrivals
                manifest = None
                if arrivals is not None and arrivals.batch_id == extracted.batch_id:
                    manifest = read_manifest(self._ctx.ingest, arrivals.batch_id)
                if manifest is None or not self._as_committed(manifest):
                    self._give_up()
                elif arrivals is not None:
                    arrivals.committed(manifest)
        except BaseException:  # the manifest unreadable: the transform must not wait for it
            self.abandon()
            raise
        self._join()
        error = self._error
        if isinstance(error, StopRequestedError | LockedError):
            raise error
        if error is not None and not isinstance(error, BadInputError | ArrivalsAbandonedError):
            message, _ = describe_failure(cast(Exception, error))
            self._ctx.reporter.warning(
                f"transforming batch {extracted.batch_id} as it was extracted failed "
                f"({message}); transforming it after the extract instead",
                batch_id=extracted.batch_id,
                step="transform",
                alongside=True,
            )
        return self._transformed, self._merged

    def _as_committed(self, manifest: Manifest) -> bool:
        """Every table taken is the one the manifest commits (the same object and checksum)."""
        committed = {n: (e.key, e.sha256) for n, e in manifest.tables.items()}
        return all(committed.get(n) == (e.key, e.sha256) for n, e in self._received.items())

    def _give_up(self) -> None:  # under the lock
        self._given_up = True
        if self._arrivals is not None:
            self._arrivals.abandon()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self, arrivals: Arrivals) -> None:
        from ainsdale_etl.load.alongside import LoadAlongside, Marked
        from ainsdale_etl.transform.transform import transform_batch

        ctx = self._ctx
        load = LoadAlongside(ctx, arrivals.batch_id, force=self._force)
        try:
            transform_batch(
                ctx.ingest,
                ctx.processed,
                arrivals.batch_id,
                Marked(ctx.reporter),
                workers=ctx.settings.workers,
                before_commit=ctx.lock_check,
                on_written=load.table_written,
                arrivals=arrivals,
            )
        except BaseException as exc:  # handed to the caller's thread by finish()
            load.abandon()
            self._error = exc
            return
        self._transformed = True
        load.transform_committed()
        try:
            self._merged = load.result()
        except BaseException as exc:
            self._error = exc

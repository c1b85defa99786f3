"""Extract: the rows of totesys that changed since the last committed batch, as CSV objects.

Every table is read in one REPEATABLE READ snapshot shared by the worker connections, each in
the window :mod:`ainsdale_etl.extract.windows` chooses, with one ``COPY`` (:mod:`copy_out`);
the batch is committed by its manifest once every table's object is written.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING, cast

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.batches import (
    Manifest,
    TableEntry,
    committed_batches,
    new_batch_id,
    object_key,
    sha256_file,
    write_manifest,
)
from ainsdale_etl.core.events import NullReporter, Reporter, rate
from ainsdale_etl.core.registry import SOURCE_TABLES, SourceTable
from ainsdale_etl.core.storage import Storage
from ainsdale_etl.extract.copy_out import copy_out
from ainsdale_etl.extract.tail import window_tail
from ainsdale_etl.extract.windows import copy_sql, format_ts, next_window, previous_windows
from ainsdale_etl.runtime.shutdown import checkpoint

if TYPE_CHECKING:
    import psycopg

_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class ExtractResult:
    batch_id: str | None  # None: nothing changed, nothing committed
    tables: dict[str, TableEntry]
    dry_run: bool = False

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables.values())


@contextmanager
def snapshot_connections(
    source: Database, count: int
) -> Iterator[tuple[datetime, list[psycopg.Connection]]]:
    """``count`` connections that all read one REPEATABLE READ snapshot, and its clock.

    The first connection exports its snapshot and the others adopt it (as pg_dump's parallel
    workers do), so tables read on different connections are consistent with each other and
    with the window's upper bound. Nothing is written: every transaction is read-only.
    """
    from psycopg import IsolationLevel, sql

    with ExitStack() as stack:
        connections = []
        for _ in range(max(1, count)):
            conn = stack.enter_context(source.psycopg_connect())
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            connections.append(conn)
        first = connections[0]
        first.execute("SET DateStyle = 'ISO, YMD'")
        row = first.execute("SELECT localtimestamp(3), pg_export_snapshot()").fetchone()
        assert row is not None
        upper, snapshot = row
        for conn in connections[1:]:
            conn.execute("SET DateStyle = 'ISO, YMD'")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        yield upper, connections
        for conn in connections:
            conn.rollback()


def _changed_and_largest_first(conn: psycopg.Connection, names: list[str]) -> list[str]:
    """``names`` in the order to copy them: tables written to since they were last analyzed
    first (an incremental run's one changed table is its slowest: its new row versions are
    read for the first time), then by size on disk, largest first, so the workers finish
    together. The statistics only order the work; every table is read all the same."""
    rows = conn.execute(
        "SELECT c.relname, pg_relation_size(c.oid), coalesce(s.n_mod_since_analyze, 0) > 0 "
        "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace",
        [names],
    ).fetchall()
    rank = {name: (not changed, -size) for name, size, changed in rows}
    return sorted(names, key=lambda n: rank.get(n, (True, 0)))


def extract(
    source: Database,
    ingest: Storage,
    *,
    tables: list[str] | None = None,
    full: bool = False,
    lookback_seconds: float = 60.0,
    dry_run: bool = False,
    reporter: Reporter | None = None,
    batch_id: str | None = None,
    workers: int = 2,
    before_commit: Callable[[], None] = lambda: None,
) -> ExtractResult:
    """Extract changed rows of ``tables`` (default: all) into a new committed batch.

    Up to ``workers`` tables are copied at once, each on its own connection to the source.
    """
    reporter = reporter or NullReporter()
    reporter.event("step_started", step="extract")
    names = tables or list(SOURCE_TABLES)
    committed = committed_batches(ingest)
    # Batches are processed in id order: a new id sorts after the last committed one even if
    # this host's clock is behind the one that wrote it.
    batch_id = batch_id or new_batch_id(after=committed[-1] if committed else None)
    previous = {} if full else previous_windows(ingest, names, committed)
    lookback = timedelta(seconds=lookback_seconds)
    started = time.perf_counter()
    entries: dict[str, TableEntry] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        snapshot_connections(source, min(workers, len(names))) as (upper, connections),
        reporter.progress("extract", total=len(names)) as bar,
    ):
        idle: SimpleQueue[psycopg.Connection] = SimpleQueue()
        for conn in connections:
            idle.put(conn)

        def one(name: str) -> tuple[TableEntry, float]:
            checkpoint(f"during the extract of batch {batch_id} (no batch was committed)")
            table_started = time.perf_counter()
            conn = idle.get()
            try:
                entry, csv_path = _extract_table(
                    conn, SOURCE_TABLES[name], previous.get(name), upper, lookback, Path(tmp),
                    batch_id,
                )  # fmt: skip
            finally:
                idle.put(conn)
            if csv_path is not None and not dry_run:
                ingest.put_file(entry.key or "", csv_path)
                csv_path.unlink()
            return entry, time.perf_counter() - table_started

        with ThreadPoolExecutor(max_workers=len(connections)) as pool:
            order = _changed_and_largest_first(connections[0], names)
            futures = {n: pool.submit(one, n) for n in order}
            # The first failure is the one to report: a copy that fails closes its connection,
            # and the tables queued behind it on that connection then fail for that reason.
            for done in as_completed(futures.values()):
                if done.exception() is not None:
                    for future in futures.values():
                        future.cancel()
                    raise cast(BaseException, done.exception())
            for name in names:
                entry, seconds = futures[name].result()
                entries[name] = entry
                reporter.event(
                    "table_extracted",
                    step="extract",
                    batch_id=batch_id,
                    table=name,
                    **rate(entry.rows, seconds),
                )
                bar.advance()
    rows = sum(e.rows for e in entries.values())
    if rows == 0:
        reporter.event(
            "no_changes", "no rows changed since the last batch; nothing committed", step="extract"
        )
        return ExtractResult(None, entries, dry_run)
    if not dry_run:
        manifest = Manifest(
            batch_id=batch_id,
            stage="extract",
            created_at=datetime.now().astimezone().isoformat(),
            full=full or not previous,
            tables=entries,
        )
        before_commit()  # e.g. confirm the run still holds its lock
        write_manifest(ingest, manifest)
        reporter.event(
            "batch_committed",
            step="extract",
            batch_id=batch_id,
            **rate(rows, time.perf_counter() - started),
        )
    return ExtractResult(batch_id, entries, dry_run)


def _extract_table(
    conn: psycopg.Connection,
    table: SourceTable,
    prev: TableEntry | None,
    upper: datetime,
    lookback: timedelta,
    tmp: Path,
    batch_id: str,
) -> tuple[TableEntry, Path | None]:
    window = next_window(prev, upper, lookback)
    path = tmp / f"{table.name}.csv"
    with path.open("wb", buffering=_WRITE_BUFFER) as out:
        rows = copy_out(conn, copy_sql(table, window), out)
    tail = window_tail(conn, table, window, path, rows, lookback)
    entry = TableEntry(
        lower=format_ts(window.lower) if window.lower else None,
        upper=format_ts(upper),
        tail=tail,
        rows=rows,
    )
    if rows == 0:
        return entry, None
    entry.key = object_key(batch_id, table.name, "csv")
    entry.sha256 = sha256_file(path)
    return entry, path

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
from datetime import datetime
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING, cast

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.batches import (
    History,
    Manifest,
    TableEntry,
    new_batch_id,
    object_key,
    sha256_file,
    write_manifest,
)
from ainsdale_etl.core.events import NullReporter, Reporter, counted, rate
from ainsdale_etl.core.registry import SOURCE_TABLES, SourceTable
from ainsdale_etl.core.storage import Storage
from ainsdale_etl.extract import deadlines
from ainsdale_etl.extract.copy_out import copy_out
from ainsdale_etl.extract.deletions import (
    Known,
    batches_since_check,
    check_keys_of,
    encode_ids,
    known_ids,
    unchanged,
)
from ainsdale_etl.extract.drift import DriftPolicy, guard_source_columns
from ainsdale_etl.extract.history import read_source_state, whole_reads
from ainsdale_etl.extract.in_flight import InFlight, age_reference, read_in_flight, read_unfinished
from ainsdale_etl.extract.prior import Prior
from ainsdale_etl.extract.windows import (
    Snapshot,
    copy_sql,
    format_ts,
    next_window,
    previous_batches,
)
from ainsdale_etl.runtime.shutdown import checkpoint
from ainsdale_etl.testing.faults import fault_point

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


@dataclass(frozen=True)
class SourceSnapshot:
    """The one snapshot an extract reads in: its clock (UTC), what it could not see, and the
    connections sharing it, each with the xid its ``age()`` measures from."""

    upper: datetime
    snapshot: Snapshot
    in_flight: InFlight
    connections: dict[psycopg.Connection, int]


@contextmanager
def snapshot_connections(source: Database, count: int) -> Iterator[SourceSnapshot]:
    """``count`` connections that all read one REPEATABLE READ snapshot.

    The first connection exports its snapshot and the others adopt it (as pg_dump's parallel
    workers do), so tables read on different connections are consistent with each other and
    with the recorded snapshot. Nothing is written: every transaction is read-only.
    """
    from psycopg import IsolationLevel, sql

    with ExitStack() as stack:
        connections = []
        for _ in range(max(1, count)):
            # Every statement has a deadline from the start (each table's read gets its own,
            # sized by the table: bound_reads); set at connect, it costs no round trip.
            floor = {"options": f"-c statement_timeout={deadlines.STATEMENT_FLOOR_MS}"}
            conn = stack.enter_context(source.psycopg_connect(options=floor))
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            # (Timestamps print the same whatever the role's or the database's defaults: every
            # session's DateStyle and TimeZone are pinned as it connects, see adapters/postgres.)
            conn.read_only = True
            connections.append(conn)
        first = connections[0]
        # Asked in a transaction of its own, so the snapshot below is taken after it.
        unfinished = read_unfinished(first)
        first.rollback()
        row = first.execute(
            "SELECT localtimestamp(3), pg_current_snapshot()::text, pg_export_snapshot()"
        ).fetchone()
        assert row is not None
        upper, current, exported = row
        snapshot = Snapshot.parse(current)
        in_flight = read_in_flight(first, snapshot, unfinished)
        for conn in connections[1:]:
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(exported)))
        references = {conn: age_reference(conn, snapshot) for conn in connections}
        yield SourceSnapshot(upper, snapshot, in_flight, references)
        for conn in connections:
            conn.rollback()


def _changed_and_largest_first(conn: psycopg.Connection, names: list[str]) -> list[str]:
    """``names`` in the order to copy them: tables written to since they were last analyzed
    first (an incremental run's one changed table is its slowest: its new row versions are
    read for the first time), then by size on disk, largest first, so the workers finish
    together. The statistics only order the work; every table is read all the same. (Sizes
    as the catalog last counted them: ``pg_relation_size`` would wait on a lock a migration
    holds.)"""
    rows = conn.execute(
        "SELECT c.relname, c.relpages, coalesce(s.n_mod_since_analyze, 0) > 0 "
        "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace",
        [names],
    ).fetchall()
    rank = {name: (not changed, -size) for name, size, changed in rows}
    return sorted(names, key=lambda n: rank.get(n, (True, 0)))


def extract(
    source: Database,
    ingest: Storage,
    prior: Prior,
    *,
    tables: list[str] | None = None,
    full: bool = False,
    key_check_every: int = 1,
    dry_run: bool = False,
    reporter: Reporter | None = None,
    batch_id: str | None = None,
    workers: int = 2,
    before_commit: Callable[[], None] = lambda: None,
    source_drift: DriftPolicy = "warn",
) -> ExtractResult:
    """Extract changed rows of ``tables`` (default: all) into a new committed batch.

    Up to ``workers`` tables are copied at once, each on its own connection to the source.
    Every ``key_check_every`` batches (0: never), each table's ids are compared with those
    delivered so far, to find the rows deleted at the source. The source's columns are
    compared with the registry's first, under ``source_drift`` (see :mod:`.drift`). Each
    table's window follows on from ``prior``'s batches (the ledger's).
    """
    reporter = reporter or NullReporter()
    reporter.event("step_started", step="extract")
    names = tables or list(SOURCE_TABLES)
    history = prior.history(ingest)
    # Batches are processed in id order: a new id sorts after the last committed one even if
    # this host's clock is behind the one that wrote it.
    batch_id = batch_id or new_batch_id(after=prior.newest)
    last = {} if full else previous_batches(prior.window_history(ingest), names)
    previous = {name: manifest.tables[name] for name, manifest in last.items()}
    first_for_all = not previous
    started = time.perf_counter()
    entries: dict[str, TableEntry] = {}
    with tempfile.TemporaryDirectory() as tmp:
        known = {
            name: known_ids(ingest, SOURCE_TABLES[name], history, Path(tmp))
            for name in names
            if _key_check_due(name, history, key_check_every)
        }
        with (
            snapshot_connections(source, min(workers, len(names))) as snap,
            reporter.progress("extract", total=len(names)) as bar,
        ):
            guard_source_columns(next(iter(snap.connections)), names, source_drift, reporter)
            now = read_source_state(next(iter(snap.connections)), names)
            # Read whole, as a first extract is: their last windows belong to another history.
            for name in whole_reads(last, now, reporter):
                previous.pop(name, None)
            idle: SimpleQueue[psycopg.Connection] = SimpleQueue()
            for conn in snap.connections:
                idle.put(conn)

            def one(name: str) -> tuple[TableEntry, float, str | None]:
                checkpoint(f"during the extract of batch {batch_id} (no batch was committed)")
                table_started = time.perf_counter()
                conn = idle.get()
                try:
                    entry, csv_path, why_whole = _extract_table(
                        conn, SOURCE_TABLES[name], previous.get(name), snap, Path(tmp),
                        batch_id, name in known, known.get(name),
                    )  # fmt: skip
                finally:
                    idle.put(conn)
                if not dry_run:
                    ids_path = Path(tmp) / f"{name}.ids"
                    for path, key in ((csv_path, entry.key), (ids_path, entry.ids_key)):
                        if path is not None and key is not None and path.exists():
                            ingest.put_file(key, path)
                            path.unlink()
                return entry, time.perf_counter() - table_started, why_whole

            with ThreadPoolExecutor(max_workers=len(snap.connections)) as pool:
                order = _changed_and_largest_first(next(iter(snap.connections)), names)
                futures = {n: pool.submit(one, n) for n in order}
                # The first failure is the one to report: a copy that fails closes its
                # connection, and the tables queued behind it on that connection then fail
                # for that reason.
                for done in as_completed(futures.values()):
                    if done.exception() is not None:
                        for future in futures.values():
                            future.cancel()
                        raise cast(BaseException, done.exception())
                for name in names:
                    entry, seconds, why_whole = futures[name].result()
                    entries[name] = entry
                    _report_table(reporter, batch_id, name, entry, seconds, why_whole)
                    bar.advance()
    rows = sum(e.rows for e in entries.values())
    deleted = sum(len(e.deleted) for e in entries.values())
    if rows == 0 and deleted == 0:
        reporter.event(
            "no_changes", "no rows changed since the last batch; nothing committed", step="extract"
        )
        return ExtractResult(None, entries, dry_run)
    if not dry_run:
        manifest = Manifest(
            batch_id=batch_id,
            stage="extract",
            created_at=datetime.now().astimezone().isoformat(),
            full=full or first_for_all,
            follows=prior.follows,
            source=now.identity,
            enums=now.enums,
            tables=entries,
        )
        fault_point("extract_committing")
        before_commit()  # e.g. confirm the run still holds its lock
        write_manifest(ingest, manifest)
        reporter.event(
            "batch_committed",
            step="extract",
            batch_id=batch_id,
            **rate(rows, time.perf_counter() - started),
        )
    return ExtractResult(batch_id, entries, dry_run)


def _key_check_due(name: str, history: History, every: int) -> bool:
    if every == 0:
        return False
    since = batches_since_check(name, history)
    return since is None or since + 1 >= every


def _report_table(
    reporter: Reporter,
    batch_id: str,
    name: str,
    entry: TableEntry,
    seconds: float,
    why_whole: str | None,
) -> None:
    if why_whole:
        reporter.warning(
            f"{name}: read whole, because {why_whole}; rows seen before are not loaded twice",
            kind="table_read_whole",
            step="extract",
            table=name,
        )
    if entry.deleted:
        reporter.warning(
            f"{name}: {counted(len(entry.deleted))} deleted in totesys since the last check "
            f"(e.g. id {entry.deleted[0]})",
            kind="rows_deleted_at_source",
            step="extract",
            batch_id=batch_id,
            table=name,
            count=len(entry.deleted),
        )
    timing = rate(entry.rows, seconds)
    reporter.event("table_extracted", step="extract", batch_id=batch_id, table=name, **timing)


def _extract_table(
    conn: psycopg.Connection,
    table: SourceTable,
    prev: TableEntry | None,
    snap: SourceSnapshot,
    tmp: Path,
    batch_id: str,
    check_keys: bool,
    known: Known | None,
) -> tuple[TableEntry, Path | None, str | None]:
    """One table's rows read into a CSV under ``tmp``, and if ``check_keys``, its ids compared
    with ``known``, those delivered so far (None: none known, this check is the baseline)."""
    window = next_window(prev, snap.snapshot, snap.connections[conn])
    deadlines.bound_reads(conn, table)
    path = tmp / f"{table.name}.csv"
    with path.open("wb", buffering=_WRITE_BUFFER) as out:
        rows = copy_out(conn, copy_sql(table, window), out)
    entry = TableEntry(
        snapshot=str(snap.snapshot),
        in_flight_ranges=list(snap.in_flight.ranges),
        in_flight_from=snap.in_flight.uncertain_from,
        upper=format_ts(snap.upper),
        rows=rows,
    )
    if check_keys and known is not None and known.entry and unchanged(conn, table, rows, known):
        # The same ids as the last check: point at its object again.
        entry.ids_key, entry.ids_sha256 = known.entry.ids_key, known.entry.ids_sha256
        entry.ids_count = known.count
    elif check_keys:
        delivered = known.ids() if known is not None else None
        present, entry.deleted = check_keys_of(conn, table, window, path, rows, delivered)
        entry.ids_count = len(present)
        reusable = known.entry if known is not None and delivered is not None else None
        if reusable is not None and not rows and not entry.deleted:
            entry.ids_key, entry.ids_sha256 = reusable.ids_key, reusable.ids_sha256
        else:
            ids_path = tmp / f"{table.name}.ids"
            ids_path.write_bytes(encode_ids(present))
            entry.ids_key = object_key(batch_id, table.name, "ids")
            entry.ids_sha256 = sha256_file(ids_path)
    if rows == 0:
        path.unlink()
        return entry, None, window.why_whole
    entry.key = object_key(batch_id, table.name, "csv")
    entry.sha256 = sha256_file(path)
    return entry, path, window.why_whole

"""Extract: the rows of totesys that changed since the last committed batch, as CSV objects.

Change capture by ``last_updated`` -- why no row is ever lost
--------------------------------------------------------------
Each table is read in a window ``[lower, upper)`` inside one REPEATABLE READ snapshot:

* ``upper`` is the database's own clock (``localtimestamp(3)``) when the snapshot is taken, so
  the windows of successive runs tile time with no gap, and the application's clock skew does
  not matter: ``last_updated`` comes from the same clock.
* A row is invisible to the snapshot if its transaction commits later, yet its ``last_updated``
  (set when the transaction wrote it) can lie before ``upper``. A window that started exactly
  at the previous ``upper`` would skip it forever. So each window starts ``lookback`` earlier
  (``AINSDALE_EXTRACT_LOOKBACK_SECONDS``, default 60 s: longer than any totesys transaction),
  inclusive.
* Rows seen in that overlap are not extracted twice: each manifest records the keys
  ``(id, last_updated)`` of the rows it read in its last ``lookback`` (the "tail"), and the
  next extract drops exactly those. Rows sharing the boundary timestamp are therefore neither
  lost (the bound is inclusive) nor duplicated (they are in the tail). Downstream, the
  warehouse's unique natural key makes even a repeated row harmless.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.batches import (
    Manifest,
    TableEntry,
    committed_batches,
    new_batch_id,
    object_key,
    read_manifest,
    sha256_file,
    write_manifest,
)
from ainsdale_etl.database import Database, fetch_all
from ainsdale_etl.events import NullReporter, Reporter
from ainsdale_etl.schema import SOURCE_TABLES, Kind, SourceTable, quote_ident
from ainsdale_etl.shutdown import checkpoint
from ainsdale_etl.storage import Storage

if TYPE_CHECKING:
    import polars as pl
    from adbc_driver_postgresql.dbapi import Cursor

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.3f"  # totesys keeps milliseconds; so do we
_PY_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class ExtractResult:
    batch_id: str | None  # None: nothing changed, nothing committed
    tables: dict[str, TableEntry]
    dry_run: bool = False

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables.values())


def select_sql(table: SourceTable, *, bounded_below: bool) -> str:
    """The window query for ``table``; money and enums travel as exact text."""
    columns = ", ".join(
        f"{quote_ident(c.name)}::text AS {quote_ident(c.name)}"
        if c.kind in (Kind.MONEY, Kind.ENUM)
        else quote_ident(c.name)
        for c in table.columns
    )
    lower = '"last_updated" >= $1::timestamp AND ' if bounded_below else ""
    upper = "$2::timestamp" if bounded_below else "$1::timestamp"
    return f'SELECT {columns} FROM {quote_ident(table.name)} WHERE {lower}"last_updated" < {upper}'


def previous_windows(ingest: Storage, tables: Iterable[str]) -> dict[str, TableEntry]:
    """The last committed window of each table (tables never extracted are absent)."""
    wanted = set(tables)
    found: dict[str, TableEntry] = {}
    for batch_id in reversed(committed_batches(ingest)):
        if not wanted - found.keys():
            break
        manifest = read_manifest(ingest, batch_id)
        for name, entry in manifest.tables.items():
            if name in wanted and name not in found and entry.upper is not None:
                found[name] = entry
    return found


def _format_ts(value: datetime) -> str:
    return value.strftime(_PY_TIMESTAMP)[:-3]


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
) -> ExtractResult:
    """Extract changed rows of ``tables`` (default: all) into a new committed batch."""
    reporter = reporter or NullReporter()
    reporter.event("step_started", step="extract")
    names = tables or list(SOURCE_TABLES)
    batch_id = batch_id or new_batch_id()
    previous = {} if full else previous_windows(ingest, names)
    lookback = timedelta(seconds=lookback_seconds)
    entries: dict[str, TableEntry] = {}
    with (
        source.connect() as conn,
        conn.cursor() as cur,
        tempfile.TemporaryDirectory() as tmp,
        reporter.progress("extract", total=len(names)) as bar,
    ):
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        upper: datetime = fetch_all(cur, "SELECT localtimestamp(3)")[0][0]
        for name in names:
            checkpoint(f"during the extract of batch {batch_id} (no batch was committed)")
            started = time.perf_counter()
            prev = previous.get(name)
            entry, csv_path = _extract_table(
                cur, SOURCE_TABLES[name], prev, upper, lookback, Path(tmp), batch_id
            )
            entries[name] = entry
            if csv_path is not None and not dry_run:
                ingest.put_file(entry.key or "", csv_path)
            reporter.event(
                "table_extracted",
                step="extract",
                batch_id=batch_id,
                table=name,
                rows=entry.rows,
                seconds=round(time.perf_counter() - started, 3),
            )
            bar.advance()
        conn.rollback()  # read-only: nothing to commit in the source
    if sum(e.rows for e in entries.values()) == 0:
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
        write_manifest(ingest, manifest)
        reporter.event(
            "batch_committed", step="extract", batch_id=batch_id, rows=manifest.total_rows
        )
    return ExtractResult(batch_id, entries, dry_run)


def _extract_table(
    cur: Cursor,
    table: SourceTable,
    prev: TableEntry | None,
    upper: datetime,
    lookback: timedelta,
    tmp: Path,
    batch_id: str,
) -> tuple[TableEntry, Path | None]:
    import polars as pl

    lower: datetime | None = None
    if prev is not None and prev.upper is not None:
        lower = datetime.strptime(prev.upper, _PY_TIMESTAMP) - lookback
    params = [_format_ts(lower), _format_ts(upper)] if lower else [_format_ts(upper)]
    cur.execute(select_sql(table, bounded_below=lower is not None), params)
    reader = cur.fetch_record_batch()

    seen = _tail_frame(table, prev.tail if prev else [])
    tail_from = upper - lookback
    path = tmp / f"{table.name}.csv"
    rows = 0
    tail: list[pl.DataFrame] = []
    with path.open("wb") as out:
        for record_batch in reader:
            frame = pl.from_arrow(record_batch)
            assert isinstance(frame, pl.DataFrame)
            tail.append(
                frame.filter(pl.col("last_updated") >= tail_from).select(
                    table.id_column, "last_updated"
                )
            )
            if seen.height:
                frame = frame.join(seen, on=[table.id_column, "last_updated"], how="anti")
            if frame.height:
                frame.write_csv(out, include_header=rows == 0, datetime_format=TIMESTAMP_FORMAT)
                rows += frame.height
    tail_keys = pl.concat(tail) if tail else seen.clear()
    entry = TableEntry(
        lower=_format_ts(lower) if lower else None,
        upper=_format_ts(upper),
        tail=[(int(i), _format_ts(t)) for i, t in tail_keys.iter_rows()],
        rows=rows,
    )
    if rows == 0:
        return entry, None
    entry.key = object_key(batch_id, table.name, "csv")
    entry.sha256 = sha256_file(path)
    return entry, path


def _tail_frame(table: SourceTable, tail: list[tuple[int, str]]) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(
        {
            table.id_column: [i for i, _ in tail],
            "last_updated": [datetime.strptime(t, _PY_TIMESTAMP) for _, t in tail],
        },
        schema={table.id_column: pl.Int32, "last_updated": pl.Datetime("us")},
    )

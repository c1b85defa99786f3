"""Change capture: the window of each table's rows that an extract reads.

By ``last_updated`` -- why no row is ever lost
----------------------------------------------
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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import TableEntry, committed_batches, read_manifest
from ainsdale_etl.core.registry import SourceTable

if TYPE_CHECKING:
    from psycopg import sql

    from ainsdale_etl.core.storage import Storage

PY_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Window:
    """The rows of one table an extract reads: ``[lower, upper)`` less the keys already seen."""

    lower: datetime | None
    upper: datetime
    seen: list[tuple[int, str]]

    def where(self, table: SourceTable) -> sql.Composed:
        """The WHERE clause selecting the window's rows of ``table``."""
        from psycopg import sql

        updated = sql.Identifier(table.name, "last_updated")
        parts = [sql.SQL("{} < {}::timestamp").format(updated, sql.Literal(format_ts(self.upper)))]
        if self.lower is not None:
            parts.insert(
                0,
                sql.SQL("{} >= {}::timestamp").format(updated, sql.Literal(format_ts(self.lower))),
            )
        if self.seen:
            parts.append(
                sql.SQL(
                    "NOT EXISTS (SELECT FROM unnest({}::int[], {}::timestamp[]) AS seen(id, ts) "
                    "WHERE seen.id = {} AND seen.ts = {})"
                ).format(
                    sql.Literal([i for i, _ in self.seen]),
                    sql.Literal([t for _, t in self.seen]),
                    sql.Identifier(table.name, table.id_column),
                    updated,
                )
            )
        return sql.SQL(" AND ").join(parts)


def copy_sql(table: SourceTable, window: Window) -> sql.Composed:
    """``COPY (the window's rows) TO STDOUT`` as CSV with a header, columns in registry order.

    The server formats the CSV: money and enums as their exact text, timestamps in ISO style
    (trailing zeros of the milliseconds dropped, as PostgreSQL prints them), booleans t/f.
    """
    from psycopg import sql

    columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
    return sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT (FORMAT csv, HEADER)").format(
        columns, sql.Identifier(table.name), window.where(table)
    )


def previous_windows(
    ingest: Storage, tables: Iterable[str], committed: list[str] | None = None
) -> dict[str, TableEntry]:
    """The last committed window of each table (tables never extracted are absent);
    ``committed`` is the bucket's committed batch ids, if the caller has listed them already."""
    wanted = set(tables)
    found: dict[str, TableEntry] = {}
    for batch_id in reversed(committed if committed is not None else committed_batches(ingest)):
        if not wanted - found.keys():
            break
        manifest = read_manifest(ingest, batch_id)
        for name, entry in manifest.tables.items():
            if name in wanted and name not in found and entry.upper is not None:
                found[name] = entry
    return found


def format_ts(value: datetime) -> str:
    return value.strftime(PY_TIMESTAMP)[:-3]


def next_window(previous: TableEntry | None, upper: datetime, lookback: timedelta) -> Window:
    """The window to read after ``previous`` (None: the table's first, from the beginning):
    from ``lookback`` before the previous upper bound, less the keys that one already saw."""
    lower: datetime | None = None
    if previous is not None and previous.upper is not None:
        lower = datetime.strptime(previous.upper, PY_TIMESTAMP) - lookback
    return Window(lower, upper, list(previous.tail) if previous else [])

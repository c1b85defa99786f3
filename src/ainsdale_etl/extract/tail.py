"""The tail of a window: the keys ``(id, last_updated)`` of the rows it read in its last
lookback, which the next window skips (see :mod:`ainsdale_etl.extract.windows`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.registry import SourceTable
from ainsdale_etl.extract.windows import Window, format_ts

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql


# Up to this many rows copied, the tail's keys are read back from the CSV just written (about
# 2 us a row with the csv module) rather than found by scanning the table again (~0.1 s per
# million rows of the table, whatever the window holds). Not polars: the extract would then
# wait for its import, which run-all does in the background meanwhile.
TAIL_FROM_CSV_MAX_ROWS = 50_000


def copied_since(path: Path, table: SourceTable, since: datetime) -> list[tuple[int, str]] | None:
    """The keys ``(id, last_updated)`` of the rows in the CSV at ``path`` updated at or after
    ``since``, timestamps written as :func:`format_ts` writes them; None if the file cannot
    be read that way (a field longer than the csv module takes): the caller asks the server."""
    import csv

    # Only two columns are wanted; whatever the encoding of the others, they decode.
    with path.open(newline="", encoding="utf-8", errors="replace") as src:
        rows = csv.reader(src)
        header = next(rows)
        at_id, at_updated = header.index(table.id_column), header.index("last_updated")
        try:
            keyed = [(row[at_id], datetime.fromisoformat(row[at_updated])) for row in rows]
        except csv.Error:
            return None
    return [(int(i), format_ts(updated)) for i, updated in keyed if updated >= since]


def tail_sql(table: SourceTable, window: Window, since: datetime) -> sql.Composed:
    """The keys of the window's rows updated at or after ``since`` (seen ones included)."""
    from psycopg import sql

    whole = Window(window.lower, window.upper, [])
    return sql.SQL(
        "SELECT {}, to_char({}, 'YYYY-MM-DD HH24:MI:SS.MS') "  # as format_ts writes them
        "FROM {} WHERE {} AND {} >= {}::timestamp"
    ).format(
        sql.Identifier(table.id_column),
        sql.Identifier("last_updated"),
        sql.Identifier(table.name),
        whole.where(table),
        sql.Identifier(table.name, "last_updated"),
        sql.Literal(format_ts(since)),
    )


def window_tail(
    conn: psycopg.Connection,
    table: SourceTable,
    window: Window,
    csv_path: Path,
    rows: int,
    lookback: timedelta,
) -> list[tuple[int, str]]:
    """The tail of ``window`` once its ``rows`` have been copied to ``csv_path``: the keys of
    its rows updated in its last ``lookback``, seen ones included."""
    since = window.upper - lookback
    copied = copied_since(csv_path, table, since) if 0 < rows <= TAIL_FROM_CSV_MAX_ROWS else None
    if rows and copied is None:
        return [(int(i), t) for i, t in conn.execute(tail_sql(table, window, since)).fetchall()]
    # The window's rows are those just copied plus those seen before, so the tail is among
    # them: no second scan of the table (there is no index on last_updated) to find it. A
    # seen key whose row has changed or gone since is harmless: it matches no row.
    seen = {(i, t) for i, t in window.seen if t >= format_ts(since)}
    return sorted(seen.union(copied or ()))

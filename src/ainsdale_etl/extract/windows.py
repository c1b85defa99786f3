"""Change capture: which rows of a table an extract reads, by transaction visibility.

The promise: every committed version of every row that the source holds at the moment of an
extract reaches the warehouse, exactly once, whatever the length of the writers' transactions,
their clocks or their time zones.

Why not ``last_updated``
------------------------
``last_updated`` is whatever the writer stored: the start of its transaction (which can commit
minutes later, behind any window already read), in its session's time zone (Tokyo and Los
Angeles writers are seventeen hours apart), by its clock (which can run a day fast). No window
on it is safe. What is safe is the database's own record of which transaction wrote each row
version: its ``xmin``.

The window of a table
---------------------
Every extract reads in one REPEATABLE READ snapshot and records it in the manifest (as
``pg_current_snapshot()`` prints it: ``xmin:xmax:xip``). Every transaction below the snapshot's
``xmin`` had finished when it was taken; those in ``[xmin, xmax)`` had too, except the ones
still running ("in flight"). So the next extract reads, of the rows its own snapshot sees:

* every row written by a transaction at or above the previous ``xmax`` (new since), and
* every row written by a transaction in ``[xmin, xmax)`` that was in flight then.

The in-flight set is the snapshot's ``xip`` plus their subtransactions (a savepoint's writes
carry the subtransaction's own xid, which ``xip`` omits); :mod:`.in_flight` finds them. Where
it cannot be sure, it counts more as in flight, never fewer: a version read twice is harmless
downstream (dimensions are upserted, facts are unique on their natural key), a version never
read is lost.

In bounded space
----------------
A writer can hold hundreds of thousands of subtransactions open (an ORM's nested savepoints, a
PL/pgSQL ``EXCEPTION`` block per row). The in-flight set is kept as runs of consecutive xids
(``[first, last]``): such a writer's subtransactions are mostly one run. At most
``MAX_IN_FLIGHT_RANGES`` runs are kept, the oldest; every xid from the first one left out up
counts as in flight instead (``in_flight_from``), which reads more again, never less. So
neither a manifest nor the copy's SQL grows with the writers' transactions.

Each row's xid is compared through ``age(xmin)``, the distance from a reference xid that is
fixed for the transaction, so a table is still read by one sequential scan, as cheaply as a
range on a timestamp; xid wraparound is handled by working in 64-bit ``xid8`` for the bounds.

When the previous snapshot cannot be trusted -- a manifest from before this mechanism, a
source whose xids went backwards (a restore, a failover to another cluster), or one that ran
more than 2^31 transactions since -- the table is read whole, with a warning: duplicates
cost nothing downstream, a gap would cost a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import Manifest, TableEntry
from ainsdale_etl.core.registry import SourceTable

if TYPE_CHECKING:
    from psycopg import sql

PY_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"
_XID32 = 1 << 32
# Further apart than this, two xids cannot be told apart modulo 2^32: read the table whole.
MAX_XID_SPAN = (1 << 31) - 1
# Runs of in-flight xids kept in a manifest and sent in a copy's WHERE clause (see "In bounded
# space" above): each run is one comparison per row scanned.
MAX_IN_FLIGHT_RANGES = 100

XidRange = tuple[int, int]  # the xids first..last, both included


def xid_ranges(xids: Iterable[int]) -> tuple[XidRange, ...]:
    """``xids`` as sorted runs of consecutive xids."""
    runs: list[list[int]] = []
    for xid in sorted(set(xids)):
        if runs and xid == runs[-1][1] + 1:
            runs[-1][1] = xid
        else:
            runs.append([xid, xid])
    return tuple((first, last) for first, last in runs)


def merge_ranges(ranges: Iterable[XidRange]) -> tuple[XidRange, ...]:
    """``ranges`` sorted, with those that overlap or touch made one."""
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return tuple((first, last) for first, last in merged)


def bounded(
    ranges: Iterable[XidRange], uncertain_from: int | None
) -> tuple[tuple[XidRange, ...], int | None]:
    """An in-flight set in at most ``MAX_IN_FLIGHT_RANGES`` runs: those at or above
    ``uncertain_from`` go (it counts them already), and past the limit every xid from the
    first run left out up counts as in flight. Never fewer xids than given, often more."""
    kept = [r for r in merge_ranges(ranges) if uncertain_from is None or r[0] < uncertain_from]
    if len(kept) > MAX_IN_FLIGHT_RANGES:
        cut = kept[MAX_IN_FLIGHT_RANGES][0]
        uncertain_from = cut if uncertain_from is None else min(cut, uncertain_from)
        kept = kept[:MAX_IN_FLIGHT_RANGES]
    return tuple(kept), uncertain_from


def in_flight_of(entry: TableEntry) -> tuple[XidRange, ...]:
    """The in-flight runs a manifest entry records, as runs whatever release wrote it (before
    runs, every xid was listed in ``in_flight``)."""
    runs = (tuple(r) for r in entry.in_flight_ranges)
    return merge_ranges([*xid_ranges(entry.in_flight), *((r[0], r[1]) for r in runs)])


@dataclass(frozen=True)
class Snapshot:
    """A ``pg_snapshot``: xids below ``xmin`` finished, ``xip`` still running, ``xmax`` next."""

    xmin: int
    xmax: int
    xip: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), tuple(int(x) for x in xip.split(",") if x))

    def __str__(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(str(x) for x in self.xip)}"


@dataclass(frozen=True)
class Window:
    """The row versions of one table an extract reads: every one the snapshot sees whose xid is
    at or above ``floor`` (None: from the beginning), or in a run of ``also``, or at or above
    ``also_from``; and, for a batch read again, below ``below`` and in no run of ``excluding``
    (what that batch's own snapshot could see).

    ``reference`` is the xid ``age()`` measures from on the reading connection.
    """

    reference: int
    floor: int | None = None
    also: tuple[XidRange, ...] = ()
    also_from: int | None = None
    why_whole: str | None = field(default=None, compare=False)  # set when read whole on purpose
    below: int | None = None
    excluding: tuple[XidRange, ...] = ()

    def where(self, table: SourceTable) -> sql.Composable:
        """The WHERE clause selecting the window's rows of ``table``."""
        from psycopg import sql

        xmin = sql.SQL("{}.xmin").format(sql.Identifier(table.name))
        age = sql.SQL("age({})").format(xmin)

        # age(xmin) is reference - xid: 0 for the newest, INT_MAX for frozen or special xids.
        def at_least(xid: int) -> sql.Composable:
            return sql.SQL("{} BETWEEN 0 AND {}").format(age, sql.Literal(self.reference - xid))

        def any_of(ranges: tuple[XidRange, ...]) -> sql.Composable:
            # Lone xids in one array (hashed by the server), runs as ranges of age().
            lone = [first for first, last in ranges if first == last]
            parts: list[sql.Composable] = []
            if lone:
                parts.append(
                    sql.SQL("{} = ANY({}::xid[])").format(
                        xmin, sql.Literal([str(x % _XID32) for x in lone])
                    )
                )
            for first, last in ranges:
                if first != last:
                    parts.append(
                        sql.SQL("{} BETWEEN {} AND {}").format(
                            age,
                            sql.Literal(self.reference - last),
                            sql.Literal(self.reference - first),
                        )
                    )
            return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))

        conditions: list[sql.Composable] = []
        if self.floor is not None:
            lower = [at_least(min(self.floor, self.also_from or self.floor))]
            if self.also:
                lower.append(any_of(self.also))
            conditions.append(sql.SQL("({})").format(sql.SQL(" OR ").join(lower)))
        if self.below is not None:
            conditions.append(
                sql.SQL("{} > {}").format(age, sql.Literal(self.reference - self.below))
            )
            if self.excluding:
                conditions.append(sql.SQL("NOT {}").format(any_of(self.excluding)))
        return sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")


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


def previous_batches(history: Iterable[Manifest], tables: Iterable[str]) -> dict[str, Manifest]:
    """The manifest holding the last committed window of each table (tables never extracted
    are absent), from the committed manifests, newest first."""
    wanted = set(tables)
    found: dict[str, Manifest] = {}
    for manifest in history:
        for name, entry in manifest.tables.items():
            if name in wanted and name not in found and (entry.upper or entry.snapshot):
                found[name] = manifest
        if not wanted - found.keys():
            break  # before asking for an older manifest: that may take a listing of them all
    return found


def previous_windows(history: Iterable[Manifest], tables: Iterable[str]) -> dict[str, TableEntry]:
    """The last committed window of each table (tables never extracted are absent)."""
    return {name: m.tables[name] for name, m in previous_batches(history, tables).items()}


def format_ts(value: datetime) -> str:
    return value.strftime(PY_TIMESTAMP)[:-3]


def widen_to_xid8(xid32: int, near: int) -> int:
    """The 64-bit xid whose low 32 bits are ``xid32``, at or below ``near`` (an xid8)."""
    return near - ((near - xid32) % _XID32)


def window_of(
    previous: TableEntry | None, batch: TableEntry, snapshot: Snapshot, reference: int
) -> Window:
    """The window of a committed batch read again now: after ``previous`` (as
    :func:`next_window`), and no further than what ``batch``'s own snapshot could see. What
    changed since is in later batches; what was deleted since is gone."""
    assert batch.snapshot is not None
    own = Snapshot.parse(batch.snapshot)
    after = next_window(previous, snapshot, reference)
    # Only the runs listed: what the batch's snapshot may or may not have seen above its
    # in_flight_from is read again here (its next batch reads it too), rather than lost.
    excluding = merge_ranges([*xid_ranges(own.xip), *in_flight_of(batch)])
    return replace(after, below=own.xmax, excluding=excluding)


def next_window(previous: TableEntry | None, snapshot: Snapshot, reference: int) -> Window:
    """The window to read after ``previous`` (None: the table's first, read whole), on a
    connection whose ``age()`` measures from ``reference`` (an xid8 at or above the snapshot's
    ``xmax``)."""
    if previous is None:
        return Window(reference)
    if previous.snapshot is None:
        why = "its last batch was captured by timestamp (an older release)"
        return Window(reference, why_whole=why)
    before = Snapshot.parse(previous.snapshot)
    if before.xmax > snapshot.xmax:
        return Window(
            reference,
            why_whole=f"the source's transaction ids went backwards (from {before.xmax} to "
            f"{snapshot.xmax}): a restore or another server",
        )
    if reference - before.xmin > MAX_XID_SPAN:
        return Window(reference, why_whole="over 2^31 transactions ran since its last batch")
    in_flight, uncertain_from = bounded(
        [*xid_ranges(before.xip), *in_flight_of(previous)], previous.in_flight_from
    )
    return Window(reference, before.xmax, in_flight, uncertain_from)

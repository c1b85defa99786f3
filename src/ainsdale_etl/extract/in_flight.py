"""The transactions a snapshot could not see: the next window reads what they wrote.

A snapshot lists the top-level transactions running when it was taken (``xip``), but not
their subtransactions: a write made inside a savepoint carries the subtransaction's own xid,
which lies in ``[xmin, xmax)`` like the xids of transactions that had committed. Just after
the snapshot, each xid of that range is asked for its status (``pg_xact_status``, which any
role may call, answers "in progress" for the subtransactions of a running transaction too).
A transaction of ``xip`` that ended before that answer came may have left subtransactions
that now read "committed", like the transactions that had committed before the snapshot. To
tell them apart, the same question is asked just *before* the snapshot (``read_unfinished``):
an xid that had finished then was visible to the snapshot (unless its transaction was
ending just then: ``unfinished_of``). So when a transaction of ``xip``
ended in between, the xids from it up that had not finished before the snapshot count as in
flight too, and their rows are read again next time rather than lost; a write committed
earlier is not read twice. (Asking afterwards only, every xid from the ended transaction up
had to count: on a busy server each long transaction ending near a snapshot made the next
extract read everything written since that transaction began, again.)

The server answers in runs of consecutive xids, and at most ``MAX_IN_FLIGHT_RANGES`` of them
are kept (see "In bounded space" in :mod:`.windows`): a transaction holding 900,000
subtransactions is one run, not 900,000 numbers in every manifest and copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ainsdale_etl.extract.windows import (
    Snapshot,
    XidRange,
    bounded,
    widen_to_xid8,
    xid_ranges,
)

if TYPE_CHECKING:
    import psycopg

# Asking a status costs ~0.4 us: beyond this many xids in flight at once (a transaction open
# for days on a busy server), count them all as in flight instead.
MAX_STATUS_SCAN = 2_000_000
_HALF = 1 << 31


@dataclass(frozen=True)
class InFlight:
    """xids in ``[snapshot.xmin, snapshot.xmax)`` whose writes the snapshot did not see, as
    runs ``(first, last)``, and, if those may be incomplete, the xid from which every one
    counts as unseen."""

    ranges: tuple[XidRange, ...]
    uncertain_from: int | None = None


@dataclass(frozen=True)
class Unfinished:
    """xids that had not finished just before a snapshot: the runs in progress then, and
    every xid from ``since`` up (assigned afterwards, or not to be told apart)."""

    ranges: tuple[XidRange, ...]
    since: int


_IN_PROGRESS = "SELECT x FROM {} x WHERE pg_xact_status(x::text::xid8) = 'in progress'"


def read_unfinished(conn: psycopg.Connection) -> Unfinished:
    """What had not finished yet, asked on ``conn`` in a transaction of its own just before
    the extract's snapshot is taken (the caller ends it)."""
    row = conn.execute("SELECT pg_current_snapshot()::text").fetchone()
    assert row is not None
    before = Snapshot.parse(row[0])
    if not before.xip:
        return Unfinished((), before.xmax)  # everything below xmax had finished
    if before.xmax - before.xmin > MAX_STATUS_SCAN:
        return Unfinished((), before.xmin)
    runs = _runs_in_progress(conn, before)
    return unfinished_of(before, runs, _still_in_progress(conn, before))


def unfinished_of(before: Snapshot, runs: list[XidRange], still: set[int]) -> Unfinished:
    """What had not finished by the time ``runs`` (in progress in ``[before.xmin,
    before.xmax)``) was read, knowing which of ``before.xip`` were ``still`` in progress after.

    One of ``before.xip`` that ended meanwhile may have ended in the middle of the runs' scan,
    or be committed but still counted as running by the snapshot to come (a server that marks
    a commit before it takes the transaction off its running list, as while it waits for a
    synchronous replica): its subtransactions may have read "committed" and yet be unseen by
    that snapshot. They have larger xids: from it up, every xid counts as unfinished."""
    ended = [x for x in before.xip if x not in still]
    return Unfinished(tuple(runs), min([before.xmax, *ended]))


def read_in_flight(
    conn: psycopg.Connection, snapshot: Snapshot, unfinished: Unfinished
) -> InFlight:
    """The in-flight set of ``snapshot``, read on ``conn`` just after it was taken;
    ``unfinished`` was read just before."""
    if not snapshot.xip:
        return InFlight(())  # nothing was running below xmax: the common case
    if snapshot.xmax - snapshot.xmin > MAX_STATUS_SCAN:
        return InFlight(*bounded(xid_ranges(snapshot.xip), snapshot.xmin))
    runs = _runs_in_progress(conn, snapshot)
    return in_flight_of(snapshot, runs, _still_in_progress(conn, snapshot), unfinished)


def in_flight_of(
    snapshot: Snapshot, runs: list[XidRange], still: set[int], unfinished: Unfinished
) -> InFlight:
    """The xids ``snapshot`` did not see: those of its ``xip``, the ``runs`` in progress just
    after it, and, if one of its ``xip`` is no longer ``still`` in progress, every xid above
    that one which had not finished just before it (``unfinished``): a subtransaction of the
    ended one reads "committed" now, like a write the snapshot saw, but had not finished
    then."""
    unseen = [*runs, *xid_ranges(snapshot.xip)]
    ended = [x for x in snapshot.xip if x not in still]
    if ended:
        maybe_theirs = [*unfinished.ranges, (unfinished.since, snapshot.xmax - 1)]
        unseen += clip(maybe_theirs, min(ended), snapshot.xmax - 1)
    return InFlight(*bounded(unseen, None))


def _runs_in_progress(conn: psycopg.Connection, snapshot: Snapshot) -> list[XidRange]:
    """The xids of ``[snapshot.xmin, snapshot.xmax)`` in progress now, as runs."""
    # Runs ("gaps and islands"): consecutive xids share x - row_number().
    runs = conn.execute(
        "SELECT min(x), max(x) FROM (SELECT x, x - row_number() OVER (ORDER BY x) AS run FROM ("
        + _IN_PROGRESS.format("generate_series(%s::bigint, %s::bigint - 1)")
        + ") running) numbered GROUP BY run ORDER BY 1",
        [snapshot.xmin, snapshot.xmax],
    ).fetchall()
    return [(int(first), int(last)) for first, last in runs]


def _still_in_progress(conn: psycopg.Connection, snapshot: Snapshot) -> set[int]:
    """Which of ``snapshot.xip`` are in progress now (asked after the runs: see callers)."""
    xip = list(snapshot.xip)
    return {x for (x,) in conn.execute(_IN_PROGRESS.format("unnest(%s::bigint[])"), [xip])}


def clip(ranges: list[XidRange], first: int, last: int) -> list[XidRange]:
    """The parts of ``ranges`` within ``first..last``."""
    clipped = ((max(a, first), min(b, last)) for a, b in ranges)
    return [(a, b) for a, b in clipped if a <= b]


def age_reference(conn: psycopg.Connection, snapshot: Snapshot) -> int:
    """The xid8 that ``age(xid)`` measures from in ``conn``'s transaction (fixed at its first
    call in the transaction; at or above the snapshot's xmax)."""
    row = conn.execute("SELECT age('3'::xid)").fetchone()
    assert row is not None
    return widen_to_xid8((int(row[0]) + 3) % (1 << 32), snapshot.xmax + _HALF - 1)

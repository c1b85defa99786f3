"""The transactions a snapshot could not see: the next window reads what they wrote.

A snapshot lists the top-level transactions running when it was taken (``xip``), but not
their subtransactions: a write made inside a savepoint carries the subtransaction's own xid,
which lies in ``[xmin, xmax)`` like the xids of transactions that had committed. Just after
the snapshot, each xid of that range is asked for its status (``pg_xact_status``, which any
role may call, answers "in progress" for the subtransactions of a running transaction too).
A transaction of ``xip`` that ended before that answer came may have left subtransactions
that now read "committed": then every xid from it up counts as in flight, so its rows are
read again next time rather than lost.

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


def read_in_flight(conn: psycopg.Connection, snapshot: Snapshot) -> InFlight:
    """The in-flight set of ``snapshot``, read on ``conn`` just after it was taken."""
    if not snapshot.xip:
        return InFlight(())  # nothing was running below xmax: the common case
    if snapshot.xmax - snapshot.xmin > MAX_STATUS_SCAN:
        return InFlight(*bounded(xid_ranges(snapshot.xip), snapshot.xmin))
    status = "SELECT x FROM {} x WHERE pg_xact_status(x::text::xid8) = 'in progress'"
    # Runs ("gaps and islands"): consecutive xids share x - row_number().
    runs = conn.execute(
        "SELECT min(x), max(x) FROM (SELECT x, x - row_number() OVER (ORDER BY x) AS run FROM ("
        + status.format("generate_series(%s::bigint, %s::bigint - 1)")
        + ") running) numbered GROUP BY run ORDER BY 1",
        [snapshot.xmin, snapshot.xmax],
    ).fetchall()
    xip = list(snapshot.xip)
    still = {x for (x,) in conn.execute(status.format("unnest(%s::bigint[])"), [xip])}
    ended = [x for x in snapshot.xip if x not in still]
    return InFlight(
        *bounded(
            [*((int(a), int(b)) for a, b in runs), *xid_ranges(snapshot.xip)],
            min(ended) if ended else None,
        )
    )


def age_reference(conn: psycopg.Connection, snapshot: Snapshot) -> int:
    """The xid8 that ``age(xid)`` measures from in ``conn``'s transaction (fixed at its first
    call in the transaction; at or above the snapshot's xmax)."""
    row = conn.execute("SELECT age('3'::xid)").fetchone()
    assert row is not None
    return widen_to_xid8((int(row[0]) + 3) % (1 << 32), snapshot.xmax + _HALF - 1)

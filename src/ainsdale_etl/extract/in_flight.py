"""The transactions a snapshot could not see: the next window reads what they wrote.

A snapshot lists the top-level transactions running when it was taken (``xip``), but not
their subtransactions: a write made inside a savepoint carries the subtransaction's own xid,
which lies in ``[xmin, xmax)`` like the xids of transactions that had committed. Just after
the snapshot, each xid of that range is asked for its status (``pg_xact_status``, which any
role may call, answers "in progress" for the subtransactions of a running transaction too).
A transaction of ``xip`` that ended before that answer came may have left subtransactions
that now read "committed": then every xid from it up counts as in flight, so its rows are
read again next time rather than lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ainsdale_etl.extract.windows import Snapshot, widen_to_xid8

if TYPE_CHECKING:
    import psycopg

# Asking a status costs ~0.4 us: beyond this many xids in flight at once (a transaction open
# for days on a busy server), count them all as in flight instead.
MAX_STATUS_SCAN = 2_000_000
_HALF = 1 << 31


@dataclass(frozen=True)
class InFlight:
    """xids in ``[snapshot.xmin, snapshot.xmax)`` whose writes the snapshot did not see, and,
    if that list may be incomplete, the xid from which every one counts as unseen."""

    xids: tuple[int, ...]
    uncertain_from: int | None = None


def read_in_flight(conn: psycopg.Connection, snapshot: Snapshot) -> InFlight:
    """The in-flight set of ``snapshot``, read on ``conn`` just after it was taken."""
    if not snapshot.xip:
        return InFlight(())  # nothing was running below xmax: the common case
    if snapshot.xmax - snapshot.xmin > MAX_STATUS_SCAN:
        return InFlight(snapshot.xip, snapshot.xmin)
    status = "SELECT x FROM {} x WHERE pg_xact_status(x::text::xid8) = 'in progress' ORDER BY x"
    running = conn.execute(
        status.format("generate_series(%s::bigint, %s::bigint - 1)"),
        [snapshot.xmin, snapshot.xmax],
    ).fetchall()
    xip = list(snapshot.xip)
    still = {x for (x,) in conn.execute(status.format("unnest(%s::bigint[])"), [xip])}
    ended = [x for x in snapshot.xip if x not in still]
    return InFlight(
        tuple(sorted({x for (x,) in running} | set(snapshot.xip))),
        min(ended) if ended else None,
    )


def age_reference(conn: psycopg.Connection, snapshot: Snapshot) -> int:
    """The xid8 that ``age(xid)`` measures from in ``conn``'s transaction (fixed at its first
    call in the transaction; at or above the snapshot's xmax)."""
    row = conn.execute("SELECT age('3'::xid)").fetchone()
    assert row is not None
    return widen_to_xid8((int(row[0]) + 3) % (1 << 32), snapshot.xmax + _HALF - 1)

"""One run at a time: a PostgreSQL advisory lock in the warehouse guards every step that writes.

The scheduler may start a run while the last one is still going, and an engineer may run a
backfill beside it. Two runs interleaving could extract overlapping windows or load the same
batch twice, so every writing command holds this lock for its whole duration. It is a
session-level lock on a connection of its own: if the process dies, PostgreSQL drops the
connection and the lock with it, so a crash never leaves the pipeline locked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ainsdale_etl.database import Database, fetch_all
from ainsdale_etl.errors import LockedError
from ainsdale_etl.faults import fault_point
from ainsdale_etl.shutdown import checkpoint

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor

# A fixed key for "the ainsdale-etl pipeline" (below 2**31 so pg_locks shows it as objid).
PIPELINE_LOCK_KEY = 0x61696E73  # "ains"
POLL_SECONDS = 0.5


def _holder(db: Database) -> str:
    """Who holds the lock, as far as pg_stat_activity tells (may be hidden without privileges)."""
    with db.connect(autocommit=True) as conn, conn.cursor() as cur:
        rows = fetch_all(
            cur,
            """SELECT a.pid, coalesce(host(a.client_addr), 'local socket'),
                      to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')
               FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0
                 AND l.objid = $1::bigint::oid AND l.database = (
                     SELECT oid FROM pg_database WHERE datname = current_database())""",
            [PIPELINE_LOCK_KEY],
        )
    if not rows:
        return "another run"
    pid, client, since = rows[0]
    return f"another run (backend pid {pid}, from {client}, since {since})"


class HeldLock:
    """The lock while it is held; :meth:`verify` before anything commits.

    The lock lives as long as its connection. If that connection drops (a failover, a network
    cut, an idle-session timeout), the lock is gone and another run may start: the run must
    then stop before committing anything more.
    """

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def verify(self) -> None:
        import adbc_driver_manager

        try:
            fetch_all(self._cursor, "SELECT 1")
        except adbc_driver_manager.Error:
            raise LockedError(
                "lost the pipeline lock (its connection to the warehouse dropped), so another "
                "run may have started; stopped before committing anything more: rerun"
            ) from None


@contextmanager
def pipeline_lock(db: Database, *, wait_seconds: float) -> Iterator[HeldLock]:
    """Hold the pipeline lock, waiting up to ``wait_seconds`` for it; else :class:`LockedError`."""
    deadline = time.monotonic() + wait_seconds
    with db.connect(autocommit=True) as conn, conn.cursor() as cur:
        while not fetch_all(cur, "SELECT pg_try_advisory_lock($1)", [PIPELINE_LOCK_KEY])[0][0]:
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait_seconds:g} s" if wait_seconds else ""
                raise LockedError(
                    f"{_holder(db)} holds the pipeline lock on the warehouse{waited}; "
                    "nothing was done: retry later, or pass --wait SECONDS to queue behind it"
                )
            checkpoint("while waiting for the pipeline lock")
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        fault_point("lock_acquired")
        yield HeldLock(cur)
        # Closing the connection releases the lock, on success and failure alike.

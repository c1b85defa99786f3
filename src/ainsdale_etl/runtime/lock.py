"""One run at a time: a PostgreSQL advisory lock in the warehouse guards every step that writes.

The scheduler may start a run while the last one is still going, and an engineer may run a
backfill beside it. Two runs interleaving could extract overlapping windows or load the same
batch twice, so every writing command holds this lock for its whole duration. It is a
session-level lock on a connection of its own: if the process dies, PostgreSQL drops the
connection and the lock with it, so a crash never leaves the pipeline locked.

That connection sits idle for the whole run while others do the work, and an idle connection
is what an ``idle_session_timeout``, a NAT gateway or a proxy cuts. So it has TCP keepalives
(the network sees traffic and a dead peer is noticed within about a minute) and a heartbeat
thread sends ``SELECT 1`` every :data:`HEARTBEAT_SECONDS`: the session is never idle
for long, and if it is cut all the same, the heartbeat notices within one beat and
:meth:`HeldLock.verify` refuses the next commit at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.errors import LockedError, LockLostError
from ainsdale_etl.runtime.shutdown import checkpoint
from ainsdale_etl.testing.faults import fault_point

if TYPE_CHECKING:
    import psycopg

# A fixed key for "the ainsdale-etl pipeline" (below 2**31 so pg_locks shows it as objid).
PIPELINE_LOCK_KEY = 0x61696E73  # "ains"
POLL_SECONDS = 0.5
# How often the held lock's connection is sent SELECT 1: well inside any idle timeout.
HEARTBEAT_SECONDS = 30.0
# libpq's TCP keepalives on the lock's connection: a probe after 30 s of silence, then every
# 10 s, given up after 3 unanswered (a dead peer is seen in about a minute, under the 350 s a
# NAT gateway keeps an idle flow); tcp_user_timeout bounds a write the peer never
# acknowledges, which keepalives alone do not.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def _holder(conn: psycopg.Connection) -> str:
    """Who holds the lock, as far as pg_stat_activity tells (may be hidden without privileges)."""
    rows = conn.execute(
        """SELECT a.pid, coalesce(host(a.client_addr), 'local socket'),
                  to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0
             AND l.objid = %s::bigint::oid AND l.database = (
                 SELECT oid FROM pg_database WHERE datname = current_database())""",
        [PIPELINE_LOCK_KEY],
    ).fetchall()
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

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._using = threading.Lock()  # checked from the lake's writer threads too
        self.lost = threading.Event()  # set by the heartbeat when the connection died
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _ping(self) -> bool:
        import psycopg

        try:
            with self._using:
                self._conn.execute("SELECT 1")
        except psycopg.Error:
            self.lost.set()
        return not self.lost.is_set()

    def release(self) -> None:
        """Unlock before the connection closes: the server ends a closed session a moment
        later, and until then the lock would still be held against the next run (a command
        run right after another was refused with exit 75)."""
        import psycopg

        self.lost.set()  # from here on, verify() refuses: nothing may commit after the unlock
        with self._using, suppress(psycopg.Error):
            self._conn.execute("SELECT pg_advisory_unlock(%s)", [PIPELINE_LOCK_KEY])

    def verify(self) -> None:
        """Raise :class:`LockedError` if the lock is gone: at once if the heartbeat saw its
        connection die, else after asking the server."""
        if self.lost.is_set() or not self._ping():
            raise LockLostError(
                "lost the pipeline lock (its connection to the warehouse dropped), so another "
                "run may have started; stopped before committing anything more: rerun"
            )

    def start_heartbeat(self, every_seconds: float) -> None:
        """``SELECT 1`` every ``every_seconds`` on a thread of its own (0: none)."""
        if every_seconds <= 0:
            return

        def beat() -> None:
            while not self._stop.wait(every_seconds) and self._ping():
                pass

        # Not a daemon: stop_heartbeat joins it before the connection closes, so it is never
        # inside a driver call while the interpreter finalizes.
        self._heartbeat = threading.Thread(target=beat, name="lock heartbeat", daemon=False)
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()


@contextmanager
def pipeline_lock(
    db: Database, *, wait_seconds: float, heartbeat_seconds: float = HEARTBEAT_SECONDS
) -> Iterator[HeldLock]:
    """Hold the pipeline lock, waiting up to ``wait_seconds`` for it; else :class:`LockedError`.
    While held, a heartbeat keeps its connection busy every ``heartbeat_seconds`` (0: none)."""
    deadline = time.monotonic() + wait_seconds
    # A psycopg session, not ADBC: it connects in a few milliseconds and needs no pyarrow, so
    # a run's extract (psycopg too) starts without the columnar stack imported.
    with db.psycopg_connect(autocommit=True, options=KEEPALIVES) as conn:
        try_lock = "SELECT pg_try_advisory_lock(%s)"
        while not _first(conn.execute(try_lock, [PIPELINE_LOCK_KEY]).fetchone()):
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait_seconds:g} s" if wait_seconds else ""
                raise LockedError(
                    f"{_holder(conn)} holds the pipeline lock on the warehouse{waited}; "
                    "nothing was done: retry later, or pass --wait SECONDS to queue behind it"
                )
            checkpoint("while waiting for the pipeline lock")
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        fault_point("lock_acquired")
        held = HeldLock(conn)
        held.start_heartbeat(heartbeat_seconds)
        try:
            yield held
        finally:
            held.stop_heartbeat()
            held.release()
        # Closing the connection releases the lock too, on success and failure alike (a
        # connection that died took the lock with it).


def _first(row: tuple[object, ...] | None) -> object:
    return row[0] if row else None

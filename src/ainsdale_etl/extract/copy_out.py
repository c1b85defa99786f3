"""``COPY ... TO STDOUT`` read straight off libpq: the extract's one read of each table."""

from __future__ import annotations

import select
import time
from typing import TYPE_CHECKING, BinaryIO

from ainsdale_etl.runtime.shutdown import checkpoint

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

# A scan may find nothing for a long while before its first row (a window at the end of a big
# table): the server is silent, not dead. Dead peers are found sooner by TCP keepalives.
IDLE_TIMEOUT = 1800.0
_TICK = 0.25  # seconds between looks at a stop request while waiting


def copy_out(
    conn: psycopg.Connection,
    statement: sql.Composed,
    out: BinaryIO,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
) -> int:
    """Run ``COPY ... TO STDOUT`` on ``conn`` (in the transaction it has open, if any: unlike
    ``cursor.copy``, this does not begin one), writing
    what the server sends to ``out``; returns the rows copied.

    The server sends one message per row. This reads them straight off libpq through psycopg's
    low-level ``pq`` layer, which costs half the Python per row of psycopg's ``Copy`` iterator:
    two tables of 1.56M rows copied on two threads took 2.0 s through ``Copy`` and 1.2 s this
    way. libpq is used in non-blocking mode, and the waits for the server are ``select`` calls,
    which let go of the GIL: a scan that finds few rows must not stall the other threads (the
    other copies, the imports of run-all, a SIGTERM handler).

    Every wait is bounded: it wakes every ``_TICK`` seconds to honour a stop request
    (:func:`~ainsdale_etl.runtime.shutdown.checkpoint`), and after ``idle_timeout`` seconds
    without the server taking or sending a byte it gives up with a transient error.
    """
    from psycopg import errors, pq

    pgconn = conn.pgconn

    def wait(*, write: bool = False) -> bool:
        """Until the socket can be read (or, with ``write``, written): whether it can be read."""
        deadline = time.monotonic() + idle_timeout
        while True:
            # The extract's wording (see extract.py), which verify's reads share.
            checkpoint("during the extract (or verify), while a query ran on the source")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # libpq's wording for a time-out: transient (core/retry.py), exit 75.
                raise errors.OperationalError(
                    f"timed out: the source sent or took nothing for {idle_timeout:g} s"
                )
            sock = pgconn.socket
            readable, writable, _ = select.select(
                [sock], [sock] if write else [], [], min(_TICK, remaining)
            )
            if readable or writable:
                return bool(readable)

    def wait_for_server() -> None:
        wait()
        pgconn.consume_input()

    def next_result() -> pq.abc.PGresult | None:
        while pgconn.is_busy():
            wait_for_server()
        return pgconn.get_result()

    def send(query: bytes) -> None:
        pgconn.send_query(query)
        # In non-blocking mode libpq queues what the socket will not take at once: a query
        # larger than the socket buffers stays queued until flushed, while the server waits
        # for the rest of it (a multi-MB query hung both sides for ever).
        while pgconn.flush():
            if wait(write=True):
                pgconn.consume_input()  # the server may answer (an error) before it has all

    try:
        send(statement.as_bytes(conn))
        result = next_result()
        if result is not None and result.status == pq.ExecStatus.COPY_OUT:
            read, write = pgconn.get_copy_data, out.write
            while True:
                size, data = read(1)  # 0: nothing yet; -1: the copy is done
                if size > 0:
                    write(data)
                elif size == 0:
                    wait_for_server()
                else:
                    break
            result = next_result()
        while next_result() is not None:  # the protocol's end of this query
            pass
    except BaseException:
        conn.close()  # mid-copy: the connection cannot be used for anything else
        raise
    if result is None or result.status != pq.ExecStatus.COMMAND_OK:
        conn.close()
        if result is None:
            raise errors.OperationalError("the source closed the copy without a result")
        raise errors.error_from_result(result, encoding=conn.info.encoding)
    return int(result.command_tuples or 0)

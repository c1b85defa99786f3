"""The extract's COPY reader (source.copy_out), straight off libpq: the same bytes as psycopg's
own Copy, the server's row count, and errors that keep their SQLSTATE (so the retry logic can
tell a dropped connection from a bad query)."""

from __future__ import annotations

import io
import os
import signal
import threading
import time

import psycopg
import pytest
from psycopg import sql

from ainsdale_etl.core.retry import is_transient
from ainsdale_etl.extract.copy_out import copy_out
from ainsdale_etl.runtime.shutdown import StopRequestedError, stop_on_sigterm

ROWS = sql.SQL(
    "COPY (SELECT g AS id, 'x,\"y\"' || g AS text, g * 1.25 AS money, NULL::int AS nothing "
    "FROM generate_series(1, {}) g) TO STDOUT (FORMAT csv, HEADER)"
)
SLEEP = sql.SQL("COPY (SELECT pg_sleep({})) TO STDOUT")


def test_copy_out_writes_what_psycopg_copy_writes_and_counts_the_rows(pg_admin_url):
    with psycopg.connect(pg_admin_url) as conn:
        conn.execute("SELECT 1")  # the extract's connections are inside a transaction
        statement = ROWS.format(sql.Literal(5000))
        out = io.BytesIO()
        assert copy_out(conn, statement, out) == 5000
        expected = io.BytesIO()
        with conn.cursor().copy(statement) as copy:
            for chunk in copy:
                expected.write(chunk)
        assert out.getvalue() == expected.getvalue()
        assert out.getvalue().splitlines()[1] == b'1,"x,""y""1",1.25,'
        # The connection is still usable, in the same transaction.
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def test_a_bad_query_raises_its_sqlstate_and_writes_nothing(pg_admin_url):
    with psycopg.connect(pg_admin_url) as conn:
        out = io.BytesIO()
        with pytest.raises(psycopg.errors.UndefinedTable) as caught:
            copy_out(conn, sql.SQL("COPY no_such_table TO STDOUT (FORMAT csv)"), out)
        assert caught.value.sqlstate == "42P01"
        assert not is_transient(str(caught.value), caught.value.sqlstate)
        assert out.getvalue() == b""


def test_a_connection_killed_mid_copy_is_a_transient_error(pg_admin_url):
    with psycopg.connect(pg_admin_url) as conn, psycopg.connect(pg_admin_url) as admin:
        pid = conn.info.backend_pid
        killed = threading.Event()

        class KillAfterFirstRow(io.BytesIO):
            def write(self, data: bytes) -> int:  # type: ignore[override]
                if not killed.is_set():
                    killed.set()
                    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                return super().write(data)

        with pytest.raises(psycopg.Error) as caught:
            copy_out(conn, ROWS.format(sql.Literal(5_000_000)), KillAfterFirstRow())
        assert killed.is_set()
        assert is_transient(str(caught.value), getattr(caught.value, "sqlstate", None))
        assert conn.closed


def test_a_query_of_many_megabytes_is_sent_whole_and_answered(pg_admin_url):
    # 15 MB: more than the socket buffers take at once, so libpq queues the rest.
    xids = [str(x) for x in range(3, 2_000_000)]
    statement = sql.SQL("COPY (SELECT {}::int WHERE '5'::xid = ANY({}::xid[])) TO STDOUT").format(
        sql.Literal(len(xids)), sql.Literal(xids)
    )
    outcome: list[object] = []
    with psycopg.connect(pg_admin_url) as conn:
        conn.execute("SELECT 1")
        out = io.BytesIO()
        worker = threading.Thread(
            target=lambda: outcome.append(copy_out(conn, statement, out)), daemon=True
        )
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "the copy hung sending its query"
        assert outcome == [1] and out.getvalue() == b"1999997\n"


def test_a_silent_server_past_the_deadline_is_a_transient_error(pg_admin_url):
    with psycopg.connect(pg_admin_url) as conn:
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as caught:
            copy_out(conn, SLEEP.format(sql.Literal(30)), io.BytesIO(), idle_timeout=1)
        assert time.monotonic() - started < 5
        assert is_transient(str(caught.value)) and "1 s" in str(caught.value)
        assert conn.closed


def test_a_stop_request_ends_a_waiting_copy_at_once(pg_admin_url):
    with psycopg.connect(pg_admin_url) as conn, stop_on_sigterm():
        threading.Timer(0.5, os.kill, [os.getpid(), signal.SIGTERM]).start()
        started = time.monotonic()
        with pytest.raises(StopRequestedError):
            copy_out(conn, SLEEP.format(sql.Literal(30)), io.BytesIO())
        assert time.monotonic() - started < 5
        assert conn.closed

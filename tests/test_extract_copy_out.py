"""The extract's COPY reader (source.copy_out), straight off libpq: the same bytes as psycopg's
own Copy, the server's row count, and errors that keep their SQLSTATE (so the retry logic can
tell a dropped connection from a bad query)."""

from __future__ import annotations

import io
import threading

import psycopg
import pytest
from psycopg import sql

from ainsdale_etl.core.retry import is_transient
from ainsdale_etl.extract.copy_out import copy_out

ROWS = sql.SQL(
    "COPY (SELECT g AS id, 'x,\"y\"' || g AS text, g * 1.25 AS money, NULL::int AS nothing "
    "FROM generate_series(1, {}) g) TO STDOUT (FORMAT csv, HEADER)"
)


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

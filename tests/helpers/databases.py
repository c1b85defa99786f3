"""Real PostgreSQL from a test: a statement's rows, a table's count, a URL as another
database or role, a script of many statements."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

import adbc_driver_postgresql.dbapi as adbc

SMALL_SCALE = 0.02  # ~220 sales orders: every code path, in well under a second


def query(url: str, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    """Rows of one statement (numeric comes back as text: compare with Decimal)."""
    with adbc.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
    return rows


def count(url: str, table: str) -> int:
    return int(query(url, f'SELECT count(*) FROM "{table}"')[0][0])


def run_script(url: str, script: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(script)  # no parameters: the simple protocol, many statements at once


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` (works for TCP and unix-socket URIs)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def as_role(url: str, role: str) -> str:
    """``url`` connecting as ``role`` instead of its own user."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return with_database(urlunsplit(parts._replace(netloc=f"{role}@{netloc}")), parts.path[1:])


def rds_secret(url: str, password: str) -> dict[str, object]:
    """The RDS-format secret of a test database ``url``, carrying ``password`` (the test
    servers trust local connections, so any password is accepted)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return {
        "engine": "postgres",
        "host": parts.hostname or query["host"][0],  # a unix-socket dir for the embedded server
        "port": parts.port or int(query.get("port", ["5432"])[0]),
        "username": parts.username or "postgres",
        "password": password,
        "dbname": parts.path.lstrip("/"),
    }

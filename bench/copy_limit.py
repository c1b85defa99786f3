"""The physical limit: PostgreSQL's own COPY of the 11 source tables out to CSV and back in.

``python -m bench.copy_limit FOLDER`` copies each totesys table of ``BENCH_SOURCE_URL``
``TO STDOUT (FORMAT csv)`` into a file, then ``COPY FROM`` those files into constraint-free
copies of the tables (same columns and types, no keys, no indexes, no foreign keys) in the
scratch database ``BENCH_SCRATCH_URL``. No transformation, no validation, no merge: nothing a
real pipeline could skip is left to skip. Prints one JSON object with the seconds and rows of
each half.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

from ainsdale_etl.core.registry import SOURCE_TABLES

_CHUNK = 1 << 20


def copy_out(source: psycopg.Connection, folder: Path) -> dict[str, int]:
    """Every source table as a CSV file in ``folder``; returns the bytes written per table."""
    written = {}
    with source.cursor() as cur:
        for name in SOURCE_TABLES:
            path = folder / f"{name}.csv"
            with (
                path.open("wb") as out,
                cur.copy(
                    sql.SQL("COPY {} TO STDOUT (FORMAT csv)").format(sql.Identifier(name))
                ) as copy,
            ):
                for chunk in copy:
                    out.write(chunk)
            written[name] = path.stat().st_size
    return written


def constraint_free_ddl(source: psycopg.Connection) -> list[str]:
    """CREATE TYPE / CREATE TABLE statements recreating the source tables' columns only."""
    statements = []
    with source.cursor() as cur:
        cur.execute(
            """SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
               FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
               JOIN pg_namespace n ON n.oid = t.typnamespace
               WHERE n.nspname = 'public' GROUP BY t.typname"""
        )
        for type_name, labels in cur.fetchall():
            statements.append(
                sql.SQL("CREATE TYPE {} AS ENUM ({})")
                .format(sql.Identifier(type_name), sql.SQL(", ").join(map(sql.Literal, labels)))
                .as_string(source)
            )
        for name in SOURCE_TABLES:
            cur.execute(
                """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
                   FROM pg_attribute a
                   WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
                   ORDER BY a.attnum""",
                [sql.Identifier(name).as_string(source)],
            )
            columns = [
                sql.SQL("{} {}{}").format(
                    sql.Identifier(column),
                    sql.SQL(type_sql),  # format_type's own output: already quoted
                    sql.SQL(" NOT NULL" if not_null else ""),
                )
                for column, type_sql, not_null in cur.fetchall()
            ]
            statements.append(
                sql.SQL("CREATE TABLE {} ({})")
                .format(sql.Identifier(name), sql.SQL(", ").join(columns))
                .as_string(source)
            )
    return statements


def copy_in(scratch: psycopg.Connection, folder: Path) -> None:
    """Load every CSV file of ``folder`` into its table in ``scratch``, in one transaction."""
    with scratch.cursor() as cur:
        for name in SOURCE_TABLES:
            path = folder / f"{name}.csv"
            with (
                path.open("rb") as src,
                cur.copy(
                    sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(sql.Identifier(name))
                ) as copy,
            ):
                while chunk := src.read(_CHUNK):
                    copy.write(chunk)
    scratch.commit()


def main(source_url: str, scratch_url: str, folder: str) -> None:
    out_dir = Path(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(source_url) as source, psycopg.connect(scratch_url) as scratch:
        with scratch.cursor() as cur:
            for statement in constraint_free_ddl(source):
                cur.execute(statement.encode())
        scratch.commit()
        started = time.perf_counter()
        sizes = copy_out(source, out_dir)
        source.rollback()
        out_seconds = time.perf_counter() - started
        started = time.perf_counter()
        copy_in(scratch, out_dir)
        in_seconds = time.perf_counter() - started
        with scratch.cursor() as cur:
            rows = {}
            for name in SOURCE_TABLES:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name)))
                rows[name] = int(cur.fetchone()[0])  # type: ignore[index]
    print(
        json.dumps(
            {
                "copy_out_seconds": round(out_seconds, 3),
                "copy_in_seconds": round(in_seconds, 3),
                "csv_bytes": sum(sizes.values()),
                "rows": sum(rows.values()),
                "tables": rows,
            }
        )
    )


if __name__ == "__main__":
    main(os.environ["BENCH_SOURCE_URL"], os.environ["BENCH_SCRATCH_URL"], sys.argv[1])

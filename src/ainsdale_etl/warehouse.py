"""The warehouse: its DDL (declared from the registry, never inferred) and batch loads.

A batch is loaded in one transaction: each table is bulk-copied (ADBC ingest, i.e. COPY) into
a temporary staging table, then merged with one set-based statement -- dimensions upserted on
their id, facts inserted unless their natural key (id, last_updated) is already there -- and the
batch is recorded in the ledger. Either all of it commits or none of it does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ainsdale_etl.database import Database, fetch_all
from ainsdale_etl.errors import BadInputError, RefusedError
from ainsdale_etl.events import NullReporter, Reporter
from ainsdale_etl.faults import fault_point
from ainsdale_etl.schema import STAR_TABLES, StarTable, quote_ident
from ainsdale_etl.shutdown import checkpoint

if TYPE_CHECKING:
    import pyarrow as pa
    from adbc_driver_postgresql.dbapi import Cursor

META_SCHEMA = "ainsdale_meta"
LEDGER = f"{META_SCHEMA}.loaded_batch"


def _column_ddl(table: StarTable) -> list[str]:
    return [
        f"{quote_ident(c.name)} {c.sql_type}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    ]


def table_ddl(table: StarTable) -> str:
    """CREATE TABLE for one star table: types, keys and foreign keys exactly as the spec says."""
    name = quote_ident(table.name)
    keys = ", ".join(quote_ident(k) for k in table.key)
    parts = _column_ddl(table)
    if table.surrogate_key:
        surrogate = (
            f"{quote_ident(table.surrogate_key)} integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        )
        parts = [
            surrogate,
            *parts,
            f"CONSTRAINT {quote_ident_suffix(table.name, 'natural_key')} UNIQUE ({keys})",
        ]
        parts += [f"CONSTRAINT {n} {d}" for n, d in _foreign_key_constraints(table)]
    else:
        parts.append(f"PRIMARY KEY ({keys})")
    body = ",\n    ".join(parts)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    {body}\n)"


def quote_ident_suffix(table: str, suffix: str) -> str:
    """A constraint name derived from a registry table name (validated) and a fixed suffix."""
    quote_ident(table)
    return f'"{table}_{suffix}"'


def warehouse_ddl() -> list[str]:
    return [
        f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}",
        f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
            batch_id text PRIMARY KEY,
            loaded_at timestamptz NOT NULL DEFAULT now(),
            rows jsonb NOT NULL
        )""",
        *(table_ddl(t) for t in STAR_TABLES.values()),
    ]


def _user_tables(cur: Cursor) -> list[str]:
    rows = fetch_all(
        cur,
        """SELECT n.nspname || '.' || c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm')
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg_toast%'""",
    )
    return [r[0] for r in rows]


def ensure_warehouse(db: Database, *, force: bool = False) -> None:
    """Create the warehouse tables if missing.

    A database that holds tables this tool did not create is refused unless ``force``:
    creating tables next to someone else's data is a decision for a person, not a default.
    """
    with db.connect() as conn, conn.cursor() as cur:
        tables = _user_tables(cur)
        ours = any(t.startswith(f"{META_SCHEMA}.") for t in tables)
        if tables and not ours and not force:
            raise RefusedError(
                f"the warehouse database holds {len(tables)} table(s) ainsdale-etl did not create "
                f"(e.g. {tables[0]}); point AINSDALE_WAREHOUSE_URL at an empty database, "
                "or rerun with --force to add the star schema beside them"
            )
        for statement in warehouse_ddl():
            cur.execute(statement)
        conn.commit()


def loaded_batches(db: Database) -> dict[str, dict[str, Any]]:
    """The ledger: batch id -> {loaded_at, rows} for every loaded batch."""
    with db.connect() as conn, conn.cursor() as cur:
        if not fetch_all(cur, "SELECT to_regclass($1) IS NOT NULL", [LEDGER])[0][0]:
            return {}
        rows = fetch_all(
            cur, f"SELECT batch_id, loaded_at, rows::text FROM {LEDGER} ORDER BY batch_id"
        )
    return {b: {"loaded_at": at, "rows": json.loads(r)} for b, at, r in rows}


def _merge_sql(table: StarTable, staging: str, *, overwrite: bool) -> str:
    columns = ", ".join(quote_ident(c) for c in table.column_names)
    keys = ", ".join(quote_ident(k) for k in table.key)
    insert = f"INSERT INTO {quote_ident(table.name)} ({columns}) SELECT {columns} FROM {staging}"
    if table.is_fact or not overwrite or table.name == "dim_date":
        return f"{insert} ON CONFLICT ({keys}) DO NOTHING"
    values = [c for c in table.column_names if c not in table.key]
    assignments = ", ".join(f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in values)
    current = ", ".join(f"{quote_ident(table.name)}.{quote_ident(c)}" for c in values)
    incoming = ", ".join(f"EXCLUDED.{quote_ident(c)}" for c in values)
    # Skip rows that did not change: no dead tuples, no needless index churn.
    return (
        f"{insert} ON CONFLICT ({keys}) DO UPDATE SET {assignments} "
        f"WHERE ({current}) IS DISTINCT FROM ({incoming})"
    )


def _check_references(cur: Cursor, batch_id: str, table: StarTable, staging: str) -> None:
    """Refuse a batch whose rows point at dimension rows that do not exist, naming the first.

    One anti-join per foreign key over the staged rows: the database would refuse them too,
    but only with a constraint name; this says which row and which id, as a bad input.
    """
    row_id = quote_ident(table.key[0])
    for column in table.foreign_keys:
        dim = STAR_TABLES[column.references or ""]
        col, dim_key = quote_ident(column.name), quote_ident(dim.key[0])
        missing = fetch_all(
            cur,
            f"""SELECT s.{row_id}::text, s.{col}::text, count(*) OVER ()
                FROM {staging} s
                WHERE s.{col} IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM {quote_ident(dim.name)} d WHERE d.{dim_key} = s.{col})
                ORDER BY s.{row_id} LIMIT 1""",
        )
        if missing:
            row, value, count = missing[0]
            raise BadInputError(
                f"batch {batch_id}: {table.name} row {table.key[0]}={row} references "
                f"{column.name}={value}, which is in no loaded {dim.name} ({count} such row(s)); "
                "the batch's source rows point at a record totesys never delivered"
            )


@dataclass(frozen=True)
class TableData:
    """One star table of a batch, streamed: its row count and a reader of its record batches
    (read once, so a whole table never has to sit in memory)."""

    rows: int
    reader: pa.RecordBatchReader


# An initial load (an empty table, at least ``bulk_min_rows`` coming) is copied straight into
# the table, with a fact table's keys and indexes dropped first and rebuilt after: an index
# built once from sorted rows, and a foreign key validated in one set-based pass, cost a
# fraction of maintaining them row by row (PostgreSQL checks a foreign key with a trigger per
# inserted row). At scale 100 this took the load from 36 s to about 12 s. Only an empty table
# qualifies: dropping a foreign key locks the fact *and* its dimension against readers until
# commit, and rebuilding a big table's indexes would cost more than a small batch's upkeep.
BULK_MIN_ROWS = 10_000
BULK_LOCK_TIMEOUT = "30s"  # waiting longer on a reader's lock: fail, and let the retry come
_UNIQUE_VIOLATION, _FOREIGN_KEY_VIOLATION = "23505", "23503"


def _is_empty(cur: Cursor, table: StarTable) -> bool:
    return not fetch_all(cur, f"SELECT EXISTS (SELECT 1 FROM {quote_ident(table.name)})")[0][0]


def _foreign_key_constraints(table: StarTable) -> list[tuple[str, str]]:
    """(name, definition) of each foreign key of ``table``, as its DDL declares them."""
    constraints = []
    for column in table.foreign_keys:
        dim = STAR_TABLES[column.references or ""]
        constraints.append(
            (
                quote_ident_suffix(table.name, column.name + "_fkey"),
                f"FOREIGN KEY ({quote_ident(column.name)}) REFERENCES {quote_ident(dim.name)} "
                f"({quote_ident(dim.key[0])})",
            )
        )
    return constraints


def _key_constraints(table: StarTable) -> list[tuple[str, str]]:
    """(name, definition) of a fact table's primary and natural keys, as its DDL declares them."""
    keys = ", ".join(quote_ident(k) for k in table.key)
    return [
        (
            quote_ident_suffix(table.name, "pkey"),
            f"PRIMARY KEY ({quote_ident(table.surrogate_key or '')})",
        ),
        (quote_ident_suffix(table.name, "natural_key"), f"UNIQUE ({keys})"),
    ]


def _repeated_key_error(batch_id: str, table: StarTable) -> BadInputError:
    return BadInputError(
        f"batch {batch_id}: {table.name} holds the same {', '.join(table.key)} more than once; "
        "the batch was changed after it was written: re-run the step that wrote it"
    )


_VIOLATING_KEY = re.compile(r"Key \((?P<column>[^)]+)\)=\((?P<value>[^)]*)\)")


def _dangling_reference_error(batch_id: str, table: StarTable, exc: Exception) -> BadInputError:
    """What the failed validation of a foreign key says, in the words of _check_references
    (the transaction is aborted by then, so the rows cannot be queried for their ids)."""
    details = dict(getattr(exc, "details", None) or [])
    detail = details.get(b"PG_DIAG_MESSAGE_DETAIL", b"").decode(errors="replace")
    found = _VIOLATING_KEY.search(detail)
    column, value = (found["column"], found["value"]) if found else ("a foreign key", "?")
    dim = next((c.references for c in table.foreign_keys if c.name == column), "its dimension")
    return BadInputError(
        f"batch {batch_id}: {table.name} has a row with {column}={value}, which is in no "
        f"loaded {dim}; the batch's source rows point at a record totesys never delivered"
    )


def _bulk_load(cur: Cursor, batch_id: str, table: StarTable, data: TableData) -> int:
    """Copy a batch straight into an empty table (see BULK_MIN_ROWS); returns its rows."""
    import adbc_driver_manager

    name = quote_ident(table.name)
    keys = _key_constraints(table) if table.is_fact else []
    foreign_keys = _foreign_key_constraints(table)
    cur.execute(f"SET LOCAL lock_timeout = '{BULK_LOCK_TIMEOUT}'")
    for constraint, _ in [*foreign_keys, *keys]:
        cur.execute(f"ALTER TABLE {name} DROP CONSTRAINT {constraint}")
    if foreign_keys:
        fault_point("foreign_keys_dropped")
    try:
        rows = int(cur.adbc_ingest(table.name, data.reader, mode="append"))
        for constraint, definition in keys:
            cur.execute(f"ALTER TABLE {name} ADD CONSTRAINT {constraint} {definition}")
    except adbc_driver_manager.IntegrityError as exc:
        if exc.sqlstate == _UNIQUE_VIOLATION:
            raise _repeated_key_error(batch_id, table) from None
        raise
    for constraint, definition in foreign_keys:
        try:
            cur.execute(f"ALTER TABLE {name} ADD CONSTRAINT {constraint} {definition}")
        except adbc_driver_manager.IntegrityError as exc:
            if exc.sqlstate == _FOREIGN_KEY_VIOLATION:
                raise _dangling_reference_error(batch_id, table, exc) from None
            raise
    cur.execute(f"ANALYZE {name}")  # the planner's first view of the loaded table
    return rows


def may_skip_triggers(cur: Cursor) -> bool:
    """Whether this role may set session_replication_role (a superuser, or rds_superuser on
    RDS), which is what skipping foreign-key triggers takes."""
    return bool(
        fetch_all(
            cur,
            """SELECT rolsuper OR EXISTS (
                   SELECT 1 FROM pg_roles r WHERE r.rolname = 'rds_superuser'
                     AND pg_has_role(current_user, r.oid, 'member'))
               FROM pg_roles WHERE rolname = current_user""",
        )[0][0]
    )


def _merge(
    cur: Cursor,
    batch_id: str,
    table: StarTable,
    data: TableData,
    *,
    overwrite: bool,
    skip_triggers: bool,
) -> int:
    """Copy a batch into staging and merge it with one statement; returns the rows gained or
    changed.

    The staged rows' references are checked set-based first (_check_references), in this
    transaction, under the pipeline lock. PostgreSQL would check each again with a trigger per
    row -- most of an incremental load's time (0.37 s of 0.41 s for 11k sales orders into a
    1.1M-row fact table) -- so where the role may, the insert runs with those triggers off.
    """
    staging = f'"{table.name}_stage"'  # a registry table name plus a fixed suffix
    cur.adbc_ingest(f"{table.name}_stage", data.reader, mode="create", temporary=True)
    keys = ", ".join(quote_ident(k) for k in table.key)
    if fetch_all(cur, f"SELECT 1 FROM {staging} GROUP BY {keys} HAVING count(*) > 1 LIMIT 1"):
        raise _repeated_key_error(batch_id, table)
    _check_references(cur, batch_id, table, staging)
    sql = _merge_sql(table, staging, overwrite=overwrite)
    skip = skip_triggers and bool(table.foreign_keys)
    if skip:
        cur.execute("SET LOCAL session_replication_role = replica")
    merged = int(
        fetch_all(cur, f"WITH merged AS ({sql} RETURNING 1) SELECT count(*) FROM merged")[0][0]
    )
    if skip:
        cur.execute("SET LOCAL session_replication_role = origin")
    cur.execute(f"DROP TABLE {staging}")
    return merged


def load_tables(
    db: Database,
    batch_id: str,
    tables: dict[str, TableData],
    *,
    overwrite_dimensions: bool = True,
    bulk_min_rows: int = BULK_MIN_ROWS,
    reporter: Reporter | None = None,
    before_commit: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Load one batch's star tables and record it in the ledger, in one transaction.

    Returns the rows each table gained or changed. ``overwrite_dimensions`` is False when a newer
    batch is already loaded: an old batch's dimension rows may then only fill gaps, never
    overwrite the newer state.
    """
    reporter = reporter or NullReporter()
    merged: dict[str, int] = {}
    with db.connect() as conn, conn.cursor() as cur:
        skip_triggers = may_skip_triggers(cur)
        for name, table in STAR_TABLES.items():
            data = tables.get(name)
            if data is None or data.rows == 0:
                continue
            checkpoint(f"while loading batch {batch_id} (its transaction was rolled back)")
            started = time.perf_counter()
            if data.rows >= bulk_min_rows and _is_empty(cur, table):
                path, merged[name] = "bulk", _bulk_load(cur, batch_id, table, data)
            else:
                path = "merge"
                merged[name] = _merge(
                    cur,
                    batch_id,
                    table,
                    data,
                    overwrite=overwrite_dimensions,
                    skip_triggers=skip_triggers,
                )
            seconds = time.perf_counter() - started
            reporter.event(
                "table_loaded",
                step="load",
                batch_id=batch_id,
                table=name,
                rows=data.rows,
                merged=merged[name],
                path=path,
                seconds=round(seconds, 3),
                rows_per_s=round(data.rows / seconds) if seconds else None,
            )
            fault_point("table_merged")
        cur.execute(
            f"""INSERT INTO {LEDGER} (batch_id, rows) VALUES ($1, $2::jsonb)
                ON CONFLICT (batch_id) DO UPDATE SET loaded_at = now()""",
            [batch_id, json.dumps(merged)],
        )
        before_commit()  # e.g. confirm the run still holds its lock
        conn.commit()
    fault_point("batch_loaded")
    return merged


def table_counts(db: Database) -> dict[str, int]:
    with db.connect() as conn, conn.cursor() as cur:
        return {
            name: int(fetch_all(cur, f"SELECT count(*) FROM {quote_ident(name)}")[0][0])
            for name in STAR_TABLES
        }

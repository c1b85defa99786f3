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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ainsdale_etl.adapters.postgres import Database, fetch_all
from ainsdale_etl.core.errors import BadInputError, RefusedError
from ainsdale_etl.core.events import NullReporter, Reporter
from ainsdale_etl.core.registry import STAR_TABLES, StarColumn, StarTable, quote_ident
from ainsdale_etl.runtime.shutdown import checkpoint
from ainsdale_etl.testing.faults import fault_point

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
        wanted = {LEDGER, *(f"public.{name}" for name in STAR_TABLES)}
        if wanted <= set(tables):
            return  # every run checks; only the first creates (a dozen DDL round trips)
        for statement in warehouse_ddl():
            cur.execute(statement)
        conn.commit()


def loaded_batches(db: Database) -> dict[str, dict[str, Any]]:
    """The ledger: batch id -> {loaded_at, rows} for every loaded batch.

    Read on a psycopg session: it takes a few milliseconds and no columnar stack, so run-all's
    transform can begin while ADBC, which only the load needs, is still being imported."""
    with db.psycopg_connect() as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [LEDGER]).fetchone()
        if not exists or not exists[0]:
            return {}
        rows = conn.execute(
            f"SELECT batch_id, loaded_at, rows::text FROM {LEDGER} ORDER BY batch_id"
        ).fetchall()
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


def _check_references(
    cur: Cursor,
    batch_id: str,
    table: StarTable,
    staging: str,
    columns: Iterable[str] | None = None,
) -> None:
    """Refuse a batch whose rows point at dimension rows that do not exist, naming the first.

    One anti-join per foreign key (or per one of ``columns``) over the staged rows: the
    database would refuse them too, but only with a constraint name; this says which row and
    which id, as a bad input.
    """
    row_id = quote_ident(table.key[0])
    wanted = None if columns is None else set(columns)
    for column in table.foreign_keys:
        if wanted is not None and column.name not in wanted:
            continue
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


# Above this many distinct values, a column's references are checked by one anti-join over the
# loaded table rather than by copying its values into a temporary table first.
_DISTINCT_VALUES_LIMIT = 100_000


class _ReferenceCheck:
    """The references of rows copied with their foreign-key triggers off, checked set-based.

    The distinct values of each foreign-key column are gathered from the record batches as
    they stream into the table, and only those are looked up in the dimensions: a few thousand
    dates or staff ids instead of one scan of the loaded table per foreign key (1.2 s of the
    checks' 1.7 s at scale 100). A column with many distinct values (a transaction id per
    payment) is checked with one anti-join over the table instead.
    """

    def __init__(self, table: StarTable, data: TableData) -> None:
        import pyarrow as pa

        self.table = table
        self._seen: dict[str, list[pa.Array]] = {c.name: [] for c in table.foreign_keys}
        self._types = {name: data.reader.schema.field(name).type for name in self._seen}
        self.data = TableData(
            data.rows, pa.RecordBatchReader.from_batches(data.reader.schema, self._watch(data))
        )

    def _watch(self, data: TableData) -> Iterator[pa.RecordBatch]:
        import pyarrow.compute as pc

        gathered = dict.fromkeys(self._seen, 0)
        for batch in data.reader:
            for name, seen in self._seen.items():
                if gathered[name] <= _DISTINCT_VALUES_LIMIT:  # beyond it, the table is scanned
                    seen.append(pc.unique(batch.column(name)))
                    gathered[name] += len(seen[-1])
            yield batch

    def verify(self, cur: Cursor, batch_id: str) -> None:
        """Raise :class:`BadInputError` naming the first row whose reference is missing."""
        import pyarrow as pa
        import pyarrow.compute as pc

        relation = quote_ident(self.table.name)
        for column in self.table.foreign_keys:
            chunks = pa.chunked_array(self._seen[column.name], type=self._types[column.name])
            values = pc.unique(chunks).drop_null()
            if len(chunks) > _DISTINCT_VALUES_LIMIT or _any_missing(cur, column, values):
                # Names the row, or finds nothing amiss.
                _check_references(cur, batch_id, self.table, relation, [column.name])


def _any_missing(cur: Cursor, column: StarColumn, values: pa.Array) -> bool:
    """Whether any of ``values`` is absent from the dimension ``column`` references."""
    import pyarrow as pa

    if not len(values):
        return False
    dim = STAR_TABLES[column.references or ""]
    cur.adbc_ingest("ainsdale_refs", pa.table({"value": values}), mode="create", temporary=True)
    missing = fetch_all(
        cur,
        f"""SELECT EXISTS (SELECT 1 FROM ainsdale_refs r WHERE NOT EXISTS (
                SELECT 1 FROM {quote_ident(dim.name)} d
                WHERE d.{quote_ident(dim.key[0])} = r.value))""",
    )[0][0]
    cur.execute("DROP TABLE ainsdale_refs")
    return bool(missing)


# An initial load (an empty table, at least ``bulk_min_rows`` coming) is copied straight into
# the table with its keys dropped first and rebuilt after: an index built once from sorted rows
# costs a fraction of maintaining it row by row. Its foreign keys are checked set-based, never by
# PostgreSQL's trigger per inserted row (see _bulk_load). At scale 100 this took the load from
# 36 s to about 8 s. Only an empty table qualifies: rebuilding a big table's indexes would cost
# more than a small batch's upkeep.
BULK_MIN_ROWS = 10_000
BULK_LOCK_TIMEOUT = "30s"  # waiting longer on a reader's lock: fail, and let the retry come
BULK_INDEX_MEMORY = "256MB"  # a rebuilt key sorts in memory (64MB spilled to disk at scale 100)
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


def _referencing_constraints(dim: StarTable) -> list[tuple[str, str, str]]:
    """(table, name, definition) of every foreign key that references ``dim``."""
    return [
        (fact.name, name, definition)
        for fact in STAR_TABLES.values()
        for column, (name, definition) in zip(
            fact.foreign_keys, _foreign_key_constraints(fact), strict=True
        )
        if column.references == dim.name
    ]


def _key_constraints(table: StarTable) -> list[tuple[str, str]]:
    """(name, definition) of a table's unique keys, as its DDL declares them: a fact's surrogate
    primary key and natural key, a dimension's primary key."""
    keys = ", ".join(quote_ident(k) for k in table.key)
    if not table.surrogate_key:
        return [(quote_ident_suffix(table.name, "pkey"), f"PRIMARY KEY ({keys})")]
    return [
        (
            quote_ident_suffix(table.name, "pkey"),
            f"PRIMARY KEY ({quote_ident(table.surrogate_key)})",
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


def _add_constraint(cur: Cursor, batch_id: str, table: StarTable, name: str, sql: str) -> None:
    """Re-add a dropped key or foreign key; a violation is the batch's bad input."""
    import adbc_driver_manager

    try:
        cur.execute(f"ALTER TABLE {quote_ident(table.name)} ADD CONSTRAINT {name} {sql}")
    except adbc_driver_manager.IntegrityError as exc:
        if exc.sqlstate == _UNIQUE_VIOLATION:
            raise _repeated_key_error(batch_id, table) from None
        if exc.sqlstate == _FOREIGN_KEY_VIOLATION:
            raise _dangling_reference_error(batch_id, table, exc) from None
        raise


def _bulk_load(
    cur: Cursor, batch_id: str, table: StarTable, data: TableData, *, skip_triggers: bool
) -> int:
    """Copy a batch straight into an empty table (see BULK_MIN_ROWS); returns its rows.

    The table's unique keys are dropped and rebuilt, and with them the foreign keys of other
    tables that reference them (a dimension's primary key; re-adding those validates tables
    that are empty on an initial load, so costs nothing). Where the role may skip triggers
    (:func:`may_skip_triggers`), the table's own foreign keys stay in place and the copy runs
    without their per-row triggers: the copied rows' references are checked afterwards, set-
    based, by the caller (:class:`_ReferenceCheck`). Otherwise they are dropped and re-added,
    which validates each in one pass, serially.
    """
    own_keys = _key_constraints(table)
    referencing = [] if table.is_fact else _referencing_constraints(table)
    if not all(_is_empty(cur, STAR_TABLES[other]) for other, _, _ in referencing):
        # Re-adding those foreign keys would validate rows already loaded, serially: keep the
        # dimension's key, and pay for its upkeep during the copy instead.
        own_keys, referencing = [], []
    foreign_keys = [] if skip_triggers else _foreign_key_constraints(table)
    cur.execute(f"SET LOCAL lock_timeout = '{BULK_LOCK_TIMEOUT}'")
    cur.execute(f"SET LOCAL maintenance_work_mem = '{BULK_INDEX_MEMORY}'")
    for other, constraint, _ in referencing:
        cur.execute(f"ALTER TABLE {quote_ident(other)} DROP CONSTRAINT {constraint}")
    for constraint, _ in [*foreign_keys, *own_keys]:
        cur.execute(f"ALTER TABLE {quote_ident(table.name)} DROP CONSTRAINT {constraint}")
    if foreign_keys or referencing:
        fault_point("foreign_keys_dropped")
    if skip_triggers:
        cur.execute("SET LOCAL session_replication_role = replica")
    rows = int(cur.adbc_ingest(table.name, data.reader, mode="append"))
    if skip_triggers:
        cur.execute("SET LOCAL session_replication_role = origin")
    for constraint, definition in [*own_keys, *foreign_keys]:
        _add_constraint(cur, batch_id, table, constraint, definition)
    for other, constraint, definition in referencing:
        _add_constraint(cur, batch_id, STAR_TABLES[other], constraint, definition)
    # No ANALYZE: autovacuum analyzes a table that gained this many rows within a minute, and
    # doing it here as well took half a second of every initial load at scale 100.
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
    tables: Iterable[tuple[str, TableData]],
    *,
    overwrite_dimensions: bool = True,
    bulk_min_rows: int = BULK_MIN_ROWS,
    reporter: Reporter | None = None,
    before_commit: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Load one batch's star tables and record it in the ledger, in one transaction.

    ``tables`` are (name, data) pairs in any order, and may be a stream that waits for each
    (run-all hands tables over as its transform writes them). Where the role may skip
    triggers, a table that is bulk-loaded goes in as soon as it arrives, since its references
    are checked set-based at the end; every other table waits, and they are loaded in the
    registry's order, dimensions before the facts that point at them.

    Returns the rows each table gained or changed. ``overwrite_dimensions`` is False when a newer
    batch is already loaded: an old batch's dimension rows may then only fill gaps, never
    overwrite the newer state.
    """
    reporter = reporter or NullReporter()
    merged: dict[str, int] = {}
    with db.connect() as conn, conn.cursor() as cur:
        skip_triggers = may_skip_triggers(cur)
        checks: list[_ReferenceCheck] = []

        def is_bulk(table: StarTable, data: TableData) -> bool:
            return data.rows >= bulk_min_rows and _is_empty(cur, table)

        def load(table: StarTable, data: TableData, *, bulk: bool) -> None:
            checkpoint(f"while loading batch {batch_id} (its transaction was rolled back)")
            started = time.perf_counter()
            if bulk:
                if skip_triggers and table.foreign_keys:
                    check = _ReferenceCheck(table, data)
                    checks.append(check)
                    data = check.data
                merged[table.name] = _bulk_load(
                    cur, batch_id, table, data, skip_triggers=skip_triggers
                )
            else:
                merged[table.name] = _merge(
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
                table=table.name,
                rows=data.rows,
                merged=merged[table.name],
                path="bulk" if bulk else "merge",
                seconds=round(seconds, 3),
                rows_per_s=round(data.rows / seconds) if seconds else None,
            )
            fault_point("table_merged")

        waiting: dict[str, TableData] = {}
        for name, data in tables:
            if data.rows == 0:
                continue
            if skip_triggers and is_bulk(STAR_TABLES[name], data):
                load(STAR_TABLES[name], data, bulk=True)
            else:
                waiting[name] = data
        for name, table in STAR_TABLES.items():
            if name in waiting:
                load(table, waiting[name], bulk=is_bulk(table, waiting[name]))
        for check in checks:
            check.verify(cur, batch_id)
        cur.execute(
            f"""INSERT INTO {LEDGER} (batch_id, rows) VALUES ($1, $2::jsonb)
                ON CONFLICT (batch_id) DO UPDATE SET loaded_at = now()""",
            [batch_id, json.dumps({n: merged[n] for n in STAR_TABLES if n in merged})],
        )
        before_commit()  # e.g. confirm the run still holds its lock
        conn.commit()
    fault_point("batch_loaded")
    return {name: merged[name] for name in STAR_TABLES if name in merged}


def table_counts(db: Database) -> dict[str, int]:
    with db.connect() as conn, conn.cursor() as cur:
        return {
            name: int(fetch_all(cur, f"SELECT count(*) FROM {quote_ident(name)}")[0][0])
            for name in STAR_TABLES
        }

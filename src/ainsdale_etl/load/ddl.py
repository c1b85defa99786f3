"""The warehouse's DDL, declared from the registry (never inferred), and its creation.

Key and foreign-key constraints are declared here once: the bulk load drops and re-adds them
by these same names and definitions (:mod:`.bulk`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import Database, fetch_all
from ainsdale_etl.core.errors import RefusedError
from ainsdale_etl.core.registry import STAR_TABLES, StarTable, quote_ident

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor

META_SCHEMA = "ainsdale_meta"
LEDGER = f"{META_SCHEMA}.loaded_batch"
DELETED = f"{META_SCHEMA}.deleted_row"  # rows deleted in totesys (see load/deletions.py)
DIM_VERSION = f"{META_SCHEMA}.dim_version"  # each dimension row's version (load/versions.py)
DIM_BASE_VERSION = f"{META_SCHEMA}.dim_base_version"  # ... of the rows a bulk load put there
INFERRED = f"{META_SCHEMA}.inferred_member"  # placeholders for late rows (load/inferred.py)


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
        parts += [f"CONSTRAINT {n} {d}" for n, d in foreign_key_constraints(table)]
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
        f"""CREATE TABLE IF NOT EXISTS {DELETED} (
            star_table text NOT NULL,
            id integer NOT NULL,
            source_table text NOT NULL,
            batch_id text NOT NULL,
            detected_at timestamptz NOT NULL DEFAULT now(),
            kept boolean NOT NULL,
            PRIMARY KEY (star_table, id)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {DIM_VERSION} (
            dim text NOT NULL,
            id integer NOT NULL,
            batch_id text NOT NULL,
            PRIMARY KEY (dim, id)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {DIM_BASE_VERSION} (
            dim text PRIMARY KEY,
            batch_id text NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {INFERRED} (
            dim text NOT NULL,
            id integer NOT NULL,
            batch_id text NOT NULL,
            referenced_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (dim, id)
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
        meta = {LEDGER, DELETED, DIM_VERSION, DIM_BASE_VERSION, INFERRED}
        wanted = {*meta, *(f"public.{name}" for name in STAR_TABLES)}
        if wanted <= set(tables):
            return  # every run checks; only the first creates (a dozen DDL round trips)
        for statement in warehouse_ddl():
            cur.execute(statement)
        if ours and DIM_BASE_VERSION not in tables:
            _version_existing_rows(cur)
        conn.commit()


def _version_existing_rows(cur: Cursor) -> None:
    """A warehouse loaded by a release without versions: its dimension rows are as new as the
    newest batch loaded, so an older batch reloaded later cannot overwrite them."""
    cur.execute(
        f"INSERT INTO {DIM_BASE_VERSION} (dim, batch_id) "
        f"SELECT dim, batch_id FROM unnest($1::text[]) AS dim, "
        f"(SELECT max(batch_id) AS batch_id FROM {LEDGER}) AS newest "
        "WHERE batch_id IS NOT NULL ON CONFLICT DO NOTHING",
        [[t.name for t in STAR_TABLES.values() if not t.is_fact and t.name != "dim_date"]],
    )


def foreign_key_constraints(table: StarTable) -> list[tuple[str, str]]:
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


def referencing_constraints(dim: StarTable) -> list[tuple[str, str, str]]:
    """(table, name, definition) of every foreign key that references ``dim``."""
    return [
        (fact.name, name, definition)
        for fact in STAR_TABLES.values()
        for column, (name, definition) in zip(
            fact.foreign_keys, foreign_key_constraints(fact), strict=True
        )
        if column.references == dim.name
    ]


def key_constraints(table: StarTable) -> list[tuple[str, str]]:
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

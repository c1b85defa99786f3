"""The warehouse's DDL, declared from the registry (never inferred).

The warehouse is created and changed by the migrations (:mod:`.migrate`); a test keeps the
star tables they make equal to :func:`table_ddl`'s. Key and foreign-key constraints are
declared here once: the bulk load drops and re-adds them by these same names and definitions
(:mod:`.bulk`).
"""

from __future__ import annotations

from ainsdale_etl.core.registry import STAR_TABLES, StarTable, quote_ident

META_SCHEMA = "ainsdale_meta"
LEDGER = f"{META_SCHEMA}.batch"  # the batch ledger (load/ledger.py)
ENVIRONMENT = (
    f"{META_SCHEMA}.environment"  # the buckets and lake it is fed from (pipeline/binding.py)
)
LAKE_CATALOG_SCHEMA = "ainsdale_lake"  # the embedded lake catalog (lake/catalog.py)
ROW_VERSION = f"{META_SCHEMA}.row_version"  # each star row's current version (load/versions.py)
DIM_BASE_VERSION = f"{META_SCHEMA}.dim_base_version"  # ... of the rows a bulk load put there
INFERRED = f"{META_SCHEMA}.inferred_member"  # placeholders for late rows (load/inferred.py)
FACT_KEY_RANGE = f"{META_SCHEMA}.fact_key_range"  # keys a bulk load gave a fact (load/bulk.py)


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


def current_view(fact: StarTable) -> str:
    """The view of a fact's current versions (migration 0005), quoted."""
    return quote_ident_suffix(fact.name, "current")


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

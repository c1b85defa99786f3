"""The warehouse's DDL, declared from the registry (never inferred).

The warehouse is created and changed by the migrations (:mod:`.migrate`); a test keeps the
star tables they make equal to :func:`table_ddl`'s. Key and foreign-key constraints are
declared here once: the bulk load drops and re-adds them by these same names and definitions
(:mod:`.bulk`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ainsdale_etl.core.registry import STAR_TABLES, StarColumn, StarTable, quote_ident

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


# Dimension history (type 2, migration 0006): beside the spec's tables, which stay type 1.
DIM_DELETION = f"{META_SCHEMA}.dim_deletion"  # every deletion a load applied (load/history.py)
FACT_RECORDED = f"{META_SCHEMA}.fact_recorded"  # the batch that first recorded a merged fact row
BATCH_TIME = f"{META_SCHEMA}.batch_time"  # a batch id as the UTC time it names


def historied() -> list[StarTable]:
    """The dimensions that keep a history: every one mirrored from the source (not the
    calendar, which is generated)."""
    return [t for t in STAR_TABLES.values() if not t.is_fact and t.name != "dim_date"]


def history_table(dim: StarTable) -> str:
    """The history table of ``dim``, quoted: ``dim_<name>_history``."""
    return quote_ident_suffix(dim.name, "history")


def version_key(dim: StarTable) -> str:
    """The surrogate key of ``dim``'s history, quoted: ``staff_id`` -> ``staff_version_key``."""
    return f'"{quote_ident(dim.key[0]).strip(chr(34)).removesuffix("_id")}_version_key"'


def history_ddl(dim: StarTable) -> list[str]:
    """CREATE TABLE and indexes of ``dim``'s history: a surrogate key, the natural key, every
    attribute as the dimension types it, and the version's interval in the batch order
    (``valid_to`` NULL while it is current), and when the load last changed the row
    (``changed_at``: what the lake is owed, lake/owed.py). One current row per id, enforced
    by a partial unique index; one version per (id, valid_from)."""
    name, key = history_table(dim), quote_ident(dim.key[0])
    parts = [
        f"{version_key(dim)} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        *_column_ddl(dim),
        "valid_from timestamptz NOT NULL",
        "valid_to timestamptz",
        "is_current boolean NOT NULL",
        "changed_at timestamptz NOT NULL DEFAULT now()",
        f"CONSTRAINT {quote_ident_suffix(dim.name, 'history_version')} UNIQUE ({key}, valid_from)",
    ]
    body = ",\n    ".join(parts)
    current = quote_ident_suffix(dim.name, "history_current")
    changed = quote_ident_suffix(dim.name, "history_changed")
    return [
        f"CREATE TABLE IF NOT EXISTS {name} (\n    {body}\n)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {current} ON {name} ({key}) WHERE is_current",
        f"CREATE INDEX IF NOT EXISTS {changed} ON {name} (changed_at)",
    ]


def recorded_batch(fact: StarTable, alias: str) -> str:
    """SQL: the batch that first recorded the fact row ``alias`` (its merge's record, or the
    key range of the bulk load that put it there)."""
    record = quote_ident(fact.surrogate_key or "")
    return f"""SELECT least(
            (SELECT fr.batch_id FROM {FACT_RECORDED} fr
                WHERE fr.star_table = '{fact.name}' AND fr.record_id = {alias}.{record}),
            (SELECT kr.batch_id FROM {FACT_KEY_RANGE} kr WHERE kr.star_table = '{fact.name}'
                AND {alias}.{record} BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
                ORDER BY kr.batch_id LIMIT 1))"""


def current_version(fact: StarTable, alias: str) -> tuple[str, str]:
    """SQL: the join of the fact row ``alias`` to its id's row_version, and the condition
    that makes it the id's current version; the view below and verify's scan of every
    version (ops/verify_shared.py) say it once, here."""
    record = quote_ident(fact.surrogate_key or "")
    key = quote_ident(fact.key[0])
    return (
        f"LEFT JOIN {ROW_VERSION} v ON v.star_table = '{fact.name}' AND v.id = {alias}.{key}",
        f"v.id IS NULL OR (v.record_id = {alias}.{record} AND NOT v.deleted)",
    )


def current_view_ddl(fact: StarTable) -> str:
    """The view of ``fact``'s current versions (migration 0005's), with the batch that
    recorded each and its time: what the lake's ``<fact>_current`` holds, so a reader of the
    lake finds the dimension versions valid then."""
    recorded = recorded_batch(fact, "f")
    join, current = current_version(fact, "f")
    return f"""CREATE OR REPLACE VIEW {current_view(fact)} AS
    SELECT f.*, ({recorded}) AS recorded_batch,
        {BATCH_TIME}(({recorded})) AS recorded_at
    FROM {quote_ident(fact.name)} f
    {join}
    WHERE {current}"""


@dataclass(frozen=True)
class RecordedJoin:
    """One dimension an ``_as_recorded`` view joins a fact to, by one of its keys: the history
    table's alias, and each attribute with the label it has in the view."""

    alias: str
    key: StarColumn  # the fact's column that points at the dimension
    dim: StarTable
    version_label: str  # the label of the history's surrogate key
    attributes: tuple[tuple[str, str], ...]  # (the dimension's column, its label in the view)

    def columns(self) -> list[str]:
        """What the view selects of the version: its key and each attribute, labelled."""
        return [
            f'{self.alias}.{version_key(self.dim)} AS "{self.version_label}"',
            *(f'{self.alias}.{quote_ident(a)} AS "{label}"' for a, label in self.attributes),
        ]

    def join(self, recorded_at: str) -> str:
        """The LEFT JOIN of the dimension's version valid at ``recorded_at`` (the warehouse's
        and the lake's views alike)."""
        a, at = self.alias, recorded_at
        return (
            f"LEFT JOIN {history_table(self.dim)} {a} ON {a}.{quote_ident(self.dim.key[0])} = "
            f"f.{quote_ident(self.key.name)} AND {a}.valid_from <= "
            f"{at} AND ({a}.valid_to IS NULL OR {at} < {a}.valid_to)"
        )


def recorded_joins(fact: StarTable) -> list[RecordedJoin]:
    """The dimension versions ``fact``'s ``_as_recorded`` views join (every key but dates'):
    each attribute labelled with the key's entity unless its name already says it."""
    joins = []
    for i, column in enumerate(c for c in fact.foreign_keys if c.references != "dim_date"):
        dim = STAR_TABLES[column.references or ""]
        entity = column.name.removesuffix("_id")
        labels = tuple(
            (
                a.name,
                a.name
                if a.name.startswith(dim.name.removeprefix("dim_"))
                else f"{entity}_{a.name}",
            )
            for a in dim.columns[1:]
        )
        joins.append(RecordedJoin(f"h{i}", column, dim, f"{entity}_version_key", labels))
    return joins


def as_recorded_view(fact: StarTable) -> str:
    """The view of ``fact``'s every version with the dimension versions valid when that version
    was recorded (its batch: the first to record it; a bulk load's from its key range)."""
    name = quote_ident(fact.name)
    view = quote_ident_suffix(fact.name, "as_recorded")
    columns = ["f.*", "r.recorded_batch", f"{BATCH_TIME}(r.recorded_batch) AS recorded_at"]
    recorded = f"({recorded_batch(fact, 'f')} AS recorded_batch) r"
    joins = []
    for join in recorded_joins(fact):
        columns += join.columns()
        joins.append(join.join(f"{BATCH_TIME}(r.recorded_batch)"))
    listed = ",\n    ".join(columns)
    joined = "\n".join(joins)
    return (
        f"CREATE OR REPLACE VIEW {view} AS\nSELECT\n    {listed}\n"
        f"FROM {name} f CROSS JOIN LATERAL {recorded}\n{joined}"
    )

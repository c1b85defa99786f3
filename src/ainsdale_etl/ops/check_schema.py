"""``check``'s schema lines: the source's columns against the registry, the warehouse's schema
version against this release's, and the privileges of the path the next load will take."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import EtlError
from ainsdale_etl.core.events import counted, plural
from ainsdale_etl.core.registry import SCHEMA_VERSION, SOURCE_TABLES, STAR_TABLES, quote_ident
from ainsdale_etl.load.bulk import BULK_MIN_ROWS
from ainsdale_etl.load.ddl import (
    DIM_BASE_VERSION,
    FACT_KEY_RANGE,
    INFERRED,
    LEDGER,
    ROW_VERSION,
    referencing_constraints,
)
from ainsdale_etl.load.migrate import VERSIONS, plan_migrations

if TYPE_CHECKING:
    import psycopg

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.extract.drift import DriftPolicy

_META = (LEDGER, ROW_VERSION, DIM_BASE_VERSION, INFERRED, FACT_KEY_RANGE)
# What the merge path does to each table (load/merge.py, deletions.py, versions.py, inferred.py).
_MERGE_NEEDS = [
    *((name, p) for name in STAR_TABLES for p in ("SELECT", "INSERT", "DELETE")),
    *((name, "UPDATE") for name, t in STAR_TABLES.items() if not t.is_fact),
    *((name, p) for name in _META for p in ("SELECT", "INSERT", "UPDATE", "DELETE")),
    (VERSIONS, "SELECT"),
]


def source_columns_detail(db: Database, where: str, policy: DriftPolicy) -> str:
    """Every source column the star needs there, typed as the registry says (see
    extract/drift.py); a column the registry does not know is named, and fails under ``fail``."""
    from ainsdale_etl.extract.drift import source_drift

    with db.psycopg_connect() as conn:
        drift = source_drift(conn, SOURCE_TABLES)
        conn.rollback()
    problems = drift.problems(policy)
    if problems:
        raise EtlError(f"{where}: {'; '.join(problems)}; every extract stops until it is fixed")
    added = [f"{t}.{c}" for t, columns in drift.added.items() for c in columns]
    if added:
        return (
            f"{where}: every column the star needs is there; not in the registry, so not "
            f"extracted: {', '.join(added)} (AINSDALE_SOURCE_DRIFT=warn)"
        )
    columns = sum(len(t.columns) for t in SOURCE_TABLES.values())
    return f"{where}: all {columns} columns match the registry"


def warehouse_schema_detail(db: Database, where: str) -> str:
    """The warehouse's schema version, and what the next load (or ``migrate``) does about it."""
    with db.psycopg_connect() as conn:
        plan = plan_migrations(conn)  # refuses foreign tables and newer schemas, as load would
        conn.rollback()
    if plan.up_to_date:
        return f"{where}: schema version {plan.version}, this release's"
    made = " (made before schema versions)" if plan.baseline else ""
    now = f"at version {plan.version}{made}" if plan.version else "empty"
    return (
        f"{where}: {now}; the next load migrates it to version {SCHEMA_VERSION} "
        "('ainsdale-etl migrate --dry-run' prints the SQL)"
    )


def _privileges(conn: psycopg.Connection) -> tuple[str, bool, dict[str, bool], list[str]]:
    """(this role, whether a superuser, table -> owned by it, the merge path's missing
    grants)."""
    names = sorted({t for t, _ in _MERGE_NEEDS})
    rows = conn.execute(
        """SELECT wanted.name, c.oid IS NOT NULL AND pg_has_role(c.relowner, 'MEMBER'),
                  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_user
           FROM unnest(%s::text[]) AS wanted(name)
           LEFT JOIN pg_class c ON c.oid = to_regclass(wanted.name)""",
        [[quote_ident(n) if n in STAR_TABLES else n for n in names]],
    ).fetchall()
    owned = {name: bool(row[1]) for name, row in zip(names, rows, strict=True)}
    role, superuser = str(rows[0][3]), bool(rows[0][2])
    granted = conn.execute(
        """SELECT to_regclass(t) IS NOT NULL AND has_table_privilege(t, p)
           FROM unnest(%s::text[], %s::text[]) AS needed(t, p)""",
        [
            [quote_ident(t) if t in STAR_TABLES else t for t, _ in _MERGE_NEEDS],
            [p for _, p in _MERGE_NEEDS],
        ],
    ).fetchall()
    missing = [f"{p} on {t}" for (t, p), (ok,) in zip(_MERGE_NEEDS, granted, strict=True) if not ok]
    return role, superuser, owned, missing


def load_privileges_detail(db: Database, where: str) -> str:
    """The privileges of the path the next load takes: merging (INSERT, UPDATE, DELETE, TEMP)
    always; bulk-loading the tables that are empty (their owner, to drop and re-add keys);
    migrating, when the schema is behind (the owner of every table)."""
    with db.psycopg_connect() as conn:
        plan = plan_migrations(conn)
        if plan.version == 0:
            conn.rollback()
            return f"{where}: no warehouse yet; the first load creates its tables, so owns them"
        role, superuser, owned, missing = _privileges(conn)
        temp = conn.execute("SELECT has_database_privilege(current_database(), 'TEMP')")
        if not (temp.fetchone() or (False,))[0]:
            missing.append("TEMPORARY on the database")
        if missing:
            conn.rollback()
            raise EtlError(f"{where}: the load needs {', '.join(missing)}; grant them")
        holds = ", ".join(f"EXISTS (SELECT 1 FROM {quote_ident(n)})" for n in STAR_TABLES)
        row = conn.execute(f"SELECT {holds}").fetchone() or ()
        empty = [name for name, held in zip(STAR_TABLES, row, strict=True) if not held]
        conn.rollback()
    to_own = _bulk_touches(empty) if empty else []
    if not plan.up_to_date:
        to_own = list(owned)
    not_owned = [t for t in to_own if not owned.get(t, False)]
    if not_owned:
        why = (
            f"migrating to schema version {SCHEMA_VERSION} alters the tables"
            if not plan.up_to_date
            else f"a load of {BULK_MIN_ROWS:,} rows or more into the empty "
            f"{plural('table', len(empty))} {', '.join(empty)} takes the bulk path, dropping and "
            "re-adding keys"
        )
        raise EtlError(
            f"{where}: {why}, which takes their owner; {role} does not own "
            f"{', '.join(not_owned)}: ALTER TABLE … OWNER TO {role}, or run the load as the owner"
        )
    merge = "merge path granted (INSERT, UPDATE, DELETE, TEMP)"
    if not empty:
        return f"{where}: {merge}; no bulk load due (every star table holds rows)"
    how = (
        "foreign-key triggers off while copying (superuser)"
        if superuser
        else "foreign keys dropped and re-validated (not a superuser)"
    )
    return f"{where}: {merge}; bulk path for {counted(len(empty), 'empty table')} owned, {how}"


def _bulk_touches(empty: list[str]) -> list[str]:
    """The tables a bulk load of ``empty`` ones alters (see load/bulk.py): an empty fact; an
    empty dimension whose facts are all empty too, with those facts."""
    touched: set[str] = set()
    for name in empty:
        if STAR_TABLES[name].is_fact:
            touched.add(name)
            continue
        facts = {fact for fact, _, _ in referencing_constraints(STAR_TABLES[name])}
        if facts <= set(empty):
            touched |= {name, *facts}
    return [name for name in STAR_TABLES if name in touched]

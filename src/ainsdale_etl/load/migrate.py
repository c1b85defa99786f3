"""The warehouse's schema version, and the migrations that bring it to this release's.

Migrations are numbered SQL files shipped in ``load/migrations/`` (``0001_baseline.sql`` is the
schema of the release before versions), applied in order by every load and by ``ainsdale-etl
migrate``, under the pipeline lock, all pending ones in one transaction: a failure leaves the
warehouse at the version it had. ``ainsdale_meta.schema_version`` holds one row per version
applied. A warehouse with the meta tables but no version table was created by a release before
versions: it is recognised as version 1 (its data kept), then migrated on.

A handful of SQL files and a loop, rather than yoyo or Alembic: the runner must share the load's
lock and connection settings, refuse foreign tables and newer schemas in the load's words, and
print its SQL for ``--dry-run``; a migration tool would bring its own connection handling, log
table and CLI, and do none of those three.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import Database, relation_exists, split_script
from ainsdale_etl.core.errors import RefusedError
from ainsdale_etl.core.events import counted
from ainsdale_etl.core.registry import SCHEMA_VERSION, STAR_TABLES
from ainsdale_etl.load.ddl import DIM_BASE_VERSION, LEDGER, META_SCHEMA

if TYPE_CHECKING:
    import psycopg

VERSIONS = f"{META_SCHEMA}.schema_version"
_VERSIONS_DDL = f"""CREATE TABLE IF NOT EXISTS {VERSIONS} (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    baseline boolean NOT NULL DEFAULT false
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # the file's text, comments included: what --dry-run prints

    @property
    def statements(self) -> list[str]:
        return split_script(self.sql)


def _migrations() -> tuple[Migration, ...]:
    found = []
    for path in sorted(files("ainsdale_etl.load").joinpath("migrations").iterdir(), key=str):
        if path.name.endswith(".sql"):
            number, _, name = path.name.removesuffix(".sql").partition("_")
            found.append(Migration(int(number), name, path.read_text(encoding="utf-8")))
    return tuple(found)


MIGRATIONS = _migrations()


@dataclass(frozen=True)
class MigrationPlan:
    """Where a warehouse stands: its version (0: empty), whether it is to be recognised as
    version 1 (made by a release before versions), and the migrations it lacks."""

    version: int
    baseline: bool
    pending: tuple[Migration, ...]

    @property
    def target(self) -> int:
        return self.pending[-1].version if self.pending else max(self.version, 1)

    @property
    def up_to_date(self) -> bool:
        return not self.pending and not self.baseline

    def sql(self) -> str:
        """The SQL a migration runs, as the files hold it (for ``migrate --dry-run``)."""
        parts = []
        if self.baseline:
            parts.append(
                "-- Version 1 (baseline): this warehouse was created before schema versions;\n"
                f"-- it is recorded as version 1 in {VERSIONS}, its tables and data kept."
            )
        parts += [f"-- migration {m.version:04d}_{m.name}\n{m.sql.strip()}" for m in self.pending]
        return "\n\n".join(parts)


def _user_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        """SELECT n.nspname || '.' || c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm')
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg_toast%'"""
    ).fetchall()
    return [r[0] for r in rows]


def newer_schema_error(version: int) -> RefusedError:
    return RefusedError(
        f"the warehouse's schema is version {version}, newer than this ainsdale-etl's "
        f"({SCHEMA_VERSION}): a later release migrated it; run that release (or newer)"
    )


def plan_migrations(conn: psycopg.Connection, *, force: bool = False) -> MigrationPlan:
    """What :func:`migrate_warehouse` would do to this warehouse; refuses one it must not
    touch (foreign tables without ``force``, or a schema newer than this release's)."""
    if relation_exists(conn, VERSIONS):
        row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSIONS}").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise newer_schema_error(version)
        return MigrationPlan(version, False, tuple(m for m in MIGRATIONS if m.version > version))
    tables = _user_tables(conn)
    ours = any(t.startswith(f"{META_SCHEMA}.") for t in tables)
    if tables and not ours and not force:
        raise RefusedError(
            f"the warehouse database holds {counted(len(tables), 'table')} ainsdale-etl did not "
            "create "
            f"(e.g. {tables[0]}); point AINSDALE_WAREHOUSE_URL at an empty database, "
            "or rerun with --force to add the star schema beside them"
        )
    version = 1 if ours else 0
    return MigrationPlan(version, ours, tuple(m for m in MIGRATIONS if m.version > version))


def migrate_warehouse(db: Database, *, force: bool = False, dry_run: bool = False) -> MigrationPlan:
    """Bring the warehouse to this release's schema version, in one transaction; with
    ``dry_run``, only say what that would take. Call under the pipeline lock.

    A database that holds tables this tool did not create is refused unless ``force``:
    creating tables next to someone else's data is a decision for a person, not a default.
    An up-to-date warehouse costs two catalog reads: every load calls this first."""
    with db.psycopg_connect() as conn:
        plan = plan_migrations(conn, force=force)
        if dry_run or plan.up_to_date:
            conn.rollback()
            return plan
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
        conn.execute(_VERSIONS_DDL)
        if plan.baseline:
            _recognise_baseline(conn)
        for migration in plan.pending:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                f"INSERT INTO {VERSIONS} (version, name) VALUES (%s, %s)",
                [migration.version, migration.name],
            )
        conn.commit()
    return plan


def _recognise_baseline(conn: psycopg.Connection) -> None:
    """Record a warehouse made before versions as version 1, after creating what an older
    release may lack (version 1's statements create only what is missing)."""
    had_base_versions = relation_exists(conn, DIM_BASE_VERSION)
    for statement in MIGRATIONS[0].statements:
        conn.execute(statement)
    if not had_base_versions:
        # Loaded by a release without row versions: its dimension rows are as new as the
        # newest batch loaded, so an older batch reloaded later cannot overwrite them.
        conn.execute(
            f"INSERT INTO {DIM_BASE_VERSION} (dim, batch_id) "
            f"SELECT dim, batch_id FROM unnest(%s::text[]) AS dim, "
            f"(SELECT max(batch_id) AS batch_id FROM {LEDGER}) AS newest "
            "WHERE batch_id IS NOT NULL ON CONFLICT DO NOTHING",
            [[t.name for t in STAR_TABLES.values() if not t.is_fact and t.name != "dim_date"]],
        )
    conn.execute(
        f"INSERT INTO {VERSIONS} (version, name, baseline) VALUES (1, %s, true)",
        [MIGRATIONS[0].name],
    )

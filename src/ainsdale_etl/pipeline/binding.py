"""A warehouse is bound to one environment: the buckets and the lake that feed it.

The first writing command records them in ``ainsdale_meta.environment``; every writing command
after compares its own configuration with that record and refuses, in one line naming both,
a run pointed at other buckets or another lake (an engineer's shell left on a dev bucket,
another environment's lake catalog), unless told ``--rebind``. The record also carries the
environment's id, which the lake stamps on its namespace so that two environments never share
a lake database (see lake/catalog.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ainsdale_etl.adapters.postgres import relation_exists
from ainsdale_etl.core.errors import RefusedError
from ainsdale_etl.load.ddl import ENVIRONMENT, LEDGER
from ainsdale_etl.load.migrate import migrate_warehouse

if TYPE_CHECKING:
    from ainsdale_etl.core.settings import Settings
    from ainsdale_etl.runtime.context import Context


@dataclass(frozen=True)
class Environment:
    ingest_uri: str
    processed_uri: str
    lake: str  # where the lake's tables are registered: catalog and namespace ("none": off)

    def differences(self, other: Environment) -> list[str]:
        """What ``other`` (the configuration) changes of this (the record), pure. A lake
        turned on where it was off is no change: there was no lake to bind."""
        diffs = []
        for name in ("ingest_uri", "processed_uri"):
            if getattr(self, name) != getattr(other, name):
                label = name.removesuffix("_uri")
                diffs.append(f"{label} bucket {getattr(self, name)} (now {getattr(other, name)})")
        if self.lake not in ("none", other.lake) and other.lake != "none":
            diffs.append(f"lake {self.lake} (now {other.lake})")
        return diffs


def without_credentials(uri: str) -> str:
    """``uri`` with any user and password masked (``***@``, as every output masks them): what
    may be recorded and printed."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<a catalog URI that does not parse>"
    if not parts.netloc or "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def lake_of(settings: Settings) -> str:
    if not settings.lake_enabled:
        return "none"
    kind = settings.lake_catalog
    catalog = "sql (the warehouse)" if kind == "sql" else without_credentials(kind)
    return f"{catalog} namespace {settings.lake_database}"


def configured(ctx: Context) -> Environment:
    return Environment(ctx.ingest.uri, ctx.processed.uri, lake_of(ctx.settings))


def prepare_warehouse(ctx: Context, *, force: bool = False, rebind: bool = False) -> str:
    """Create or migrate the warehouse, then check (or record) the environment it is fed
    from; returns the environment's id. Call under the pipeline lock."""
    migrate_warehouse(ctx.warehouse, force=force)
    wanted = configured(ctx)
    with ctx.warehouse.psycopg_connect() as conn:
        row = conn.execute(
            f"SELECT ingest_uri, processed_uri, lake, environment_id::text FROM {ENVIRONMENT}"
        ).fetchone()
        if row is None:
            found = conn.execute(
                f"INSERT INTO {ENVIRONMENT} (ingest_uri, processed_uri, lake) VALUES (%s, %s, %s) "
                "RETURNING environment_id::text",
                [wanted.ingest_uri, wanted.processed_uri, wanted.lake],
            ).fetchone()
            conn.commit()
            return str(found[0]) if found else ""
        recorded = Environment(row[0], row[1], row[2])
        diffs = recorded.differences(wanted)
        if diffs and not rebind:
            raise RefusedError(
                f"this warehouse is fed from another environment: {'; '.join(diffs)}; point "
                "AINSDALE_INGEST_URI, AINSDALE_PROCESSED_URI and AINSDALE_LAKE_* at its own, "
                "or rerun with --rebind to move it to these (see docs/change-capture.md: State)"
            )
        if diffs or (recorded.lake == "none" and wanted.lake != "none"):
            lake = wanted.lake if wanted.lake != "none" else recorded.lake
            conn.execute(
                f"UPDATE {ENVIRONMENT} SET ingest_uri = %s, processed_uri = %s, lake = %s, "
                "bound_at = now()",
                [wanted.ingest_uri, wanted.processed_uri, lake],
            )
            if (recorded.processed_uri, recorded.lake) != (wanted.processed_uri, lake):
                # Another lake: it holds none of the loaded batches yet.
                conn.execute(f"UPDATE {LEDGER} SET lake_at = NULL")
            conn.commit()
        if diffs:
            ctx.reporter.warning(
                f"the warehouse is now fed from these buckets and lake ({'; '.join(diffs)})",
                kind="environment_rebound",
            )
        return str(row[3])


def environment_id(ctx: Context) -> str | None:
    """The id of the environment this warehouse is bound to (None: not bound yet)."""
    with ctx.warehouse.psycopg_connect() as conn:
        if not relation_exists(conn, ENVIRONMENT):
            return None
        row = conn.execute(f"SELECT environment_id::text FROM {ENVIRONMENT}").fetchone()
    return str(row[0]) if row else None

"""The ledger: which batches the warehouse holds, recorded in the load's own transaction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ainsdale_etl.adapters.postgres import Database, fetch_all
from ainsdale_etl.core.registry import STAR_TABLES, quote_ident
from ainsdale_etl.load.ddl import INFERRED, LEDGER

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor


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


def record_batch(cur: Cursor, batch_id: str, merged: dict[str, int], schema_version: int) -> None:
    """Record ``batch_id`` as loaded with the rows each table merged and the schema version
    that wrote it (a reload refreshes both and its time): call inside the load's transaction,
    so the ledger commits with the rows."""
    cur.execute(
        f"""INSERT INTO {LEDGER} (batch_id, rows, schema_version) VALUES ($1, $2::jsonb, $3)
            ON CONFLICT (batch_id) DO UPDATE
            SET loaded_at = now(), schema_version = EXCLUDED.schema_version""",
        [batch_id, json.dumps({n: merged[n] for n in STAR_TABLES if n in merged}), schema_version],
    )


def table_counts(db: Database) -> dict[str, int]:
    """Rows in each star table."""
    with db.connect() as conn, conn.cursor() as cur:
        return {
            name: int(fetch_all(cur, f"SELECT count(*) FROM {quote_ident(name)}")[0][0])
            for name in STAR_TABLES
        }


def inferred_waiting(db: Database) -> dict[str, dict[str, int]]:
    """batch id -> dimension -> the placeholders that batch added still waiting for their rows."""
    waiting: dict[str, dict[str, int]] = {}
    with db.psycopg_connect() as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [INFERRED]).fetchone()
        if not exists or not exists[0]:
            return waiting
        for batch_id, dim, count in conn.execute(
            f"SELECT batch_id, dim, count(*) FROM {INFERRED} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall():
            waiting.setdefault(batch_id, {})[dim] = int(count)
    return waiting

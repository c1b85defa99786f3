"""The batch ledger: one row per batch in the warehouse, the one record of where it stands.

Each step records its own transition: the extract that a batch was extracted (after its
manifest commits), the transform that it was transformed, the load that it was loaded (in the
load's own transaction, with the rows), the lake step that it reached the lake; the policy
records a quarantine and lifts it. What is due is one query (:func:`open_batches`); the
buckets' manifests stay the immutable commit markers of a batch's objects, and the ledger
names the buckets they were written to and the manifest's checksum, so ``batches --check``
can confirm they are still there and whole.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ainsdale_etl.adapters.postgres import Database, fetch_all, relation_exists
from ainsdale_etl.core.registry import STAR_TABLES, quote_ident
from ainsdale_etl.load.ddl import INFERRED, LEDGER

if TYPE_CHECKING:
    import psycopg
    from adbc_driver_postgresql.dbapi import Cursor


@dataclass(frozen=True)
class BatchState:
    """One ledger row."""

    batch_id: str
    follows: str | None = None
    manifest_sha256: str | None = None
    ingest_uri: str | None = None
    processed_uri: str | None = None
    extracted_at: datetime | None = None
    transformed_at: datetime | None = None
    loaded_at: datetime | None = None
    lake_at: datetime | None = None
    quarantine_step: str | None = None
    quarantine_reason: str | None = None
    quarantined_at: datetime | None = None
    lost_at: datetime | None = None
    repaired_by: str | None = None  # the batch whose extract read a lost batch's windows again
    rows: dict[str, int] | None = None

    @property
    def status(self) -> str:
        if self.lost_at is not None and self.loaded_at is None:
            return "lost"
        if self.quarantine_step is not None:
            return "quarantined"
        if self.loaded_at is not None:
            return "loaded"
        return "transformed" if self.transformed_at is not None else "extracted"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = tuple(BatchState.__dataclass_fields__)
_COLUMN_LIST = ", ".join(c if c != "rows" else "rows::text" for c in _COLUMNS)
_SELECT = f"SELECT {_COLUMN_LIST} FROM {LEDGER}"
# A batch is open while a step still owes it something, or while it is quarantined.
_OPEN = "loaded_at IS NULL OR lake_at IS NULL OR lake_at < loaded_at OR quarantine_step IS NOT NULL"


# The ledger's timestamps are parsed by the client: a role's or a database's DateStyle ('SQL,
# DMY', say) or TimeZone must not change what it reads (issue #29, case 8).
PINNED = {"options": "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=postgres"}


def ledger_session(db: Database) -> AbstractContextManager[psycopg.Connection]:
    """A psycopg session on the warehouse with the settings the ledger is read under pinned."""
    return db.psycopg_connect(options=PINNED)


def _state(row: tuple[Any, ...]) -> BatchState:
    values = dict(zip(_COLUMNS, row, strict=True))
    if values["rows"] is not None:
        values["rows"] = json.loads(values["rows"])
    return BatchState(**values)


def open_batches(db: Database) -> tuple[list[BatchState], str | None]:
    """What is due, in one query: every batch a step still owes something (or quarantined),
    oldest first, and the newest batch extracted (what a new batch follows). Its cost does
    not grow with history (a partial index holds the open batches)."""
    with ledger_session(db) as conn:
        if not relation_exists(conn, LEDGER):
            return [], None
        rows = conn.execute(
            f"{_SELECT} WHERE {_OPEN} ORDER BY batch_id",
        ).fetchall()
        newest = conn.execute(
            f"SELECT max(batch_id) FROM {LEDGER} WHERE extracted_at IS NOT NULL"
        ).fetchone()
    return [_state(r) for r in rows], (newest[0] if newest else None)


def all_batches(db: Database) -> list[BatchState]:
    """The whole ledger, oldest first (``batches``, the extract's walk back for a window)."""
    with ledger_session(db) as conn:
        if not relation_exists(conn, LEDGER):
            return []
        return [_state(r) for r in conn.execute(f"{_SELECT} ORDER BY batch_id").fetchall()]


def extracted_ids(db: Database, *, newest: int | None = None) -> list[str]:
    """The batches extracted and not lost, oldest first (only the ``newest`` few if given):
    the history a new batch's windows and key checks walk back through."""
    limit = "" if newest is None else f" LIMIT {int(newest)}"
    with ledger_session(db) as conn:
        if not relation_exists(conn, LEDGER):
            return []
        rows = conn.execute(
            f"SELECT batch_id FROM {LEDGER} WHERE extracted_at IS NOT NULL "
            f"AND (lost_at IS NULL OR loaded_at IS NOT NULL) ORDER BY batch_id DESC{limit}"
        ).fetchall()
    return [r[0] for r in reversed(rows)]


def any_transformed(db: Database) -> bool:
    """Whether a batch was ever transformed (so the transform's saved state should exist)."""
    with ledger_session(db) as conn:
        row = conn.execute(
            f"SELECT EXISTS (SELECT FROM {LEDGER} WHERE transformed_at IS NOT NULL)"
        ).fetchone()
    return bool(row and row[0])


def ledger_has_checksums(db: Database) -> bool:
    """Whether any batch was recorded by an extract of this release (migration 0004 fills the
    ledger with the loaded batches of the one before, without their manifests' checksums)."""
    with ledger_session(db) as conn:
        row = conn.execute(
            f"SELECT EXISTS (SELECT FROM {LEDGER} WHERE manifest_sha256 IS NOT NULL)"
        ).fetchone()
    return bool(row and row[0])


def newest_loaded(db: Database) -> str | None:
    with ledger_session(db) as conn:
        if not relation_exists(conn, LEDGER):
            return None
        row = conn.execute(
            f"SELECT max(batch_id) FROM {LEDGER} WHERE loaded_at IS NOT NULL"
        ).fetchone()
    return row[0] if row else None


def batch_state(db: Database, batch_id: str) -> BatchState | None:
    with ledger_session(db) as conn:
        row = conn.execute(f"{_SELECT} WHERE batch_id = %s", [batch_id]).fetchone()
    return _state(row) if row else None


def _write(db: Database, sql: str, params: list[Any]) -> None:
    with ledger_session(db) as conn:
        conn.execute(sql, params)
        conn.commit()


def record_extracted(
    db: Database, batch_id: str, *, follows: str | None, manifest_sha256: str, ingest_uri: str
) -> None:
    """``batch_id`` was committed to the ingest bucket (again, for a re-extract: then what
    it was transformed and loaded from is gone, and those steps are owed again)."""
    _write(
        db,
        f"""INSERT INTO {LEDGER} (batch_id, follows, manifest_sha256, ingest_uri, extracted_at)
            VALUES (%s, %s, %s, %s, now())
            ON CONFLICT (batch_id) DO UPDATE SET
                manifest_sha256 = EXCLUDED.manifest_sha256, ingest_uri = EXCLUDED.ingest_uri,
                follows = coalesce({LEDGER}.follows, EXCLUDED.follows),
                extracted_at = now(), lost_at = NULL, repaired_by = NULL,
                transformed_at = NULL, loaded_at = NULL""",
        [batch_id, follows, manifest_sha256, ingest_uri],
    )


def record_transformed(db: Database, batch_id: str, processed_uri: str) -> None:
    """``batch_id`` was committed to the processed bucket; a transform quarantine lifts."""
    _write(
        db,
        f"""UPDATE {LEDGER} SET transformed_at = now(), processed_uri = %s,
                quarantine_step = CASE WHEN quarantine_step = 'transform' THEN NULL
                                       ELSE quarantine_step END,
                quarantine_reason = CASE WHEN quarantine_step = 'transform' THEN NULL
                                         ELSE quarantine_reason END
            WHERE batch_id = %s""",
        [processed_uri, batch_id],
    )


def record_untransformed(db: Database, batch_id: str) -> None:
    """``batch_id``'s processed objects are gone before it was loaded: transform it again."""
    _write(db, f"UPDATE {LEDGER} SET transformed_at = NULL WHERE batch_id = %s", [batch_id])


def record_lost(db: Database, batch_id: str) -> None:
    """``batch_id``'s ingest objects are gone before it was loaded: the next extract reads
    its windows again (see pipeline/repair.py); it is owed nothing more."""
    _write(
        db,
        f"UPDATE {LEDGER} SET lost_at = now(), quarantine_step = NULL, "
        "quarantine_reason = NULL WHERE batch_id = %s",
        [batch_id],
    )


# repaired_by of a lost batch whose windows were read again and held no change any more.
NOTHING_LEFT = "nothing left"


def record_repaired(db: Database, lost: list[str], by: str) -> None:
    """The lost batches ``lost`` had their windows read again by the extract of ``by`` (or,
    with no change left in them, :data:`NOTHING_LEFT`)."""
    _write(db, f"UPDATE {LEDGER} SET repaired_by = %s WHERE batch_id = ANY(%s)", [by, lost])


def record_quarantine(db: Database, batch_id: str, step: str, reason: str) -> BatchState:
    with ledger_session(db) as conn:
        row = conn.execute(
            f"""UPDATE {LEDGER} SET quarantine_step = %s, quarantine_reason = %s,
                    quarantined_at = coalesce(quarantined_at, now())
                WHERE batch_id = %s RETURNING {_COLUMN_LIST}""",
            [step, reason, batch_id],
        ).fetchone()
        conn.commit()
    missing = BatchState(batch_id, quarantine_step=step, quarantine_reason=reason)
    return _state(row) if row else missing


def record_lake(db: Database, through: datetime) -> None:
    """Every batch loaded by ``through`` (the warehouse's time when the lake read it) is in
    the lake."""
    _write(
        db,
        f"UPDATE {LEDGER} SET lake_at = now() WHERE loaded_at IS NOT NULL AND loaded_at <= %s "
        "AND (lake_at IS NULL OR lake_at < loaded_at)",
        [through],
    )


def record_batch(cur: Cursor, batch_id: str, merged: dict[str, int], schema_version: int) -> None:
    """Record ``batch_id`` as loaded with the rows each table merged and the schema version
    that wrote it (a reload refreshes both and its time, so the lake takes it again): call
    inside the load's transaction, so the ledger commits with the rows. Loading lifts a
    quarantine."""
    cur.execute(
        f"""INSERT INTO {LEDGER} (batch_id, rows, schema_version, extracted_at, transformed_at,
                                  loaded_at)
            VALUES ($1, $2::jsonb, $3, now(), now(), clock_timestamp())
            ON CONFLICT (batch_id) DO UPDATE
            SET loaded_at = clock_timestamp(), rows = EXCLUDED.rows,
                schema_version = EXCLUDED.schema_version,
                transformed_at = coalesce({LEDGER}.transformed_at, now()),
                quarantine_step = NULL, quarantine_reason = NULL, quarantined_at = NULL,
                lost_at = NULL""",
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
    with ledger_session(db) as conn:
        if not relation_exists(conn, INFERRED):
            return waiting
        for batch_id, dim, count in conn.execute(
            f"SELECT batch_id, dim, count(*) FROM {INFERRED} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall():
            waiting.setdefault(batch_id, {})[dim] = int(count)
    return waiting

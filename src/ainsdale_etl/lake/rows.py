"""What the lake writes for a batch, read from the warehouse after the batch's load committed.

The warehouse already ordered everything (a dimension row from an older batch never overwrites
a newer one, see load/versions.py), so the lake copies its outcome rather than redoing it:
a dimension's current rows for the ids the batch touched, and a fact's rows for the versions
the batch delivered.

Where the warehouse's outcome is known to be the batch's object itself, the lake reads the
object instead (:mod:`.objects`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ainsdale_etl.adapters.postgres import fetch_all, fetch_arrow
from ainsdale_etl.core.batches import fetch_checked, read_manifest
from ainsdale_etl.core.registry import MONEY, StarTable, quote_ident
from ainsdale_etl.lake.ledger import KeyRange, WarehouseChanges
from ainsdale_etl.lake.schema import lake_columns
from ainsdale_etl.load.ddl import (
    DELETED,
    DIM_BASE_VERSION,
    DIM_VERSION,
    FACT_KEY_RANGE,
    INFERRED,
)
from ainsdale_etl.load.ledger import loaded_batches

if TYPE_CHECKING:
    import pyarrow as pa

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.core.storage import Storage

_KEYS = "ainsdale_lake_keys"  # a temporary table of one batch's fact keys


def warehouse_changes(db: Database) -> WarehouseChanges:
    """The warehouse's ledger and, per batch, the dimension changes it does not count."""
    loaded = loaded_batches(db)
    if not loaded:
        return WarehouseChanges({})
    with db.psycopg_connect() as conn:
        touched = conn.execute(
            f"SELECT DISTINCT dim, batch_id FROM {INFERRED} "
            f"UNION SELECT DISTINCT star_table, batch_id FROM {DELETED}"
        ).fetchall()
        base = conn.execute(f"SELECT dim, batch_id FROM {DIM_BASE_VERSION}").fetchall()
        ranges = []  # none in a warehouse a release before migration 0003 loaded
        has_ranges = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [FACT_KEY_RANGE])
        if (has_ranges.fetchone() or (False,))[0]:
            ranges = conn.execute(
                f"SELECT star_table, batch_id, first_key, rows, object_sha256 FROM {FACT_KEY_RANGE}"
            ).fetchall()
    return WarehouseChanges(
        loaded,
        {(t, b) for t, b in touched},
        dict(base),
        {(t, b): KeyRange(int(first), int(rows), sha) for t, b, first, rows, sha in ranges},
    )


def _select(table: StarTable, alias: str = "d") -> str:
    """The lake's columns of ``table``; money as its exact text, which ADBC reads 40% faster
    than numeric (the lake casts it to decimal(10,2), exactly)."""
    money = {c.name for c in table.columns if c.sql_type == MONEY}
    return ", ".join(
        f"{alias}.{quote_ident(c)}::text AS {quote_ident(c)}"
        if c in money
        else f"{alias}.{quote_ident(c)}"
        for c in lake_columns(table)
    )


def whole_table(cur: Any, table: StarTable) -> pa.Table:
    """Every row of a star table."""
    return fetch_arrow(cur, f"SELECT {_select(table)} FROM {quote_ident(table.name)} d")


def dimension_rows(cur: Any, table: StarTable, batch_id: str) -> tuple[list[int], pa.Table]:
    """The ids of ``table`` that ``batch_id`` holds the newest version of (upserted or deleted)
    or added a placeholder for, and their current rows (a deleted one has none)."""
    mine = (
        f"SELECT id FROM {DIM_VERSION} WHERE dim = $1 AND batch_id = $2 "
        f"UNION SELECT id FROM {INFERRED} WHERE dim = $1 AND batch_id = $2"
    )
    ids = [
        int(r[0])
        for r in fetch_all(
            cur,
            f"{mine} UNION SELECT id FROM {DELETED} WHERE star_table = $1 AND batch_id = $2",
            [table.name, batch_id],
        )
    ]
    key = quote_ident(table.key[0])
    rows = fetch_arrow(
        cur,
        f"SELECT {_select(table)} FROM {quote_ident(table.name)} d WHERE d.{key} IN ({mine})",
        [table.name, batch_id],
    )
    return ids, rows


def fact_rows(cur: Any, processed: Storage, table: StarTable, batch_id: str) -> pa.Table | None:
    """The warehouse's rows of the fact versions ``batch_id`` delivered (with the surrogate
    keys the warehouse gave them), or None if its processed batch holds none."""
    import pyarrow.parquet as pq

    entry = read_manifest(processed, batch_id).tables.get(table.name)
    if entry is None or not entry.rows:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        keys = pq.read_table(
            fetch_checked(processed, batch_id, entry, Path(tmp)), columns=list(table.key)
        )
    cur.adbc_ingest(_KEYS, keys, mode="replace", temporary=True)
    on = " AND ".join(f"d.{quote_ident(k)} = k.{quote_ident(k)}" for k in table.key)
    return fetch_arrow(
        cur, f"SELECT {_select(table)} FROM {quote_ident(table.name)} d JOIN {_KEYS} k ON {on}"
    )


def row_count(cur: Any, table: StarTable) -> int:
    return int(fetch_all(cur, f"SELECT count(*) FROM {quote_ident(table.name)}")[0][0])

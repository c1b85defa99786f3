"""The current state of a source table: the latest version of each id.

Dimensions that join tables (staff with department, counterparty with address) need the
current state of the other table, which a batch may not have touched.

"Latest" is by batch, not by ``last_updated``: batches are extracted in snapshot order, so of
two versions of a row the one in the later batch is the later one, whatever clock stamped it
(a future-dated row fixed at the source carries an *earlier* ``last_updated`` than its bad
version). Each row of the state carries the batch it came from (:data:`BATCH_COLUMN`).
"""

from __future__ import annotations

import polars as pl

from ainsdale_etl.core.registry import SOURCE_TABLES, STAR_TABLES

BATCH_COLUMN = "_batch_id"


def merge_current(
    current: pl.DataFrame, changes: pl.DataFrame, table: str, batch_id: str
) -> pl.DataFrame:
    """The current state of ``table`` after the batch ``batch_id`` brought ``changes``: the
    version of each id from the latest batch. Merging the same batch twice, or an older batch
    after a newer one, leaves the result unchanged. (A state written before versions were kept
    counts as older than every batch.)"""
    id_column = SOURCE_TABLES[table].id_column
    if BATCH_COLUMN not in current.columns:
        current = current.with_columns(pl.lit("", dtype=pl.String).alias(BATCH_COLUMN))
    incoming = changes.with_columns(pl.lit(batch_id, dtype=pl.String).alias(BATCH_COLUMN))
    return (
        pl.concat([current, incoming.select(current.columns)], how="vertical")
        .sort(id_column, BATCH_COLUMN, maintain_order=True)
        .unique(id_column, keep="last", maintain_order=True)
    )


# Source tables whose current state a batch's dimensions need beyond its own rows.
JOINED_SOURCES: tuple[str, ...] = tuple(
    sorted({s for t in STAR_TABLES.values() if len(t.sources) > 1 for s in t.sources})
)


def latest(changes: pl.DataFrame, table: str) -> pl.DataFrame:
    """One row per id of a batch's rows (a batch holds one version of each, read in one
    snapshot; should an id come twice, the last one read)."""
    return changes.unique(SOURCE_TABLES[table].id_column, keep="last", maintain_order=True)

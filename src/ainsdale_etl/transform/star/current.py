"""The current state of a source table: the latest version of each id.

Dimensions that join tables (staff with department, counterparty with address) need the
current state of the other table, which a batch may not have touched.

"Latest" is by batch, not by ``last_updated``: batches are extracted in snapshot order, so of
two versions of a row the one in the later batch is the later one, whatever clock stamped it
(a future-dated row fixed at the source carries an *earlier* ``last_updated`` than its bad
version). Each row of the state carries the batch it came from (:data:`BATCH_COLUMN`); an id
deleted at the source is a tombstone row (:data:`DELETED_COLUMN`), never a row to join.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from ainsdale_etl.core.registry import SOURCE_TABLES, STAR_TABLES

BATCH_COLUMN = "_batch_id"
DELETED_COLUMN = "_deleted"  # a tombstone: the id was deleted in that batch


def merge_current(
    current: pl.DataFrame,
    changes: pl.DataFrame,
    table: str,
    batch_id: str,
    deleted: Collection[int] = (),
) -> pl.DataFrame:
    """The current state of ``table`` after the batch ``batch_id`` brought ``changes`` and
    found the ids ``deleted``: the version of each id from the latest batch, a deletion being
    a version too (a tombstone, so that an older batch merged later cannot bring the id back;
    :func:`live` leaves tombstones out). Merging the same batch twice, or an older batch after
    a newer one, leaves the result unchanged. (A state written before versions were kept
    counts as older than every batch.)"""
    id_column = SOURCE_TABLES[table].id_column
    if BATCH_COLUMN not in current.columns:
        current = current.with_columns(pl.lit("", dtype=pl.String).alias(BATCH_COLUMN))
    if DELETED_COLUMN not in current.columns:
        current = current.with_columns(pl.lit(False).alias(DELETED_COLUMN))
    marks = [pl.lit(batch_id, dtype=pl.String).alias(BATCH_COLUMN)]
    incoming = changes.with_columns(*marks, pl.lit(False).alias(DELETED_COLUMN))
    tombstones = (
        pl.DataFrame({id_column: sorted(deleted)}, schema={id_column: current.schema[id_column]})
        .with_columns(*marks, pl.lit(True).alias(DELETED_COLUMN))
        .select(
            pl.col(c)
            if c in (id_column, BATCH_COLUMN, DELETED_COLUMN)
            else pl.lit(None, dtype=current.schema[c]).alias(c)
            for c in current.columns
        )
    )
    return (
        pl.concat([current, incoming.select(current.columns), tombstones], how="vertical")
        .sort(id_column, BATCH_COLUMN, maintain_order=True)
        .unique(id_column, keep="last", maintain_order=True)
    )


def live(current: pl.DataFrame) -> pl.DataFrame:
    """The rows of a current state that are not tombstones."""
    if DELETED_COLUMN not in current.columns:
        return current
    return current.filter(~pl.col(DELETED_COLUMN))


# Source tables whose current state a batch's dimensions need beyond its own rows.
JOINED_SOURCES: tuple[str, ...] = tuple(
    sorted({s for t in STAR_TABLES.values() if len(t.sources) > 1 for s in t.sources})
)


def latest(changes: pl.DataFrame, table: str) -> pl.DataFrame:
    """One row per id of a batch's rows (a batch holds one version of each, read in one
    snapshot; should an id come twice, the last one read)."""
    return changes.unique(SOURCE_TABLES[table].id_column, keep="last", maintain_order=True)

"""The current state of a source table: the latest version of each id, last writer wins.

Dimensions that join tables (staff with department, counterparty with address) need the
current state of the other table, which a batch may not have touched.
"""

from __future__ import annotations

import polars as pl

from ainsdale_etl.core.registry import SOURCE_TABLES, STAR_TABLES


def merge_current(current: pl.DataFrame, changes: pl.DataFrame, table: str) -> pl.DataFrame:
    """The current state of ``table`` after ``changes``: the latest version of each id.

    Last-writer-wins on ``last_updated``, so merging the same batch twice, or an older batch
    after a newer one, leaves the result unchanged.
    """
    id_column = SOURCE_TABLES[table].id_column
    return (
        pl.concat([current, changes], how="vertical")
        .sort(id_column, "last_updated")
        .unique(id_column, keep="last", maintain_order=True)
    )


# Source tables whose current state a batch's dimensions need beyond its own rows.
JOINED_SOURCES: tuple[str, ...] = tuple(
    sorted({s for t in STAR_TABLES.values() if len(t.sources) > 1 for s in t.sources})
)


def latest(changes: pl.DataFrame, table: str) -> pl.DataFrame:
    return merge_current(changes.clear(), changes, table)

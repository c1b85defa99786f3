"""Each star row's current version, in one order: the batch order, never ``last_updated``.

Batches are extracted in snapshot order, so of two batches holding a row, the later one holds
the version its source committed later; ``last_updated`` is whatever a writer's clock said (a
clock a day fast, fixed, stamps the newer version *earlier*). A deletion is a version in the
same order. What is current is recorded in one place, ``ainsdale_meta.row_version``, one entry
per (star table, id): the batch of its current version, for a fact the row that version is,
and whether it is a deletion. A row with no entry has one version only, the one a bulk load put
there (``dim_base_version`` for a dimension, ``fact_key_range`` for a fact), since every
merge records the versions it brings.

So any set of batches loaded in any order, any number of times, ends with the same warehouse:
a version is written only over older ones; a rerun of an old batch can neither delete a newer
row nor bring back a deleted one; a later re-insert supersedes a deletion. A dimension that
joins tables is built from the current state, which a batch transformed out of turn takes
partly from a later batch: its rows carry their own version, the newest batch of their parts
(``SOURCE_VERSION``, see transform/star/dimensions.py). The spec's columns stay the spec's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.core.registry import SOURCE_VERSION, StarTable, quote_ident
from ainsdale_etl.load.ddl import DIM_BASE_VERSION, FACT_KEY_RANGE, ROW_VERSION
from ainsdale_etl.load.inferred import resolve_members

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor


def row_version(alias: str, per_row: bool) -> str:
    """A staged row's version: its :data:`SOURCE_VERSION` where the batch gives one (a joined
    dimension: the newest batch of its parts), else the batch's id ($1)."""
    if not per_row:
        return "$1"
    return f'coalesce({alias}."{SOURCE_VERSION}", $1)'


def natural_id(table: StarTable) -> str:
    """The column holding a row's source id: a dimension's key, a fact's ``<entity>_id``."""
    return table.key[0]


def base_version(table: StarTable, id_sql: str) -> str:
    """The version of the row ``id_sql`` a bulk load put in ``table`` (NULL if none): the
    batch that bulk-loaded the dimension if the row is there; the batch whose key range holds
    the fact's row."""
    name, key = quote_ident(table.name), quote_ident(natural_id(table))
    if table.surrogate_key:
        record = quote_ident(table.surrogate_key)
        return f"""(SELECT kr.batch_id FROM {name} kb JOIN {FACT_KEY_RANGE} kr
            ON kr.star_table = '{table.name}'
            AND kb.{record} BETWEEN kr.first_key AND kr.first_key + kr.rows - 1
            WHERE kb.{key} = {id_sql} ORDER BY kr.batch_id DESC LIMIT 1)"""
    return f"""(SELECT db.batch_id FROM {DIM_BASE_VERSION} db WHERE db.dim = '{table.name}'
            AND EXISTS (SELECT FROM {name} present WHERE present.{key} = {id_sql}))"""


def current_version(table: StarTable, id_sql: str) -> str:
    """The batch of the current version of the row ``id_sql`` ('' if it has none)."""
    quote_ident(table.name)  # a registry name: safe in the literals above and below
    return f"""coalesce(
        (SELECT rv.batch_id FROM {ROW_VERSION} rv
            WHERE rv.star_table = '{table.name}' AND rv.id = {id_sql}),
        {base_version(table, id_sql)}, '')"""


def not_superseded(table: StarTable, alias: str, *, per_row: bool = False) -> str:
    """A condition on staged rows (``alias``): no newer version of the row is loaded.
    Parameters: $1 the batch id; ``per_row``: the staged rows carry their own versions
    (:func:`row_version`)."""
    staged_id = f"{alias}.{quote_ident(natural_id(table))}"
    return f"{current_version(table, staged_id)} <= {row_version(alias, per_row)}"


def written_rows(fact: StarTable, staging: str, batch: str) -> str:
    """The staged rows of a fact (a relation, for a FROM) the merge writes: versions not
    loaded yet, or ones this batch (``batch``, SQL) may replace, being no older than the id's
    current version. (The rest of an old batch loaded again is left as it is.) The lookup is
    a LATERAL with a LIMIT, so that each row probes the natural key's index: as an EXISTS the
    planner hashed the whole fact table for a thousand staged rows."""
    natural = " AND ".join(f"f.{quote_ident(k)} = s.{quote_ident(k)}" for k in fact.key)
    staged_id = f"s.{quote_ident(natural_id(fact))}"
    return f"""(SELECT s.* FROM {staging} s
        LEFT JOIN LATERAL (SELECT true AS present FROM {quote_ident(fact.name)} f
            WHERE {natural} LIMIT 1) loaded ON true
        WHERE loaded.present IS NULL OR {batch} >= {current_version(fact, staged_id)})"""


def record_versions(
    cur: Cursor, batch_id: str, table: StarTable, staging: str, *, per_row: bool = False
) -> None:
    """Record the versions of the dimension rows staged in ``staging`` (``batch_id``, or each
    row's own: see :func:`row_version`) that no newer version supersedes (call after the
    merge, which wrote those rows); a deleted row delivered again is no longer deleted. When an
    entry changes is what the lake takes (lake/owed.py). A batch loaded again holds the same
    versions of its rows (read again, a window gives what it gave), so it changes nothing."""
    resolve_members(cur, table, staging)
    key = quote_ident(table.key[0])
    cur.execute(
        f"""INSERT INTO {ROW_VERSION} AS v (star_table, id, batch_id)
            SELECT $2, s.{key}, {row_version("s", per_row)} FROM {staging} s
            WHERE {not_superseded(table, "s", per_row=per_row)}
            ON CONFLICT (star_table, id) DO UPDATE
            SET batch_id = EXCLUDED.batch_id, deleted = false, changed_at = now()
            WHERE (v.batch_id, v.deleted) IS DISTINCT FROM (EXCLUDED.batch_id, false)""",
        [batch_id, table.name],
    )


def record_fact_versions(cur: Cursor, batch_id: str, table: StarTable, staging: str) -> None:
    """Record the fact versions staged in ``staging`` (call after the merge, which wrote
    them): each id's entry names the row of its newest version, which is this batch's unless
    a newer one is loaded. An id whose only row a newer bulk load put there gets an entry
    naming that row, as it now has two. (Each staged row finds its row by a LATERAL with a
    LIMIT: as a join, the planner hashed the whole fact table for a thousand rows.)"""
    name, record = quote_ident(table.name), quote_ident(table.surrogate_key or "")
    key = quote_ident(natural_id(table))
    natural = " AND ".join(f"f.{quote_ident(k)} = s.{quote_ident(k)}" for k in table.key)
    cur.execute(
        f"""INSERT INTO {ROW_VERSION} AS v (star_table, id, batch_id, record_id)
            SELECT $2, i.id,
                CASE WHEN $1 >= coalesce(b.batch_id, '') THEN $1 ELSE b.batch_id END,
                CASE WHEN $1 >= coalesce(b.batch_id, '') THEN i.record_id ELSE b.record_id END
            FROM (SELECT s.{key} AS id, f.record_id FROM {staging} s
                  CROSS JOIN LATERAL (SELECT f.{record} AS record_id FROM {name} f
                      WHERE {natural} LIMIT 1) f) i
            LEFT JOIN LATERAL (
                SELECT r.batch_id, f.{record} AS record_id FROM {name} f
                JOIN {FACT_KEY_RANGE} r ON r.star_table = $2
                    AND f.{record} BETWEEN r.first_key AND r.first_key + r.rows - 1
                WHERE f.{key} = i.id ORDER BY r.batch_id DESC LIMIT 1) b ON true
            ON CONFLICT (star_table, id) DO UPDATE
            SET batch_id = EXCLUDED.batch_id, record_id = EXCLUDED.record_id, deleted = false,
                changed_at = now()
            WHERE v.batch_id <= EXCLUDED.batch_id
            AND (v.batch_id, v.record_id, v.deleted)
                IS DISTINCT FROM (EXCLUDED.batch_id, EXCLUDED.record_id, false)""",
        [batch_id, table.name],
    )


def record_base_version(cur: Cursor, batch_id: str, table: StarTable) -> None:
    """A bulk load filled the empty ``table``: every row in it is ``batch_id``'s."""
    cur.execute(
        f"""INSERT INTO {DIM_BASE_VERSION} (dim, batch_id) VALUES ($1, $2)
            ON CONFLICT (dim) DO UPDATE SET batch_id = EXCLUDED.batch_id, changed_at = now()""",
        [table.name, batch_id],
    )

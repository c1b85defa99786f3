"""The lake step: every batch the warehouse holds, written once to each lake table it changed.

Runs after the warehouse load committed (``load``, ``run-all``, ``lake sync``). Each (batch,
table) is one Iceberg commit whose snapshot summary names the batch (:mod:`.ledger`), so a
crash between two commits leaves the lake consistent table by table, and the next run picks up
where it stopped, in batch order. A commit is also safe to repeat: a fact's versions are
appended only if their surrogate keys are not in the lake yet, and a dimension's ids are
rewritten with the warehouse's current rows.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.registry import STAR_TABLES, StarTable
from ainsdale_etl.lake.catalog import lake_table, open_catalog
from ainsdale_etl.lake.ledger import owed
from ainsdale_etl.lake.rows import dimension_rows, fact_rows, warehouse_changes, whole_table
from ainsdale_etl.lake.schema import BATCH_PROPERTY, as_lake_rows
from ainsdale_etl.runtime.shutdown import checkpoint
from ainsdale_etl.testing.faults import fault_point

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Table

    from ainsdale_etl.runtime.context import Context


def sync_lake(ctx: Context) -> dict[str, dict[str, int]]:
    """Write every loaded batch the lake does not hold yet; returns batch -> table -> rows
    written (nothing when the lake is off)."""
    catalog = open_catalog(ctx.settings)
    if catalog is None:
        return {}
    ctx.reporter.event("step_started", step="lake")
    changes = warehouse_changes(ctx.warehouse)
    if not changes.loaded:
        return {}
    tables = {name: lake_table(catalog, ctx.settings, t) for name, t in STAR_TABLES.items()}
    due = owed(tables, changes)
    written: dict[str, dict[str, int]] = {}
    if not due:
        return written
    with ctx.warehouse.connect() as conn, conn.cursor() as cur:
        for batch_id, name in due:
            checkpoint(f"while writing batch {batch_id} to the lake (its tables so far are in)")
            ctx.lock_check()
            started = time.perf_counter()
            rows = write_batch(ctx, cur, tables[name], STAR_TABLES[name], batch_id, changes.base)
            written.setdefault(batch_id, {})[name] = rows
            ctx.reporter.event(
                "lake_table_written",
                step="lake",
                batch_id=batch_id,
                table=name,
                rows=rows,
                seconds=round(time.perf_counter() - started, 3),
            )
            fault_point("lake_table_written")
        conn.rollback()  # it only read, and made a temporary table
    ctx.reporter.event("lake_synced", step="lake", batches=len(written))
    return written


def write_batch(
    ctx: Context, cur: Any, ice: Table, table: StarTable, batch_id: str, base: dict[str, str]
) -> int:
    """One commit: ``batch_id``'s rows of ``table``; returns the rows written."""
    summary = {BATCH_PROPERTY: batch_id}
    schema = ice.schema()
    with warnings.catch_warnings():
        # pyiceberg warns of an overwrite that replaces nothing: a dimension's new ids.
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        return _commit(ctx, cur, ice, table, batch_id, base, schema, summary)


def _commit(
    ctx: Context,
    cur: Any,
    ice: Table,
    table: StarTable,
    batch_id: str,
    base: dict[str, str],
    schema: Any,
    summary: dict[str, str],
) -> int:
    from pyiceberg import expressions

    # pyiceberg's expressions take (name, literals) at run time; its stubs say otherwise.
    in_ids: Any = expressions.In

    if table.is_fact:
        rows = fact_rows(cur, ctx.processed, table, batch_id)
        fresh = _not_in_lake(ice, table, rows) if rows is not None else None
        data = (
            as_lake_rows(table, fresh, schema)
            if fresh is not None
            else schema.as_arrow().empty_table()
        )
        ice.append(data, snapshot_properties=summary)
        return len(data)
    if table.name == "dim_date" or base.get(table.name) == batch_id:
        # Added to only (dim_date), or bulk-loaded whole: the table as the warehouse has it.
        data = as_lake_rows(table, whole_table(cur, table), schema)
        ice.overwrite(data, snapshot_properties=summary)
        return len(data)
    ids, current = dimension_rows(cur, table, batch_id)
    data = as_lake_rows(table, current, schema)
    if ids:
        ice.overwrite(data, overwrite_filter=in_ids(table.key[0], ids), snapshot_properties=summary)
    else:  # every row it brought is superseded already: record the batch, write nothing
        ice.append(data, snapshot_properties=summary)
    return len(data)


def _not_in_lake(ice: Table, table: StarTable, rows: pa.Table) -> pa.Table:
    """``rows`` less those whose surrogate keys the lake holds already (a batch written again
    after its snapshot expired, or versions an earlier batch also delivered). Newer versions
    have higher keys, so the scan reads only the newest files."""
    import pyarrow.compute as pc
    from pyiceberg import expressions

    at_least: Any = expressions.GreaterThanOrEqual  # (name, literal): see _commit

    key = table.surrogate_key or ""
    if len(rows) == 0 or ice.current_snapshot() is None:
        return rows
    lowest = pc.min(rows[key]).as_py()
    held = ice.scan(row_filter=at_least(key, lowest), selected_fields=(key,)).to_arrow()
    if len(held) == 0:
        return rows
    return rows.filter(pc.invert(pc.is_in(rows[key], value_set=held[key])))

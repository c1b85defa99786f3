"""The lake step: every batch the warehouse holds, written once to each lake table it changed.

Runs after the warehouse load committed (``load``, ``run-all``, ``lake sync``). Each (batch,
table) is one Iceberg commit whose snapshot summary names the batch (:mod:`.ledger`), so a
crash between two commits leaves the lake consistent table by table, and the next run picks up
where it stopped, in batch order. A commit is also safe to repeat: a fact's versions are
appended only if their surrogate keys are not in the lake yet, and a dimension's ids are
rewritten with the warehouse's current rows.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.registry import STAR_TABLES, StarTable
from ainsdale_etl.core.watermarks import read_watermark, write_watermark
from ainsdale_etl.lake.append import append_chunks
from ainsdale_etl.lake.catalog import lake_table, open_catalog
from ainsdale_etl.lake.ledger import WarehouseChanges, owed
from ainsdale_etl.lake.objects import object_chunks, usable_object
from ainsdale_etl.lake.rows import (
    dimension_rows,
    fact_rows,
    row_count,
    warehouse_changes,
    whole_table,
)
from ainsdale_etl.lake.schema import BATCH_PROPERTY, as_lake_rows
from ainsdale_etl.runtime.shutdown import checkpoint
from ainsdale_etl.testing.faults import fault_point

# In the processed bucket: every loaded batch through it is in the lake (see tables_to_open).
LAKE_WATERMARK = "lake"

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from ainsdale_etl.core.batches import TableEntry
    from ainsdale_etl.runtime.context import Context


def sync_lake(ctx: Context, *, everything: bool = False) -> dict[str, dict[str, int]]:
    """Write every loaded batch the lake does not hold yet; returns batch -> table -> rows
    written (nothing when the lake is off). Only the tables the batches after the lake's
    watermark changed are opened (:func:`tables_to_open`), unless ``everything``."""
    started = time.perf_counter()
    ctx.reporter.event("step_started", step="lake")
    catalog = open_catalog(ctx.settings)
    if catalog is None:
        return {}
    changes = warehouse_changes(ctx.warehouse)
    written: dict[str, dict[str, int]] = {}
    if changes.loaded:
        mark = None if everything else read_watermark(ctx.processed, LAKE_WATERMARK)
        if mark is not None and not _catalog_holds_every_table(catalog, ctx):
            mark = None  # a lake deleted or rebuilt since: its watermark no longer holds
        identity = _catalog_identity(ctx)
        names = tables_to_open(changes, mark, identity)
        tables = {n: lake_table(catalog, ctx.settings, STAR_TABLES[n]) for n in names}
        due = owed(tables, changes)
        if due:
            written = _write(ctx, tables, due, changes)
        newest = max(changes.loaded)
        write_watermark(
            ctx.processed,
            LAKE_WATERMARK,
            newest,
            ledger_rows=len(changes.loaded),
            catalog=identity,
        )
    ctx.reporter.event(
        "lake_synced",
        step="lake",
        batches=len(written),
        rows=sum(sum(t.values()) for t in written.values()),
        seconds=round(time.perf_counter() - started, 3),
    )
    return written


def tables_to_open(
    changes: WarehouseChanges, mark: dict[str, Any] | None, catalog: str
) -> list[str]:
    """The lake tables a sync must open (pure): every one, unless the lake's watermark still
    describes this warehouse and catalog (as many ledger rows up to its batch as it counted,
    the same catalog), in which case only those that the batches after it changed. Opening a
    table reads and parses its metadata, which grows with its snapshots: an incremental run
    opened all eleven for the two its batch changed."""
    if (
        mark is None
        or mark.get("catalog") != catalog
        or sum(b <= mark["batch_id"] for b in changes.loaded) != mark.get("ledger_rows")
    ):
        return list(STAR_TABLES)
    after = [b for b in changes.loaded if b > mark["batch_id"]]
    return [n for n in STAR_TABLES if any(changes.changed(n, b) for b in after)]


def _catalog_holds_every_table(catalog: Catalog, ctx: Context) -> bool:
    """One listing of the lake's namespace (no table's metadata read)."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    try:
        listed = {name for _, name in catalog.list_tables(ctx.settings.lake_database)}
    except NoSuchNamespaceError:
        return False
    return set(STAR_TABLES) <= listed


def _catalog_identity(ctx: Context) -> str:
    from ainsdale_etl.lake.catalog import lake_location

    settings = ctx.settings
    return f"{settings.lake_catalog}|{settings.lake_database}|{lake_location(settings)}"


def _write(
    ctx: Context, tables: dict[str, Table], due: list[tuple[str, str]], changes: WarehouseChanges
) -> dict[str, dict[str, int]]:
    """Each table's owed batches in batch order; tables side by side (``AINSDALE_WORKERS``,
    each on a warehouse connection of its own): their commits are independent, and most of a
    commit is Parquet encoding and file writes, which release the GIL."""
    queue: list[str] = list(dict.fromkeys(name for _, name in due))
    lock = threading.Lock()
    written: dict[str, dict[str, int]] = {}

    def next_table() -> str | None:
        with lock:
            return queue.pop(0) if queue else None

    def work() -> None:
        try:
            with ctx.warehouse.connect() as conn, conn.cursor() as cur:
                while (name := next_table()) is not None:
                    for batch_id in (b for b, n in due if n == name):
                        rows = _write_one(ctx, cur, tables[name], name, batch_id, changes)
                        with lock:
                            written.setdefault(batch_id, {})[name] = rows
                conn.rollback()  # it only read, and made a temporary table
        except BaseException:
            with lock:  # a stop or a failure: the other writers take no further table
                queue.clear()
            raise

    workers = max(1, min(ctx.settings.workers, len(queue)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lake") as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
    return {b: written[b] for b in sorted(written)}


def _write_one(
    ctx: Context, cur: Any, ice: Table, name: str, batch_id: str, changes: WarehouseChanges
) -> int:
    checkpoint(f"while writing batch {batch_id} to the lake (the tables written so far are in)")
    ctx.lock_check()
    started = time.perf_counter()
    rows = write_batch(ctx, cur, ice, STAR_TABLES[name], batch_id, changes)
    ctx.reporter.event(
        "lake_table_written",
        step="lake",
        batch_id=batch_id,
        table=name,
        rows=rows,
        seconds=round(time.perf_counter() - started, 3),
    )
    fault_point("lake_table_written")
    return rows


def write_batch(
    ctx: Context, cur: Any, ice: Table, table: StarTable, batch_id: str, changes: WarehouseChanges
) -> int:
    """One commit: ``batch_id``'s rows of ``table``; returns the rows written."""
    from pyiceberg import expressions

    # pyiceberg's expressions take (name, literals) at run time; its stubs say otherwise.
    in_ids: Any = expressions.In
    summary = {BATCH_PROPERTY: batch_id}
    schema = ice.schema()
    base = changes.base
    # The lake is empty and this is the only batch that changed the table: all of it is this
    # batch's (a first load), read whole rather than matched key by key.
    sole = ice.current_snapshot() is None and changes.only_change(table.name) == batch_id

    if table.is_fact:
        return _write_fact(ctx, cur, ice, table, batch_id, changes, sole=sole)
    if table.name == "dim_date":  # only ever added to: the dates the lake lacks
        data = _missing_dates(ice, as_lake_rows(table, whole_table(cur, table), schema))
        ice.append(data, snapshot_properties=summary)
        return len(data)
    if base.get(table.name) == batch_id:  # bulk-loaded whole: the table as the warehouse has it
        entry = _as_bulk_loaded(ctx, cur, table, batch_id, changes) if sole else None
        if entry is not None:  # the lake's table is empty (sole): appending is overwriting
            chunks = object_chunks(ctx.processed, batch_id, entry, table, None)
            return append_chunks(ice, chunks, summary, lambda c: as_lake_rows(table, c, schema))
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


def _write_fact(
    ctx: Context,
    cur: Any,
    ice: Table,
    table: StarTable,
    batch_id: str,
    changes: WarehouseChanges,
    *,
    sole: bool,
) -> int:
    """A fact's versions that ``batch_id`` delivered, less those the lake holds already: from
    the batch's object where its bulk load keyed it (:mod:`.objects`), else the warehouse's
    rows (the whole table on the lake's first write of it)."""
    summary = {BATCH_PROPERTY: batch_id}
    schema = ice.schema()
    keys = changes.key_ranges.get((table.name, batch_id))
    entry = usable_object(ctx.processed, table, batch_id, keys) if keys else None
    chunks: Iterable[pa.Table]
    lowest: int | None
    if entry is not None and keys is not None:
        chunks, lowest = object_chunks(ctx.processed, batch_id, entry, table, keys), keys.first_key
    else:
        rows = whole_table(cur, table) if sole else fact_rows(cur, ctx.processed, table, batch_id)
        has_rows = rows is not None and len(rows) > 0
        chunks, lowest = ([rows], _lowest(table, rows)) if has_rows else ([], None)
    held = _held_keys(ice, table, lowest)

    def prepare(chunk: pa.Table) -> pa.Table:
        return as_lake_rows(table, _without(chunk, table, held), schema)

    return append_chunks(ice, chunks, summary, prepare)


def _as_bulk_loaded(
    ctx: Context, cur: Any, table: StarTable, batch_id: str, changes: WarehouseChanges
) -> TableEntry | None:
    """The object a dimension's rows were bulk-loaded from, when they are still the whole
    table: no other batch changed it (the caller's ``sole``), this one added no placeholders
    to it and deleted nothing from it, and the counts agree. None otherwise."""
    if (table.name, batch_id) in changes.touched:
        return None
    entry = usable_object(ctx.processed, table, batch_id, None)
    return entry if entry is not None and entry.rows == row_count(cur, table) else None


def _missing_dates(ice: Table, dates: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    if ice.current_snapshot() is None:
        return dates
    held = ice.scan(selected_fields=("date_id",)).to_arrow()["date_id"]
    return dates.filter(pc.invert(pc.is_in(dates["date_id"], value_set=held)))


def _lowest(table: StarTable, rows: pa.Table) -> int:
    import pyarrow.compute as pc

    return int(pc.min(rows[table.surrogate_key or ""]).as_py())


def _held_keys(ice: Table, table: StarTable, lowest: int | None) -> pa.Array | None:
    """The surrogate keys from ``lowest`` up that the lake holds already (a batch written again
    after its snapshot expired, or versions an earlier batch also delivered); None if none.
    Newer versions have higher keys, so the scan reads only the newest files."""
    from pyiceberg import expressions

    at_least: Any = expressions.GreaterThanOrEqual  # (name, literal): see write_batch
    key = table.surrogate_key or ""
    if lowest is None or ice.current_snapshot() is None:
        return None
    held = ice.scan(row_filter=at_least(key, lowest), selected_fields=(key,)).to_arrow()
    return held[key] if len(held) else None


def _without(rows: pa.Table, table: StarTable, held: pa.Array | None) -> pa.Table:
    import pyarrow.compute as pc

    if held is None:
        return rows
    key = rows[table.surrogate_key or ""]
    return rows.filter(pc.invert(pc.is_in(key, value_set=held)))

"""The lake step: each lake table brought to what its warehouse table holds.

The warehouse is the truth and the lake its copy, so the question for each table is not
"which batches does it lack" but "what changed in the warehouse since the table last took its
state" (:mod:`.owed`), whatever the batches' merge counts say:

* a dimension gets the current rows of the ids changed since (a deleted one has none); so do
  a dimension's history (every version of the ids changed since: versions are only added,
  closed or split) and a fact's current rows (keyed by its id), the tables derived from them;
* a fact gets the versions keyed after the newest it holds (fact versions are only added);
* a table the lake does not have (the first load, or its files removed by hand: rebuilt with
  one warning), or whose counts disagree with the warehouse's, is written whole: from the
  batch's object where a bulk load made the whole table from it (:mod:`.objects`), else
  streamed from the warehouse.

What each table then holds is recorded in its properties in the same atomic commit as the
data. Each commit names the newest loaded batch in its snapshot summary, so ``AS OF`` a batch
still reads the lake as that batch left it. The ledger records when batches reached the lake.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ainsdale_etl.adapters.postgres import fetch_all, fetch_arrow
from ainsdale_etl.core.registry import LAKE_TABLES, StarTable, quote_ident
from ainsdale_etl.lake.append import append_chunks
from ainsdale_etl.lake.catalog import OWNER_PROPERTY, ensure_namespace, lake_table, open_catalog
from ainsdale_etl.lake.objects import object_chunks, usable_object
from ainsdale_etl.lake.owed import Held, changed_ids, held_now, rewritten_records, rows_after
from ainsdale_etl.lake.rows import rows_of, select_columns, streamed_rows, whole_table
from ainsdale_etl.lake.schema import BATCH_PROPERTY, as_lake_rows
from ainsdale_etl.load.ddl import (
    DIM_BASE_VERSION,
    FACT_KEY_RANGE,
    INFERRED,
    LEDGER,
    ROW_VERSION,
)
from ainsdale_etl.load.ledger import ledger_session, record_lake
from ainsdale_etl.runtime.shutdown import checkpoint
from ainsdale_etl.testing.faults import fault_point

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pyarrow as pa
    from pyiceberg.table import Table

    from ainsdale_etl.runtime.context import Context


def sync_lake(ctx: Context) -> dict[str, int]:
    """Bring every lake table to its warehouse table; returns table -> rows written."""
    started = time.perf_counter()
    ctx.reporter.event("step_started", step="lake")
    catalog = open_catalog(ctx.settings, ctx.warehouse)
    if catalog is None:
        return {}
    try:
        ensure_namespace(catalog, ctx.settings)
        with ledger_session(ctx.warehouse) as conn:
            row = conn.execute(  # an aggregate: always one row
                f"SELECT now(), max(batch_id) FILTER (WHERE loaded_at IS NOT NULL) FROM {LEDGER}"
            ).fetchone()
        assert row is not None
        at, newest = row
        written = _write_tables(ctx, catalog, str(newest or ""), at)
    finally:
        engine = getattr(catalog, "engine", None)
        if engine is not None:
            engine.dispose()  # the SQL catalog's pooled connections to the warehouse
    record_lake(ctx.warehouse, at)
    ctx.reporter.event(
        "lake_synced",
        step="lake",
        tables=len([n for n in written.values() if n]),
        rows=sum(written.values()),
        seconds=round(time.perf_counter() - started, 3),
    )
    return written


def _write_tables(ctx: Context, catalog: Any, newest: str, at: datetime) -> dict[str, int]:
    """Each table in turn, side by side (``AINSDALE_WORKERS``, each on a warehouse connection
    of its own): their commits are independent, and most of a commit is Parquet encoding and
    file writes, which release the GIL."""
    queue = list(LAKE_TABLES)
    lock = threading.Lock()
    written: dict[str, int] = {}

    def next_table() -> str | None:
        with lock:
            return queue.pop(0) if queue else None

    def work() -> None:
        try:
            # No writer runs beside this (the pipeline lock), so each table's counts and
            # rows are read from one state of the warehouse.
            with ctx.warehouse.connect() as conn, conn.cursor() as cur:
                while (name := next_table()) is not None:
                    rows = _sync_table(ctx, cur, catalog, LAKE_TABLES[name], newest, at)
                    with lock:
                        written[name] = rows
                conn.rollback()  # it only read
        except BaseException:
            with lock:  # a stop or a failure: the other writers take no further table
                queue.clear()
            raise

    workers = max(1, min(ctx.settings.workers, len(queue)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lake") as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
    return {n: written[n] for n in LAKE_TABLES if n in written}


def _sync_table(
    ctx: Context, cur: Any, catalog: Any, table: StarTable, newest: str, at: datetime
) -> int:
    checkpoint(f"while writing {table.name} to the lake (the tables written so far are in)")
    ctx.lock_check()
    started = time.perf_counter()
    ice, how = lake_table(
        catalog, ctx.settings, table, environment=ctx.environment_id, relocate=ctx.rebound
    )
    held = Held.of(ice.properties) if how == "held" else None
    now = held_now(cur, table, at)
    if how == "rebuilt":
        ctx.reporter.warning(
            f"lake table {table.name} was gone (its files removed?) or, with --rebind, lived "
            "outside this environment's lake; rebuilt from the warehouse",
            kind="lake_table_rebuilt",
            step="lake",
            table=table.name,
        )
    commit = now.properties()
    if ctx.environment_id:  # a table made before environments were recorded is claimed here
        commit[OWNER_PROPERTY] = ctx.environment_id
    summary = {BATCH_PROPERTY: newest} if newest else {}
    rows = _write_owed(ctx, cur, ice, table, held, now, summary, commit)
    if rows is None:
        return 0
    ctx.reporter.event(
        "lake_table_written",
        step="lake",
        table=table.name,
        rows=rows,
        seconds=round(time.perf_counter() - started, 3),
    )
    fault_point("lake_table_written")
    return rows


def _write_owed(
    ctx: Context,
    cur: Any,
    ice: Table,
    table: StarTable,
    held: Held | None,
    now: Held,
    summary: dict[str, str],
    commit: dict[str, str],
) -> int | None:
    """Write what ``ice`` owes; the rows written, or None when it owes nothing."""
    schema = ice.schema()
    if held is not None and table.is_fact and held.newest_key is not None:
        if held.rows + rows_after(cur, table, held.newest_key) == now.rows:
            rewritten = rewritten_records(cur, table, held.synced_at, held.newest_key)
            if not rewritten and (held.rows, held.newest_key) == (now.rows, now.newest_key):
                return None
            if rewritten:
                _overwrite_records(cur, ice, table, rewritten, summary)
            key = quote_ident(table.surrogate_key or "")
            chunks = streamed_rows(cur, table, f"WHERE d.{key} > {int(held.newest_key)}")
            prepare = lambda c: as_lake_rows(table, c, schema)  # noqa: E731
            return len(rewritten) + append_chunks(ice, chunks, summary, prepare, properties=commit)
    elif held is not None and not table.is_fact and table.name != "dim_date":
        ids = changed_ids(cur, table, held.synced_at)
        if ids == [] and held.rows == now.rows:
            return None
        if ids:
            return _overwrite_ids(cur, ice, table, ids, summary, commit, now)
    elif held is not None and held.rows == now.rows:  # dim_date: only ever added to
        return None
    return _write_whole(ctx, cur, ice, table, summary, commit)


def _overwrite_ids(
    cur: Any,
    ice: Table,
    table: StarTable,
    ids: list[int],
    summary: dict[str, str],
    commit: dict[str, str],
    now: Held,
) -> int:
    """The current rows of ``ids`` in place of the lake's; the whole table instead when the
    counts would not then agree (a change the records missed, a hand's edit)."""
    from pyiceberg import expressions

    in_ids: Any = expressions.In  # (name, literals) at run time; its stubs say otherwise
    key = table.key[0]
    data = as_lake_rows(table, rows_of(cur, table, ids), ice.schema())
    with ice.transaction() as tx:
        tx.overwrite(data, overwrite_filter=in_ids(key, ids), snapshot_properties=summary)
        tx.set_properties(commit)
    snapshot = ice.current_snapshot()
    total = snapshot.summary.get("total-records") if snapshot and snapshot.summary else None
    if total is not None and int(total) != now.rows:
        return _write_whole_dimension(cur, ice, table, summary, commit)
    return len(data)


def _overwrite_records(
    cur: Any, ice: Table, table: StarTable, keys: list[int], summary: dict[str, str]
) -> None:
    """A fact's rows of ``keys`` as the warehouse now holds them, in place of the lake's (the
    properties are set by the append that follows: until then the table still owes them)."""
    from pyiceberg import expressions

    in_keys: Any = expressions.In  # (name, literals) at run time; its stubs say otherwise
    column = table.surrogate_key or ""
    rows = fetch_arrow(
        cur,
        f"SELECT {select_columns(table)} FROM {quote_ident(table.name)} d "
        f"WHERE d.{quote_ident(column)} = ANY($1)",
        [keys],
    )
    ice.overwrite(
        as_lake_rows(table, rows, ice.schema()),
        overwrite_filter=in_keys(column, keys),
        snapshot_properties=summary,
    )


def _write_whole(
    ctx: Context,
    cur: Any,
    ice: Table,
    table: StarTable,
    summary: dict[str, str],
    commit: dict[str, str],
) -> int:
    """The table as the warehouse has it, replacing whatever the lake held."""
    if not table.is_fact:
        objects = _dimension_object(ctx, cur, ice, table)
        if objects is None:
            return _write_whole_dimension(cur, ice, table, summary, commit)
        chunks: Iterable[pa.Table] = objects
    else:
        chunks = _from_objects(ctx, cur, table) or streamed_rows(cur, table, "")
    schema = ice.schema()
    return append_chunks(
        ice,
        chunks,
        summary,
        lambda c: as_lake_rows(table, c, schema),
        properties=commit,
        replace=ice.current_snapshot() is not None,
    )


def _write_whole_dimension(
    cur: Any, ice: Table, table: StarTable, summary: dict[str, str], commit: dict[str, str]
) -> int:
    data = as_lake_rows(table, whole_table(cur, table), ice.schema())
    with ice.transaction() as tx:
        if ice.current_snapshot() is None:
            tx.append(data, snapshot_properties=summary)
        else:
            tx.overwrite(data, snapshot_properties=summary)
        tx.set_properties(commit)
    return len(data)


def _dimension_object(
    ctx: Context, cur: Any, ice: Table, table: StarTable
) -> Iterable[pa.Table] | None:
    """A dimension's rows from the object one batch bulk-loaded into the empty table, when
    the table is still exactly that (nothing merged, inferred or deleted since) and the lake's
    is empty: a first load's largest dimension is not read back."""
    if ice.current_snapshot() is not None:
        return None
    found = fetch_all(
        cur,
        f"""SELECT b.batch_id FROM {DIM_BASE_VERSION} b WHERE b.dim = $1
            AND NOT EXISTS (SELECT FROM {ROW_VERSION} v WHERE v.star_table = $1)
            AND NOT EXISTS (SELECT FROM {INFERRED} i WHERE i.dim = $1)""",
        [table.name],
    )
    if not found:
        return None
    batch_id = str(found[0][0])
    entry = usable_object(ctx.processed, table, batch_id, None)
    count = fetch_all(cur, f"SELECT count(*) FROM {quote_ident(table.name)}")[0][0]
    if entry is None or entry.rows != int(count):
        return None
    return object_chunks(ctx.processed, batch_id, entry, table, None)


def _from_objects(ctx: Context, cur: Any, table: StarTable) -> Iterable[pa.Table] | None:
    """A fact's rows from the one batch object a bulk load numbered them from, when that is
    the whole table (a first load): a fraction of the cost of reading them back."""
    from ainsdale_etl.lake.ledger import KeyRange

    ranges = fetch_all(
        cur,
        f"SELECT batch_id, first_key, rows, object_sha256 FROM {FACT_KEY_RANGE} "
        "WHERE star_table = $1",
        [table.name],
    )
    if len(ranges) != 1:
        return None
    batch_id, first, count, sha = ranges[0]
    keys = KeyRange(int(first), int(count), str(sha))
    key = quote_ident(table.surrogate_key or "")
    rows, low, high = fetch_all(
        cur, f"SELECT count(*), min({key}), max({key}) FROM {quote_ident(table.name)}"
    )[0]
    last = keys.first_key + keys.rows - 1
    if (int(rows), low, high) != (keys.rows, keys.first_key, last):
        return None  # not only the bulk load's rows: read back from the warehouse
    entry = usable_object(ctx.processed, table, str(batch_id), keys)
    if entry is None:
        return None
    return object_chunks(ctx.processed, str(batch_id), entry, table, keys)

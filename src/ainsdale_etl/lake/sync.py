"""The lake step: each lake table brought to what its warehouse table holds.

The warehouse is the truth and the lake its copy, so the question for each table is not
"which batches does it lack" but "does it hold what the warehouse holds". Each table carries a
**fingerprint** of the warehouse content it copies, computed on the server and set as a table
property in the same atomic commit as the data (a property outlives snapshot expiry and
compaction). A table is written when the warehouse's fingerprint differs, whatever the ledger's
merge counts say:

* a dimension (small) is rewritten whole;
* a fact, whose versions are only ever added, gets the rows keyed after the newest it holds,
  once the rows it holds are confirmed to be the warehouse's (same count and key sum up to
  that key); otherwise, or on its first write, it is written whole, from the batch's objects
  where a bulk load numbered them (:mod:`.objects`), else streamed from the warehouse.

A table whose metadata is gone (its folder removed by hand) is made anew and rebuilt, with one
warning. Each commit names the newest loaded batch in its snapshot summary, so ``AS OF`` a batch
still reads the lake as that batch left it. The ledger records when each batch reached the lake.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ainsdale_etl.adapters.postgres import fetch_all
from ainsdale_etl.core.registry import STAR_TABLES, StarTable, quote_ident
from ainsdale_etl.lake.append import append_chunks
from ainsdale_etl.lake.catalog import OWNER_PROPERTY, ensure_namespace, lake_table, open_catalog
from ainsdale_etl.lake.objects import object_chunks, usable_object
from ainsdale_etl.lake.rows import streamed_rows, whole_table
from ainsdale_etl.lake.schema import BATCH_PROPERTY, as_lake_rows
from ainsdale_etl.load.ddl import FACT_KEY_RANGE, LEDGER
from ainsdale_etl.load.ledger import ledger_session, record_lake
from ainsdale_etl.runtime.shutdown import checkpoint
from ainsdale_etl.testing.faults import fault_point

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pyarrow as pa
    from pyiceberg.table import Table

    from ainsdale_etl.runtime.context import Context

FINGERPRINT = "ainsdale.fingerprint"  # table property: the warehouse content the table copies


@dataclass(frozen=True)
class Fingerprint:
    """What a warehouse table held: its rows and a digest of them (a dimension: md5 over
    every row's text; a fact: the sum of its keys, with its newest key)."""

    rows: int
    digest: str
    newest_key: int | None = None

    def text(self) -> str:
        return f"{self.rows}:{self.digest}:{'' if self.newest_key is None else self.newest_key}"

    @classmethod
    def parse(cls, text: str | None) -> Fingerprint | None:
        try:
            rows, digest, newest = (text or "").split(":")
            return cls(int(rows), digest, int(newest) if newest else None)
        except ValueError:
            return None


def fingerprint(cur: Any, table: StarTable, *, up_to: int | None = None) -> Fingerprint:
    """The warehouse's fingerprint of ``table`` (of a fact's rows keyed ``up_to`` if given)."""
    name = quote_ident(table.name)
    if table.surrogate_key:
        key = quote_ident(table.surrogate_key)
        where = f" WHERE {key} <= {int(up_to)}" if up_to is not None else ""
        rows, total, newest = fetch_all(
            cur, f"SELECT count(*), coalesce(sum({key}), 0)::text, max({key}) FROM {name}{where}"
        )[0]
        return Fingerprint(int(rows), str(total), None if newest is None else int(newest))
    order = ", ".join(quote_ident(k) for k in table.key)
    rows, digest = fetch_all(
        cur,
        f"SELECT count(*), md5(coalesce(string_agg(md5(d::text), '' ORDER BY {order}), '')) "
        f"FROM {name} d",
    )[0]
    return Fingerprint(int(rows), str(digest))


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
            at, newest = conn.execute(
                f"SELECT now(), max(batch_id) FILTER (WHERE loaded_at IS NOT NULL) FROM {LEDGER}"
            ).fetchone() or (None, None)
        written = _write_tables(ctx, catalog, str(newest or ""))
    finally:
        engine = getattr(catalog, "engine", None)
        if engine is not None:
            engine.dispose()  # the SQL catalog's pooled connections to the warehouse
    if at is not None:
        record_lake(ctx.warehouse, at)
    ctx.reporter.event(
        "lake_synced",
        step="lake",
        tables=len([n for n in written.values() if n]),
        rows=sum(written.values()),
        seconds=round(time.perf_counter() - started, 3),
    )
    return written


def _write_tables(ctx: Context, catalog: Any, newest: str) -> dict[str, int]:
    """Each table in turn, side by side (``AINSDALE_WORKERS``, each on a warehouse connection
    of its own): their commits are independent, and most of a commit is Parquet encoding and
    file writes, which release the GIL."""
    queue = list(STAR_TABLES)
    lock = threading.Lock()
    written: dict[str, int] = {}

    def next_table() -> str | None:
        with lock:
            return queue.pop(0) if queue else None

    def work() -> None:
        try:
            # No writer runs beside this (the pipeline lock), so each table's fingerprint and
            # rows are read from one state of the warehouse.
            with ctx.warehouse.connect() as conn, conn.cursor() as cur:
                while (name := next_table()) is not None:
                    rows = _sync_table(ctx, cur, catalog, STAR_TABLES[name], newest)
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
    return {n: written[n] for n in STAR_TABLES if n in written}


def _sync_table(ctx: Context, cur: Any, catalog: Any, table: StarTable, newest: str) -> int:
    checkpoint(f"while writing {table.name} to the lake (the tables written so far are in)")
    ctx.lock_check()
    started = time.perf_counter()
    ice, how = lake_table(
        catalog, ctx.settings, table, environment=ctx.environment_id, relocate=ctx.rebound
    )
    wanted = fingerprint(cur, table)
    held = Fingerprint.parse(ice.properties.get(FINGERPRINT)) if how == "held" else None
    if held == wanted:
        return 0
    if how == "rebuilt":
        ctx.reporter.warning(
            f"lake table {table.name} was gone (its files removed?) or, with --rebind, lived "
            "outside this environment's lake; rebuilt from the warehouse",
            kind="lake_table_rebuilt",
            step="lake",
            table=table.name,
        )
    commit = {FINGERPRINT: wanted.text()}
    if ctx.environment_id:  # a table made before environments were recorded is claimed here
        commit[OWNER_PROPERTY] = ctx.environment_id
    summary = {BATCH_PROPERTY: newest} if newest else {}
    if table.is_fact and held is not None and _holds_prefix(cur, table, held):
        rows = _append_after(ctx, cur, ice, table, held, summary, commit)
    else:
        rows = _write_whole(ctx, cur, ice, table, summary, commit, wanted)
    ctx.reporter.event(
        "lake_table_written",
        step="lake",
        table=table.name,
        rows=rows,
        seconds=round(time.perf_counter() - started, 3),
    )
    fault_point("lake_table_written")
    return rows


def _holds_prefix(cur: Any, table: StarTable, held: Fingerprint) -> bool:
    """The lake's fact rows are the warehouse's up to its newest key: only rows after it are
    owed (fact versions are only ever added, with higher keys)."""
    if held.newest_key is None:
        return held.rows == 0
    return fingerprint(cur, table, up_to=held.newest_key) == held


def _append_after(
    ctx: Context,
    cur: Any,
    ice: Table,
    table: StarTable,
    held: Fingerprint,
    summary: dict[str, str],
    commit: dict[str, str],
) -> int:
    schema = ice.schema()
    key = quote_ident(table.surrogate_key or "")
    after = -1 if held.newest_key is None else held.newest_key
    chunks = streamed_rows(cur, table, f"WHERE d.{key} > {int(after)}")
    return append_chunks(
        ice, chunks, summary, lambda c: as_lake_rows(table, c, schema), properties=commit
    )


def _write_whole(
    ctx: Context,
    cur: Any,
    ice: Table,
    table: StarTable,
    summary: dict[str, str],
    commit: dict[str, str],
    wanted: Fingerprint,
) -> int:
    """The table as the warehouse has it, replacing whatever the lake held."""
    schema = ice.schema()
    chunks: Iterable[pa.Table]
    if table.is_fact:
        chunks = _from_objects(ctx, cur, table, wanted) or streamed_rows(cur, table, "")
        return append_chunks(
            ice,
            chunks,
            summary,
            lambda c: as_lake_rows(table, c, schema),
            properties=commit,
            replace=ice.current_snapshot() is not None,
        )
    data = as_lake_rows(table, whole_table(cur, table), schema)
    with ice.transaction() as tx:
        if ice.current_snapshot() is None:
            tx.append(data, snapshot_properties=summary)
        else:
            tx.overwrite(data, snapshot_properties=summary)
        tx.set_properties(commit)
    return len(data)


def _from_objects(
    ctx: Context, cur: Any, table: StarTable, wanted: Fingerprint
) -> Iterable[pa.Table] | None:
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
    batch_id, first, rows, sha = ranges[0]
    keys = KeyRange(int(first), int(rows), str(sha))
    last = keys.first_key + keys.rows - 1
    covers = (wanted.rows, wanted.newest_key, wanted.digest) == (
        keys.rows,
        last,
        str((keys.first_key + last) * keys.rows // 2),
    )
    entry = usable_object(ctx.processed, table, str(batch_id), keys) if covers else None
    if entry is None:
        return None
    return object_chunks(ctx.processed, str(batch_id), entry, table, keys)

"""The pipeline's steps over batches: transform and load, and run-all tying them to extract.

This is the imperative shell: it reads and writes buckets and the warehouse, and hands frames
to the pure functions of :mod:`ainsdale_etl.transform.star`.
"""

from __future__ import annotations

import io
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ainsdale_etl.adapters.storage import ObjectNotFoundError, Storage
from ainsdale_etl.core.batches import (
    Manifest,
    TableEntry,
    committed_batches,
    object_key,
    read_manifest,
    sha256_file,
    write_manifest,
)
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.events import Reporter, rate
from ainsdale_etl.core.registry import SOURCE_TABLES, STAR_TABLES
from ainsdale_etl.core.retry import retrying
from ainsdale_etl.runtime.quarantine import (
    QuarantineMark,
    blocked_error,
    quarantine,
    quarantined,
    release,
)
from ainsdale_etl.runtime.shutdown import checkpoint

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import polars as pl

    from ainsdale_etl.extract.extract import ExtractResult
    from ainsdale_etl.load.ddl import TableData
    from ainsdale_etl.runtime.context import Context

T = TypeVar("T")
R = TypeVar("R")
CURRENT_PREFIX = "state/current/"
CHUNK_BYTES = 8 << 20  # CSV read, checked, built and written at a time by transform
# zstd level 1: as small as the default level 3 on these tables, and twice as fast to write.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 1}
PARQUET_READ_ROWS = 65_536  # rows per record batch streamed from Parquet into the warehouse


def current_key(table: str) -> str:
    return f"{CURRENT_PREFIX}{table}.parquet"


def pending_transforms(
    ingest: Storage, processed: Storage, transformed: list[str] | None = None
) -> list[str]:
    """Extracted batches not yet transformed, oldest first; ``transformed`` is the processed
    bucket's committed batches, if the caller has listed them already."""
    done = set(committed_batches(processed) if transformed is None else transformed)
    return [b for b in committed_batches(ingest) if b not in done]


def _checked_file(storage: Storage, batch_id: str, entry: TableEntry, tmp: Path) -> Path:
    """A batch's object downloaded to ``tmp`` and checked against its manifest entry."""
    key = entry.key or ""
    path = tmp / key.rsplit("/", 1)[-1]
    try:
        storage.get_file(key, path)
    except ObjectNotFoundError:
        raise BadInputError(
            f"batch {batch_id}: object {key} named by its manifest is missing"
        ) from None
    if entry.sha256 and sha256_file(path) != entry.sha256:
        raise BadInputError(
            f"batch {batch_id}: object {key} does not match its manifest checksum "
            "(changed or truncated after it was written); re-run the step that wrote it"
        )
    return path


def open_star_table(processed: Storage, batch_id: str, entry: TableEntry, tmp: Path) -> TableData:
    """A star table's Parquet object, downloaded, checked, and opened as a stream of batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ainsdale_etl.load.ddl import TableData

    parquet = pq.ParquetFile(_checked_file(processed, batch_id, entry, tmp))
    reader = parquet.iter_batches(batch_size=PARQUET_READ_ROWS)
    return TableData(
        parquet.metadata.num_rows, pa.RecordBatchReader.from_batches(parquet.schema_arrow, reader)
    )


def _read_current(processed: Storage, table: str) -> pl.DataFrame:
    import polars as pl

    from ainsdale_etl.transform.star import empty_source

    if not processed.exists(current_key(table)):
        return empty_source(table)
    return pl.read_parquet(io.BytesIO(processed.get_bytes(current_key(table))))


def _put_parquet(storage: Storage, key: str, frame: pl.DataFrame, tmp: Path) -> TableEntry:
    path = tmp / key.replace("/", "_")
    frame.write_parquet(path, **PARQUET_OPTIONS)
    entry = TableEntry(key=key, rows=frame.height, sha256=sha256_file(path))
    storage.put_file(key, path)
    path.unlink()  # never written again: a local bucket may hold it as a hard link
    return entry


@dataclass
class _Streamed:
    """A star table built and written chunk by chunk: its entry, dates it references, time."""

    entry: TableEntry
    dates: list[date]
    seconds: float


def _in_batch(batch_id: str, build: Callable[..., R], *args: Any) -> R:
    """``build(*args)``, with bad input named by its batch."""
    try:
        return build(*args)
    except BadInputError as exc:
        raise BadInputError(f"batch {batch_id}: {exc}") from None


def _map_concurrently(function: Callable[[T], R], items: list[T], workers: int) -> dict[T, R]:
    """``function`` of each item, on up to ``workers`` threads (polars and pyarrow release the
    GIL, so tables really are parsed and written in parallel)."""
    if workers <= 1 or len(items) <= 1:
        return {item: function(item) for item in items}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(items, pool.map(function, items), strict=True))


def _source_chunks(
    ingest: Storage, manifest: Manifest, name: str, tmp: Path, warn: Callable[[str], None]
) -> Iterator[pl.DataFrame]:
    """One table of an extracted batch, downloaded, checked and typed a chunk at a time."""
    from ainsdale_etl.transform.contracts import read_source_csv

    entry = manifest.tables[name]
    path = _checked_file(ingest, manifest.batch_id, entry, tmp)
    rows = 0
    for chunk in read_source_csv(
        path,
        SOURCE_TABLES[name],
        where=f"batch {manifest.batch_id}: {entry.key}",
        warn=warn,
        block_bytes=CHUNK_BYTES,
    ):
        rows += chunk.height
        yield chunk
    path.unlink()
    if rows != entry.rows:
        raise BadInputError(
            f"batch {manifest.batch_id}: {entry.key} holds {rows} rows, its manifest says "
            f"{entry.rows}"
        )


def _stream_star(
    batch_id: str, source: str, chunks: Iterable[pl.DataFrame], out: Path
) -> _Streamed | None:
    """The row-wise star table of ``source`` built chunk by chunk into the Parquet file ``out``;
    None if an id of a dimension came in two chunks (it must then be built from all rows)."""
    import polars as pl
    import pyarrow.parquet as pq

    from ainsdale_etl.transform.star import ROW_WISE, referenced_dates

    started = time.perf_counter()
    name, build = ROW_WISE[source]
    is_fact = STAR_TABLES[name].is_fact
    dates: list[date] = []
    ids: list[pl.Series] = []
    rows, writer = 0, None
    try:
        for chunk in chunks:
            built = _in_batch(batch_id, build, chunk)
            if is_fact:
                referenced = referenced_dates(built, name)
                dates += [cast(date, d) for d in (referenced.min(), referenced.max()) if d]
            else:
                ids.append(built[STAR_TABLES[name].key[0]])
            arrow = built.to_arrow()
            if writer is None:
                # No dictionaries: pyarrow's dictionary encoding doubled the write time here and
                # grew the files (polars' own writer does not use them either).
                writer = pq.ParquetWriter(
                    out, arrow.schema, use_dictionary=False, **PARQUET_OPTIONS
                )
            writer.write_table(arrow)
            rows += built.height
    finally:
        if writer is not None:
            writer.close()
    if len(ids) > 1 and pl.concat(ids).is_duplicated().any():
        return None
    return _Streamed(TableEntry(rows=rows), dates, time.perf_counter() - started)


def transform_batch(
    ingest: Storage,
    processed: Storage,
    batch_id: str,
    reporter: Reporter,
    *,
    workers: int = 2,
    before_commit: Callable[[], None] = lambda: None,
    on_written: Callable[[str, TableEntry], None] = lambda name, entry: None,
) -> Manifest:
    """Build a batch's star tables as Parquet in the processed bucket, committed by a manifest.

    ``on_written(table, entry)`` is called (from a worker thread) as each star table's object is
    written, before the manifest commits them all.

    The star tables built row by row (facts, dim_transaction) are streamed: their source is
    read, checked, built and written ``CHUNK_BYTES`` of CSV at a time, so memory does not grow
    with the batch. The other dimensions, from small tables they join, are built whole.
    """
    import polars as pl

    from ainsdale_etl.transform.star import (
        JOINED_SOURCES,
        ROW_WISE,
        build_dim_date,
        build_dimensions,
        empty_source,
        merge_current,
    )

    started = time.perf_counter()
    manifest = read_manifest(ingest, batch_id)
    names = []
    for name, source_entry in manifest.tables.items():
        if name not in SOURCE_TABLES:
            reporter.warning(f"batch {batch_id}: ignoring unknown table {name}", batch_id=batch_id)
        elif source_entry.rows:
            names.append(name)
    warnings: list[str] = []  # reported from this thread, not from the workers

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)

        def chunks(name: str) -> Iterator[pl.DataFrame]:
            return _source_chunks(ingest, manifest, name, tmp, warnings.append)

        def read(name: str) -> pl.DataFrame | _Streamed:
            if name not in ROW_WISE:
                return pl.concat(chunks(name))
            out = tmp / f"{ROW_WISE[name][0]}.parquet"
            streamed = _stream_star(batch_id, name, chunks(name), out)
            if streamed is None:  # an id in two chunks: keep its latest version over all rows
                streamed = _stream_star(batch_id, name, [pl.concat(chunks(name))], out)
            assert streamed is not None
            key = object_key(batch_id, ROW_WISE[name][0], "parquet")
            streamed.entry = TableEntry(key=key, rows=streamed.entry.rows, sha256=sha256_file(out))
            processed.put_file(key, out)
            out.unlink()  # never written again: a local bucket may hold it as a hard link
            if streamed.entry.rows:
                on_written(ROW_WISE[name][0], streamed.entry)
            return streamed

        try:
            # Smallest first: the load running alongside (run-all) gets its first table sooner.
            smallest_first = sorted(names, key=lambda n: manifest.tables[n].rows)
            results = _map_concurrently(read, smallest_first, workers)
        finally:
            for message in warnings:
                reporter.warning(message, batch_id=batch_id, step="transform")
        changes = {n: r for n, r in results.items() if isinstance(r, pl.DataFrame)}
        streamed = {ROW_WISE[n][0]: r for n, r in results.items() if isinstance(r, _Streamed)}
        current = {
            name: merge_current(
                _read_current(processed, name), changes.get(name, empty_source(name)), name
            )
            for name in JOINED_SOURCES
        }
        star = _in_batch(batch_id, build_dimensions, changes, current)
        star["dim_date"] = build_dim_date(
            pl.Series("date", [d for s in streamed.values() for d in s.dates], dtype=pl.Date)
        )
        seconds: dict[str, float] = {n: s.seconds for n, s in streamed.items()}

        def put(name: str) -> TableEntry:
            table_started = time.perf_counter()
            entry = _put_parquet(processed, object_key(batch_id, name, "parquet"), star[name], tmp)
            seconds[name] = time.perf_counter() - table_started
            on_written(name, entry)
            return entry

        written = [n for n in sorted(star, key=lambda n: -star[n].height) if star[n].height]
        entries = _map_concurrently(put, written, workers)
        entries |= {n: s.entry for n, s in streamed.items() if s.entry.rows}
        for name in STAR_TABLES:
            if name in entries:
                reporter.event(
                    "table_transformed",
                    step="transform",
                    batch_id=batch_id,
                    table=name,
                    **rate(entries[name].rows, seconds[name]),
                )
        # The current state is written before the manifest; merging is idempotent, so a crash
        # here followed by a rerun of this batch gives the same state.
        for name in JOINED_SOURCES:
            if name in changes:
                _put_parquet(processed, current_key(name), current[name], tmp)
    transformed = Manifest(
        batch_id=batch_id,
        stage="transform",
        created_at=datetime.now().astimezone().isoformat(),
        full=manifest.full,
        source_batch_id=batch_id,
        tables={name: entries[name] for name in STAR_TABLES if name in entries},
    )
    before_commit()  # e.g. confirm the run still holds its lock
    write_manifest(processed, transformed)
    reporter.event(
        "batch_transformed",
        step="transform",
        batch_id=batch_id,
        **rate(transformed.total_rows, time.perf_counter() - started),
    )
    return transformed


def pending_loads(processed: Storage, loaded: set[str]) -> list[str]:
    return [b for b in committed_batches(processed) if b not in loaded]


def load_batch(ctx: Context, batch_id: str, loaded: set[str]) -> dict[str, int]:
    """Load one transformed batch into the warehouse (one transaction, ledger included)."""
    from ainsdale_etl.load.ddl import load_tables

    started = time.perf_counter()
    manifest = read_manifest(ctx.processed, batch_id)
    unknown = set(manifest.tables) - set(STAR_TABLES)
    if unknown:
        raise BadInputError(
            f"batch {batch_id}: processed manifest names unknown tables {sorted(unknown)}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        tables = {
            name: open_star_table(ctx.processed, batch_id, entry, Path(tmp))
            for name, entry in manifest.tables.items()
            if entry.rows
        }
        newer_loaded = any(b > batch_id for b in loaded)
        merged = load_tables(
            ctx.warehouse,
            batch_id,
            tables.items(),
            overwrite_dimensions=not newer_loaded,
            bulk_min_rows=ctx.settings.bulk_load_min_rows,
            reporter=ctx.reporter,
            before_commit=ctx.lock_check,
        )
    report_loaded(ctx.reporter, batch_id, merged, time.perf_counter() - started)
    return merged


def report_loaded(
    reporter: Reporter, batch_id: str, merged: dict[str, int], seconds: float
) -> None:
    reporter.event(
        "batch_loaded",
        step="load",
        batch_id=batch_id,
        **rate(sum(merged.values()), seconds),
        tables=merged,
    )


def _active_marks(ctx: Context, loaded: set[str]) -> dict[str, QuarantineMark]:
    """The quarantine marks that still hold. A mark on a batch the ledger already has (left by
    a crash between the load's commit and the mark's release) is lifted."""
    marks = quarantined(ctx.processed)
    for batch_id in [b for b in marks if b in loaded]:
        release(ctx.processed, batch_id)
        del marks[batch_id]
    return marks


def _stop_if_blocked(
    ctx: Context, batch_id: str, explicit: bool, marks: dict[str, QuarantineMark]
) -> None:
    """A pending batch at or after a quarantined one is not touched: nothing passes a
    quarantined batch silently. A batch named explicitly (--batch-id) may be tried."""
    earliest = min(marks, default=None)
    if explicit or earliest is None or batch_id < earliest:
        return
    mark = marks[earliest]
    # Logged with the quarantined batch's id, so the alert names that batch, not this one.
    ctx.reporter.event("batch_blocked", step=mark.step, batch_id=mark.batch_id)
    raise blocked_error(mark)


def _guarded(
    ctx: Context,
    step: str,
    batch_id: str,
    *,
    marks: dict[str, QuarantineMark],
    already_loaded: bool,
    action: Callable[[], T],
) -> T:
    """Run one batch's step, retrying transient database faults, under the quarantine rules:
    bad input quarantines the batch (unless it is a rerun of a batch already loaded, whose
    failure must not hold up the batches after it); success lifts its mark."""
    checkpoint(f"before the {step} of batch {batch_id}")
    ctx.lock_check()
    ctx.reporter.event("batch_started", step=step, batch_id=batch_id)
    try:
        result = retrying(
            action,
            what=f"{step} of batch {batch_id}",
            policy=ctx.retry_policy,
            on_retry=lambda message: ctx.reporter.warning(message, batch_id=batch_id, step=step),
        )
    except BadInputError as exc:
        if not already_loaded:
            quarantine(ctx.processed, batch_id, step, str(exc))
            ctx.reporter.event(
                "batch_quarantined", str(exc), level="error", step=step, batch_id=batch_id
            )
        raise
    mark = marks.pop(batch_id, None)
    # A transform that now succeeds lifts a transform mark; a load mark waits for the load.
    if mark is not None and (mark.step == step or step == "load"):
        release(ctx.processed, batch_id)
        ctx.reporter.event("quarantine_lifted", step=step, batch_id=batch_id)
    return result


def transform_pending(
    ctx: Context,
    batch_ids: list[str] | None = None,
    *,
    loads: dict[str, dict[str, int]] | None = None,
    force: bool = False,
) -> list[str]:
    """Transform the pending batches (or ``batch_ids``), oldest first.

    Given ``loads``, a new batch is also loaded while it is transformed (see
    :mod:`ainsdale_etl.load.alongside`) when nothing stands in the way (no quarantine, no newer
    batch loaded), and the rows each table merged are recorded there by batch id.
    """
    from ainsdale_etl.load.alongside import LoadAlongside
    from ainsdale_etl.load.ddl import loaded_batches

    ctx.reporter.event("step_started", step="transform")
    transformed = committed_batches(ctx.processed)  # listed once: O(objects) on S3
    ids = batch_ids
    if ids is None:
        ids = pending_transforms(ctx.ingest, ctx.processed, transformed)
    loaded = set(loaded_batches(ctx.warehouse))
    marks = _active_marks(ctx, loaded)
    # Batches must reach the warehouse in order, and none may pass a quarantined one: a batch
    # is loaded alongside only if no batch before it waits to be loaded, and only while every
    # load alongside has succeeded.
    in_order = loads is not None and set(transformed) <= loaded
    with ctx.reporter.progress("transform", total=len(ids)) as bar:
        for batch_id in ids:
            _stop_if_blocked(ctx, batch_id, batch_ids is not None, marks)
            alongside = None
            if in_order and not marks and all(b < batch_id for b in loaded):
                alongside = LoadAlongside(ctx, batch_id, force=force)
            try:
                _guarded(
                    ctx,
                    "transform",
                    batch_id,
                    marks=marks,
                    already_loaded=batch_id in loaded,
                    action=partial(
                        transform_batch,
                        ctx.ingest,
                        ctx.processed,
                        batch_id,
                        ctx.reporter,
                        workers=ctx.settings.workers,
                        before_commit=ctx.lock_check,
                        on_written=alongside.table_written if alongside else lambda n, e: None,
                    ),
                )
            except BaseException:
                if alongside is not None:
                    alongside.abandon()
                raise
            if alongside is not None and loads is not None:
                alongside.transform_committed()
                merged = alongside.result()
                if merged is None:
                    in_order = False  # this batch waits for the ordinary load; so do the next
                else:
                    loads[batch_id] = merged
                    loaded.add(batch_id)
            bar.advance()
    return ids


def load_pending(
    ctx: Context, batch_ids: list[str] | None = None, *, force: bool = False
) -> dict[str, dict[str, int]]:
    from ainsdale_etl.load.ddl import ensure_warehouse, loaded_batches

    ctx.reporter.event("step_started", step="load")
    ensure_warehouse(ctx.warehouse, force=force)
    loaded = set(loaded_batches(ctx.warehouse))
    ids = pending_loads(ctx.processed, loaded) if batch_ids is None else batch_ids
    marks = _active_marks(ctx, loaded)
    results = {}
    with ctx.reporter.progress("load", total=len(ids)) as bar:
        for batch_id in ids:
            _stop_if_blocked(ctx, batch_id, batch_ids is not None, marks)
            results[batch_id] = _guarded(
                ctx,
                "load",
                batch_id,
                marks=marks,
                already_loaded=batch_id in loaded,
                action=partial(load_batch, ctx, batch_id, loaded),
            )
            loaded.add(batch_id)
            bar.advance()
    return results


def extract_batch(
    ctx: Context,
    *,
    tables: list[str] | None = None,
    full: bool = False,
    dry_run: bool = False,
) -> ExtractResult:
    """Extract a new batch, repeating the whole extract after a transient database fault
    (nothing is committed before its manifest, so a repeat is safe)."""
    from ainsdale_etl.extract.extract import extract

    return retrying(
        lambda: extract(
            ctx.source,
            ctx.ingest,
            tables=tables,
            full=full,
            lookback_seconds=ctx.settings.extract_lookback_seconds,
            dry_run=dry_run,
            reporter=ctx.reporter,
            workers=ctx.settings.workers,
            before_commit=ctx.lock_check,
        ),
        what="extract",
        policy=ctx.retry_policy,
        on_retry=lambda message: ctx.reporter.warning(message, step="extract"),
    )


@dataclass
class RunSummary:
    """What one run-all did: the extract (None for a backfill) and the rows each batch merged."""

    extracted: ExtractResult | None = None
    transformed: list[str] = field(default_factory=list)
    loaded: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def loaded_rows(self) -> dict[str, int]:
        """Rows merged per star table, over every batch loaded."""
        totals: dict[str, int] = {}
        for tables in self.loaded.values():
            for name, rows in tables.items():
                totals[name] = totals.get(name, 0) + rows
        return totals


def run_all(
    ctx: Context,
    *,
    tables: list[str] | None = None,
    full: bool = False,
    batch_ids: list[str] | None = None,
    force: bool = False,
) -> RunSummary:
    """Extract, then transform and load every pending batch; with ``batch_ids``, redo those
    batches instead (backfill / repair) and extract nothing."""
    summary = RunSummary()
    if batch_ids is None:
        summary.extracted = extract_batch(ctx, tables=tables, full=full)
    # A new batch is loaded while it is transformed; a backfill goes step by step.
    loads: dict[str, dict[str, int]] | None = {} if batch_ids is None else None
    try:
        summary.transformed = transform_pending(ctx, batch_ids, loads=loads, force=force)
    except BadInputError:
        if batch_ids is None:
            # The batches before the one that stopped the transform are ready: load them
            # (only later batches wait behind a quarantined one), then report the stop.
            summary.loaded = load_pending(ctx, None, force=force)
        raise
    summary.loaded = (loads or {}) | load_pending(ctx, batch_ids, force=force)
    return summary

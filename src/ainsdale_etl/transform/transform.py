"""Transform: a batch's CSV objects into the star tables, as Parquet committed by a manifest.

This is the imperative shell around :mod:`ainsdale_etl.transform.star`: it downloads and checks
the batch's objects, types them (:mod:`.contracts`), hands the frames to the pure builders,
and writes what they return to the processed bucket.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ainsdale_etl.core.batches import (
    Manifest,
    TableEntry,
    check_object_keys,
    fetch_checked,
    object_key,
    parse_batch_id,
    read_manifest,
    readable,
    rewrite_extension,
    sha256_file,
    write_manifest,
)
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.events import Reporter, counted, rate
from ainsdale_etl.core.registry import SCHEMA_VERSION, SOURCE_TABLES, STAR_TABLES
from ainsdale_etl.transform.notices import (
    FUTURE_SLACK,
    report_future_dated,
    report_star_notices,
)
from ainsdale_etl.transform.state import current_key, read_current

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

    import polars as pl

    from ainsdale_etl.core.storage import Storage

T = TypeVar("T")
R = TypeVar("R")
CHUNK_BYTES = 8 << 20  # CSV read, checked, built and written at a time by transform
# zstd level 1: as small as the default level 3 on these tables, and twice as fast to write.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 1}
# In every Parquet object's key-value metadata: the registry version that wrote it.
PARQUET_METADATA = {"ainsdale_etl.schema_version": str(SCHEMA_VERSION)}


def _put_parquet(storage: Storage, key: str, frame: pl.DataFrame, tmp: Path) -> TableEntry:
    path = tmp / key.replace("/", "_")
    frame.write_parquet(path, metadata=PARQUET_METADATA, **PARQUET_OPTIONS)
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
    ingest: Storage,
    batch_id: str,
    entry: TableEntry,
    name: str,
    tmp: Path,
    warn: Callable[[str], None],
    future: dict[str, tuple[int, datetime]],
    exclude: Collection[int] = (),
) -> Iterator[pl.DataFrame]:
    """One table of an extracted batch, downloaded, checked and typed a chunk at a time.

    Rows dated in the future are loaded like any other (they exist); ``future[name]`` gets
    their count and the furthest ``last_updated``, for a warning.
    """
    import polars as pl

    from ainsdale_etl.transform.contracts import read_source_csv

    path = fetch_checked(ingest, batch_id, entry, tmp)
    rows, ahead, furthest, left_out = 0, 0, None, [0]
    limit = parse_batch_id(batch_id).replace(tzinfo=None) + FUTURE_SLACK
    for chunk in read_source_csv(
        path,
        SOURCE_TABLES[name],
        where=f"batch {batch_id}: {entry.key}",
        warn=warn,
        block_bytes=CHUNK_BYTES,
        exclude=exclude,
        excluded=lambda n: left_out.__setitem__(0, left_out[0] + n),
    ):
        rows += chunk.height
        late = chunk.select(
            (pl.col("last_updated") > limit).sum().alias("n"), pl.col("last_updated").max()
        ).row(0)
        if late[0]:
            ahead, furthest = ahead + late[0], max(filter(None, (furthest, late[1])))
        yield chunk
    path.unlink()
    if ahead and furthest is not None:
        future[name] = (ahead, furthest)
    if rows + left_out[0] != entry.rows:
        raise BadInputError(
            f"batch {batch_id}: {entry.key} holds {counted(rows)}, its manifest says {entry.rows:,}"
        )


def _stream_star(
    batch_id: str, source: str, chunks: Iterable[pl.DataFrame], out: Path
) -> _Streamed | None:
    """The row-wise star table of ``source`` built chunk by chunk into the Parquet file ``out``;
    None if an id of a dimension came in two chunks (it must then be built from all rows)."""
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
                schema = arrow.schema.with_metadata(PARQUET_METADATA)
                writer = pq.ParquetWriter(out, schema, use_dictionary=False, **PARQUET_OPTIONS)
            writer.write_table(arrow)
            rows += built.height
    finally:
        if writer is not None:
            writer.close()
    if len(ids) > 1 and _any_repeated(ids):
        return None
    return _Streamed(TableEntry(rows=rows), dates, time.perf_counter() - started)


def _any_repeated(ids: list[pl.Series]) -> bool:
    """Whether an id occurs twice across the chunks: sorted in place by numpy, where polars'
    hash of 7.8M ids (scale 500's dim_transaction) took 550 MB and 0.6 s, this takes 40 MB
    and 0.03 s."""
    import numpy as np

    values = np.concatenate([s.to_numpy() for s in ids])
    values.sort()
    return bool((values[1:] == values[:-1]).any())


def transform_batch(
    ingest: Storage,
    processed: Storage,
    batch_id: str,
    reporter: Reporter,
    *,
    workers: int = 2,
    before_commit: Callable[[], None] = lambda: None,
    exclude: Mapping[str, Collection[int]] | None = None,
) -> Manifest:
    """Build a batch's star tables as Parquet in the processed bucket, committed by a manifest.

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
    from ainsdale_etl.transform.star.current import live

    started = time.perf_counter()
    manifest = check_object_keys(readable(read_manifest(ingest, batch_id)))
    for name in (n for n in manifest.tables if n not in SOURCE_TABLES):
        reporter.warning(f"batch {batch_id}: ignoring unknown table {name}", batch_id=batch_id)
    warnings: list[str] = []  # reported from this thread, not from the workers
    extension = rewrite_extension(processed, batch_id, "parquet")
    future: dict[str, tuple[int, datetime]] = {}

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)

        entries = {n: e for n, e in manifest.tables.items() if n in SOURCE_TABLES and e.rows}

        def chunks(name: str) -> Iterator[pl.DataFrame]:
            left_out = (exclude or {}).get(name, ())
            return _source_chunks(
                ingest, batch_id, entries[name], name, tmp, warnings.append, future, left_out
            )

        def read(name: str) -> pl.DataFrame | _Streamed:
            if name not in ROW_WISE:
                return pl.concat(chunks(name))
            out = tmp / f"{ROW_WISE[name][0]}.parquet"
            streamed = _stream_star(batch_id, name, chunks(name), out)
            if streamed is None:  # an id in two chunks: keep its latest version over all rows
                streamed = _stream_star(batch_id, name, [pl.concat(chunks(name))], out)
            assert streamed is not None
            key = object_key(batch_id, ROW_WISE[name][0], extension)
            streamed.entry = TableEntry(key=key, rows=streamed.entry.rows, sha256=sha256_file(out))
            processed.put_file(key, out)
            out.unlink()  # never written again: a local bucket may hold it as a hard link
            return streamed

        try:
            by_size = sorted(entries, key=lambda n: entries[n].rows)
            results = _map_concurrently(read, by_size, workers)
        finally:
            for message in warnings:
                reporter.warning(message, batch_id=batch_id, step="transform")
            report_future_dated(reporter, batch_id, future)
        changes = {n: r for n, r in results.items() if isinstance(r, pl.DataFrame)}
        streamed = {ROW_WISE[n][0]: r for n, r in results.items() if isinstance(r, _Streamed)}
        deleted = {n: manifest.tables[n].deleted for n in JOINED_SOURCES if n in manifest.tables}
        current = {
            name: merge_current(
                read_current(processed, name),
                changes.get(name, empty_source(name)),
                name,
                batch_id,
                deleted.get(name, ()),
            )
            for name in JOINED_SOURCES
        }
        star = _in_batch(batch_id, build_dimensions, changes, current)
        report_star_notices(
            reporter, batch_id, star, changes, {n: live(c) for n, c in current.items()}
        )
        star["dim_date"] = build_dim_date(
            pl.Series("date", [d for s in streamed.values() for d in s.dates], dtype=pl.Date)
        )
        seconds: dict[str, float] = {n: s.seconds for n, s in streamed.items()}

        def put(name: str) -> TableEntry:
            table_started = time.perf_counter()
            entry = _put_parquet(processed, object_key(batch_id, name, extension), star[name], tmp)
            seconds[name] = time.perf_counter() - table_started

            return entry

        written = [n for n in sorted(star, key=lambda n: -star[n].height) if star[n].height]
        out = _map_concurrently(put, written, workers)
        out |= {n: s.entry for n, s in streamed.items() if s.entry.rows}
        for name in STAR_TABLES:
            if name in out:
                reporter.event(
                    "table_transformed",
                    step="transform",
                    batch_id=batch_id,
                    table=name,
                    **rate(out[name].rows, seconds[name]),
                )
        # The current state is written before the manifest; merging is idempotent, so a crash
        # here followed by a rerun of this batch gives the same state.
        for name in JOINED_SOURCES:
            if name in changes or deleted.get(name):
                _put_parquet(processed, current_key(name), current[name], tmp)
    transformed = Manifest(
        batch_id=batch_id,
        stage="transform",
        created_at=datetime.now().astimezone().isoformat(),
        full=manifest.full,
        source_batch_id=batch_id,
        tables={name: out[name] for name in STAR_TABLES if name in out},
        superseded={name: sorted(ids) for name, ids in (exclude or {}).items() if ids},
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

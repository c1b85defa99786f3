"""Data contracts: a batch's CSV checked against the source schema and parsed to exact types.

Pure functions of bytes and frames. A missing column, a value of the wrong type or a NULL in a
NOT NULL column is a :class:`BadInputError` naming the object, column, row id and value; an
unexpected extra column is reported and ignored.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import polars as pl

from ainsdale_etl.core.errors import BadInputError, BadRowError
from ainsdale_etl.core.events import plural
from ainsdale_etl.core.registry import Kind, SourceTable

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
_MONEY = r"^-?\d{1,8}(\.\d{1,2})?$"
# timestamp(3) as PostgreSQL prints it: trailing zeros of the milliseconds dropped, or no fraction.
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,3})?$"

_DTYPES: dict[Kind, pl.DataType] = {
    Kind.INT: pl.Int32(),
    Kind.TEXT: pl.String(),
    Kind.ENUM: pl.String(),
    Kind.DATE_TEXT: pl.String(),  # checked here, turned into dates by the star builders
    Kind.MONEY: pl.Decimal(10, 2),
    Kind.BOOL: pl.Boolean(),
    Kind.TIMESTAMP: pl.Datetime("ms"),
}


_DESCRIPTIONS: dict[Kind, str] = {
    Kind.INT: "integer",
    Kind.MONEY: "amount with at most 2 decimals",
    Kind.TIMESTAMP: "timestamp",
    Kind.DATE_TEXT: "YYYY-MM-DD date",
    Kind.BOOL: "boolean",
}


def parse_timestamps(text: pl.Series) -> pl.Series:
    """'YYYY-MM-DD HH:MM:SS[.fff]' as millisecond datetimes; any other value becomes null.

    Arrow's ISO 8601 cast is 2-2.5x faster than polars' strptime, but it accepts shapes
    we must not (a bare date, a 'T') and fails whole on one bad value: so the values are first
    held to the one shape, and a column the cast refuses is parsed value by value instead.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    shaped = pl.select(pl.when(text.str.contains(_TIMESTAMP)).then(text)).to_series()
    try:
        parsed = pl.from_arrow(pc.cast(shaped.to_arrow(), pa.timestamp("ms")))
    except pa.ArrowInvalid:  # e.g. month 13: find the value below, row by row
        return shaped.str.strptime(pl.Datetime("ms"), TIMESTAMP_FORMAT, strict=False)
    assert isinstance(parsed, pl.Series)
    return parsed.alias(text.name)


def _converter(kind: Kind) -> Callable[[pl.Expr], pl.Expr]:
    if kind is Kind.TIMESTAMP:
        return lambda e: e.map_batches(parse_timestamps, return_dtype=pl.Datetime("ms"))
    if kind is Kind.BOOL:
        return lambda e: e.str.to_lowercase().replace_strict(
            {"true": True, "false": False, "t": True, "f": False},
            default=None,
            return_dtype=pl.Boolean,
        )
    if kind is Kind.DATE_TEXT:
        # Kept as text (the star builders split it), but only a real YYYY-MM-DD passes here,
        # where the object is known and can be named.
        return lambda e: pl.when(
            e.str.contains(r"^\d{4}-\d{2}-\d{2}$")
            & e.str.strptime(pl.Date, "%Y-%m-%d", strict=False).is_not_null()
        ).then(e)
    if kind is Kind.MONEY:
        # numeric(10,2) exactly: a cast alone would truncate '12.345' or accept '1e3'.
        return lambda e: pl.when(e.str.contains(_MONEY)).then(
            e.cast(pl.Decimal(10, 2), strict=False)
        )
    dtype = _DTYPES[kind]
    return lambda e: e.cast(dtype, strict=False)


def source_schema(table: SourceTable) -> dict[str, pl.DataType]:
    return {c.name: _DTYPES[c.kind] for c in table.columns}


def parse_source_csv(
    data: bytes, table: SourceTable, *, where: str, warn: Callable[[str], None] = lambda _: None
) -> pl.DataFrame:
    """The rows of one extracted CSV object, typed as the source declares them."""
    return pl.concat(read_source_csv(data, table, where=where, warn=warn))


@contextmanager
def _readable(where: str) -> Iterator[None]:
    try:
        yield
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{where}: not a readable CSV file ({first})") from None


def record_blocks(stream: BinaryIO, block_bytes: int) -> Iterator[bytes]:
    """``stream`` (seekable) in pieces of about ``block_bytes`` that each end at the end of a
    CSV record.

    A newline ends a record unless it lies inside a quoted field, which is exactly when an odd
    number of quote characters precede it (an escaped quote is two). After each piece the stream
    is moved back to the start of the next record, so nothing is copied twice. A record longer
    than a block makes that block grow. The first piece is at least the header line.
    """
    odd_quotes = False  # before the stream's position
    size = block_bytes
    while block := stream.read(size):
        if len(block) < size:  # the rest of the stream
            yield block
            return
        cut = block.rfind(b"\n")
        quoted = b'"' in block
        while quoted and cut >= 0 and (odd_quotes + block.count(b'"', 0, cut)) % 2:
            cut = block.rfind(b"\n", 0, cut)
        stream.seek(cut + 1 - len(block), io.SEEK_CUR)
        if cut < 0:
            size *= 2
            continue
        if quoted:
            odd_quotes = bool((odd_quotes + block.count(b'"', 0, cut + 1)) % 2)
        size = block_bytes
        yield block[: cut + 1]


def read_source_csv(
    source: Path | bytes,
    table: SourceTable,
    *,
    where: str,
    warn: Callable[[str], None] = lambda _: None,
    block_bytes: int = 1 << 62,
    exclude: Collection[int] = (),
    excluded: Callable[[int], None] = lambda _: None,
) -> Iterator[pl.DataFrame]:
    """The rows of one extracted CSV object (a file, or its bytes), typed as the source declares
    them, a block of about ``block_bytes`` at a time: a large object is never in memory whole.
    The first frame always comes, empty for a header-only object. Rows whose id is in
    ``exclude`` are left out before they are typed, and counted to ``excluded``."""
    with source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as stream:
        blocks = record_blocks(stream, block_bytes)
        with _readable(where):
            raw = pl.read_csv(next(blocks, b""), infer_schema=False)
        header = raw.columns
        missing = [c for c in table.column_names if c not in header]
        if missing:
            raise BadInputError(
                f"{where}: {plural('column', len(missing))} {', '.join(missing)} missing from the "
                f"header; expected {', '.join(table.column_names)}"
            )
        extra = [c for c in header if c not in table.column_names]
        if extra:
            warn(f"{where}: ignoring unexpected {plural('column', len(extra))} {', '.join(extra)}")
        while True:
            rows = raw.select(table.column_names)
            if exclude:  # versions superseded by later batches (see pipeline/supersede.py)
                dropped = pl.Series([str(i) for i in exclude], dtype=pl.String)
                kept = rows.filter(~pl.col(table.id_column).is_in(dropped.implode()))
                excluded(rows.height - kept.height)
                rows = kept
            yield typed_source_frame(rows, table, where=where)
            block = next(blocks, None)
            if block is None:
                return
            with _readable(where):
                raw = pl.read_csv(block, has_header=False, new_columns=header, infer_schema=False)


def typed_source_frame(raw: pl.DataFrame, table: SourceTable, *, where: str) -> pl.DataFrame:
    """``raw`` (the text of ``table``'s columns) converted to their types, every value checked."""
    typed = raw.select(_converter(c.kind)(pl.col(c.name)).alias(c.name) for c in table.columns)
    for column in table.columns:
        parsed, text = typed[column.name], raw[column.name]
        # Only a value that fails to convert turns a non-null into a null, so equal null counts
        # (kept by Arrow, free to read) prove a column clean without scanning it.
        if parsed.null_count() != text.null_count():
            row = raw.filter(parsed.is_null() & text.is_not_null()).row(0, named=True)
            raise BadRowError(
                f"{where}: column {column.name} of row {table.id_column}={row[table.id_column]} "
                f"holds {row[column.name]!r}, which is not a valid "
                f"{_DESCRIPTIONS.get(column.kind, column.kind.value)}",
                table=table.name,
                row_id=row[table.id_column],
            )
        if not column.nullable and parsed.null_count():
            row = raw.filter(parsed.is_null()).row(0, named=True)
            raise BadRowError(
                f"{where}: column {column.name} is NULL in row "
                f"{table.id_column}={row[table.id_column]}, but the source declares it NOT NULL",
                table=table.name,
                row_id=row[table.id_column],
            )
    return typed

"""Data contracts: a batch's CSV checked against the source schema and parsed to exact types.

Pure functions of bytes and frames. A missing column, a value of the wrong type or a NULL in a
NOT NULL column is a :class:`BadInputError` naming the object, column, row id and value; an
unexpected extra column is reported and ignored.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import polars as pl

from ainsdale_etl.errors import BadInputError
from ainsdale_etl.schema import Kind, SourceTable

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
_MONEY = r"^-?\d{1,8}(\.\d{1,2})?$"

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


def _converter(kind: Kind) -> Callable[[pl.Expr], pl.Expr]:
    if kind is Kind.TIMESTAMP:
        return lambda e: e.str.strptime(pl.Datetime("ms"), TIMESTAMP_FORMAT, strict=False)
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
    try:
        raw = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{where}: not a readable CSV file ({first})") from None
    missing = [c for c in table.column_names if c not in raw.columns]
    if missing:
        raise BadInputError(
            f"{where}: column(s) {', '.join(missing)} missing from the header; "
            f"expected {', '.join(table.column_names)}"
        )
    extra = [c for c in raw.columns if c not in table.column_names]
    if extra:
        warn(f"{where}: ignoring unexpected column(s) {', '.join(extra)}")
    raw = raw.select(table.column_names)
    typed = raw.select(_converter(c.kind)(pl.col(c.name)).alias(c.name) for c in table.columns)
    for column in table.columns:
        bad = typed[column.name].is_null() & raw[column.name].is_not_null()
        if bad.any():
            row = raw.filter(bad).row(0, named=True)
            raise BadInputError(
                f"{where}: column {column.name} of row {table.id_column}={row[table.id_column]} "
                f"holds {row[column.name]!r}, which is not a valid "
                f"{_DESCRIPTIONS.get(column.kind, column.kind.value)}"
            )
        if not column.nullable and typed[column.name].null_count():
            row = raw.filter(typed[column.name].is_null()).row(0, named=True)
            raise BadInputError(
                f"{where}: column {column.name} is NULL in row "
                f"{table.id_column}={row[table.id_column]}, but the source declares it NOT NULL"
            )
    return typed

"""Star rows in the warehouse's exact shape: the registry's columns, in order, with its types."""

from __future__ import annotations

import polars as pl

from ainsdale_etl.core.errors import BadRowError
from ainsdale_etl.core.registry import SOURCE_TABLES, STAR_TABLES, StarTable

_POLARS_TYPES: dict[str, pl.DataType] = {
    "integer": pl.Int32(),
    "varchar": pl.String(),
    "numeric(10,2)": pl.Decimal(10, 2),
    "date": pl.Date(),
    "time": pl.Time(),
    "boolean": pl.Boolean(),
}


def star_schema(table: StarTable) -> dict[str, pl.DataType]:
    return {c.name: _POLARS_TYPES[c.sql_type] for c in table.columns}


def empty_source(name: str) -> pl.DataFrame:
    from ainsdale_etl.transform.contracts import source_schema

    return pl.DataFrame(schema=source_schema(SOURCE_TABLES[name]))


def conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """``frame`` with exactly the columns of star table ``table``, in order, with its types,
    checked against the warehouse's constraints: nothing reaches the load that its DDL would
    refuse with a raw integrity error (types and precision are the contracts' and the casts'
    to keep; NOT NULL is checked here, where the row can be named)."""
    star = STAR_TABLES[table]
    schema = star_schema(star)
    conformed = frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
    for column in star.columns:
        if not column.nullable and conformed[column.name].null_count():
            key = star.key[0]
            row = conformed.filter(pl.col(column.name).is_null()).row(0, named=True)
            raise BadRowError(
                f"{table}: column {column.name} of row {key}={row[key]} would be NULL, which "
                "the warehouse refuses; fix the source row it comes from",
                table=star.sources[0] if star.sources else table,
                row_id=row[key],
            )
    return conformed


def parse_text_dates(frame: pl.DataFrame, table: str, columns: list[str]) -> pl.DataFrame:
    """Text 'YYYY-MM-DD' columns as dates; anything else is an error naming the row."""
    id_column = SOURCE_TABLES[table].id_column
    parsed = frame.with_columns(
        pl.when(pl.col(c).str.contains(r"^\d{4}-\d{2}-\d{2}$"))
        .then(pl.col(c).str.strptime(pl.Date, "%Y-%m-%d", strict=False, cache=False))
        .alias(c)
        for c in columns
    )
    for c in columns:
        if parsed[c].null_count() == frame[c].null_count():  # nothing failed to parse
            continue
        row = frame.filter(parsed[c].is_null() & frame[c].is_not_null()).row(0, named=True)
        raise BadRowError(
            f"{table}: column {c} of row {id_column}={row[id_column]} holds {row[c]!r}, "
            "which is not a YYYY-MM-DD date",
            table=table,
            row_id=row[id_column],
        )
    return parsed

"""A star table's Parquet object checked against the registry before any of it is loaded.

An object of another shape (another table's, an older release's, one edited by hand) would
otherwise fail deep in SQL (``integer = text``), naming no batch or table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import object_of
from ainsdale_etl.core.errors import BadInputError
from ainsdale_etl.core.registry import STAR_TABLES

if TYPE_CHECKING:
    import pyarrow as pa


def _arrow_kinds() -> dict[str, Callable[[pa.DataType], bool]]:
    """Each registry SQL type's Arrow types, by family: the writer's width may vary."""
    import pyarrow as pa

    def text(t: pa.DataType) -> bool:
        return bool(pa.types.is_string(t) or pa.types.is_large_string(t)) or str(t) == "string_view"

    return {
        "integer": pa.types.is_integer,
        "varchar": text,
        "numeric(10,2)": lambda t: pa.types.is_decimal(t) and t.scale == 2,
        "date": pa.types.is_date,
        "time": pa.types.is_time,
        "boolean": pa.types.is_boolean,
    }


def check_star_schema(batch_id: str, key: str, schema: pa.Schema) -> None:
    """Refuse a Parquet object whose columns are not the registry's for the table its key
    names: each column present, of its type (a column of nulls fits any)."""
    import pyarrow as pa

    named = object_of(key)
    table = STAR_TABLES.get(named[1]) if named else None
    where = f"batch {batch_id}: table {named[1] if named else '?'}: object {key}"
    if table is None:
        raise BadInputError(f"{where} is not named for a star table; the manifest was altered")
    kinds = _arrow_kinds()
    problems = []
    for column in table.columns:
        index = schema.get_field_index(column.name)
        if index < 0:
            problems.append(f"{column.name} missing")
            continue
        found = schema.field(index).type
        if not (pa.types.is_null(found) or kinds[column.sql_type](found)):
            problems.append(f"{column.name} is {found}, not {column.sql_type}")
    if problems:
        raise BadInputError(
            f"{where} is not of the table's schema ({'; '.join(problems)}); nothing was "
            "loaded: re-run the transform of this batch"
        )

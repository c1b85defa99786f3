"""The lake's tables as Iceberg declares them, from the schema registry (never inferred).

Money stays exact: numeric(10,2) is Iceberg decimal(10,2), as in the warehouse. Facts carry the
warehouse's surrogate key too, so a reader can tell versions apart and the lake can tell which
versions it already holds.

Facts are partitioned by **year** of ``created_date`` (the column analysts filter by), and each
file is written sorted by it, so a query on a month reads that year's files and, in them, only
the row groups of that month. Not by month: a batch's versions are of orders created any time
(an update to an old order keeps its creation date), so monthly partitions made each
incremental batch write one tiny file per month of history (37 at the seed's three years):
measured at scale 10, 0.14 s a commit against 0.03 s by year, and ten times the files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.core.registry import (
    BIGINT,
    BOOL,
    DATE,
    INT,
    MONEY,
    TEXT,
    TIME,
    TIMESTAMPTZ,
    StarTable,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.types import PrimitiveType

BATCH_PROPERTY = "ainsdale.batch_id"  # in each snapshot's summary: the batch it holds
PARTITION_COLUMN = "created_date"
PARTITION_NAME = "created_year"


def lake_columns(table: StarTable) -> list[str]:
    """The columns of ``table`` in the lake: a fact's surrogate key first, then the spec's."""
    return [*([table.surrogate_key] if table.surrogate_key else []), *table.column_names]


def _iceberg_type(sql_type: str) -> PrimitiveType:
    from pyiceberg.types import (
        BooleanType,
        DateType,
        DecimalType,
        IntegerType,
        LongType,
        StringType,
        TimestamptzType,
        TimeType,
    )

    types: dict[str, PrimitiveType] = {
        INT: IntegerType(),
        TEXT: StringType(),
        MONEY: DecimalType(10, 2),
        DATE: DateType(),
        TIME: TimeType(),
        BOOL: BooleanType(),
        BIGINT: LongType(),
        TIMESTAMPTZ: TimestamptzType(),
    }
    return types[sql_type]


def iceberg_schema(table: StarTable) -> Schema:
    """The Iceberg schema of a star table: the registry's types and nullability, the key as
    identifier fields (what Iceberg engines upsert on)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import IntegerType, NestedField

    fields = []
    if table.surrogate_key:
        fields.append(NestedField(1, table.surrogate_key, IntegerType(), required=True))
    for column in table.columns:
        fields.append(
            NestedField(
                len(fields) + 1,
                column.name,
                _iceberg_type(column.sql_type),
                required=not column.nullable,
            )
        )
    key = [table.surrogate_key] if table.surrogate_key else list(table.key)
    ids = [f.field_id for f in fields if f.name in key]
    return Schema(*fields, identifier_field_ids=ids)


def partition_spec(table: StarTable, schema: Schema) -> PartitionSpec:
    """Facts by year of creation; dimensions (small, read whole) unpartitioned."""
    from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
    from pyiceberg.transforms import YearTransform

    if not table.is_fact:
        return UNPARTITIONED_PARTITION_SPEC
    source = schema.find_field(PARTITION_COLUMN)
    return PartitionSpec(
        PartitionField(
            source_id=source.field_id,
            field_id=1000,
            transform=YearTransform(),
            name=PARTITION_NAME,
        )
    )


def as_lake_rows(table: StarTable, rows: pa.Table, schema: Schema) -> pa.Table:
    """Warehouse rows (any column order, ADBC's types) cast to the lake's Arrow schema; a
    fact's sorted by creation date (see the module's docstring)."""
    arrow = schema.as_arrow()
    cast = rows.select(lake_columns(table)).cast(arrow)
    return cast.sort_by(PARTITION_COLUMN) if table.is_fact else cast

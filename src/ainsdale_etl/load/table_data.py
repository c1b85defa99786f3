"""A batch's star tables as the load reads them: Parquet objects, checked, streamed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import TableEntry, fetch_checked
from ainsdale_etl.core.errors import BadInputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import pyarrow as pa

    from ainsdale_etl.core.storage import Storage

PARQUET_READ_ROWS = 65_536  # rows per record batch streamed from Parquet into the warehouse


@dataclass(frozen=True)
class TableData:
    """One star table of a batch, streamed: its row count and a reader of its record batches
    (read once, so a whole table never has to sit in memory)."""

    rows: int
    reader: pa.RecordBatchReader
    sha256: str = ""  # of the object the rows are read from, in its order ("" if unknown)

    def with_reader(self, reader: pa.RecordBatchReader) -> TableData:
        return replace(self, reader=reader)

    def only(self, columns: list[str]) -> TableData:
        """The same rows with just ``columns`` (a copy straight into a table takes its columns,
        not the versions that ride along for the merge)."""
        import pyarrow as pa

        if self.reader.schema.names == columns:
            return self
        schema = pa.schema([self.reader.schema.field(c) for c in columns])
        batches = (batch.select(columns) for batch in self.reader)
        return self.with_reader(pa.RecordBatchReader.from_batches(schema, batches))

    def numbered(self, column: str, first: int) -> TableData:
        """The same rows with ``column`` in front, numbering them from ``first`` in order (the
        surrogate keys a bulk load gives a fact's rows, see :mod:`.bulk`)."""
        import pyarrow as pa

        schema = pa.schema([pa.field(column, pa.int32(), nullable=False), *self.reader.schema])
        batches = numbered_batches(self.reader, first, schema)
        return self.with_reader(pa.RecordBatchReader.from_batches(schema, batches))


def numbered_batches(
    batches: Iterable[pa.RecordBatch], first: int, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Each batch with a first column of consecutive integers, counting on from ``first``."""
    import numpy as np
    import pyarrow as pa

    for batch in batches:
        keys = pa.array(np.arange(first, first + batch.num_rows, dtype=np.int32))
        yield pa.RecordBatch.from_arrays([keys, *batch.columns], schema=schema)
        first += batch.num_rows


def open_star_table(processed: Storage, batch_id: str, entry: TableEntry, tmp: Path) -> TableData:
    """A star table's Parquet object, downloaded, checked (its checksum, and its schema against
    the registry's: see :mod:`.object_schema`), and opened as a stream of batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ainsdale_etl.load.object_schema import check_star_schema

    path = fetch_checked(processed, batch_id, entry, tmp)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadInputError(
            f"batch {batch_id}: object {entry.key} is not a Parquet file ({exc}); re-run "
            "the transform of this batch"
        ) from None
    check_star_schema(batch_id, entry.key or "", parquet.schema_arrow)
    reader = parquet.iter_batches(batch_size=PARQUET_READ_ROWS)
    return TableData(
        parquet.metadata.num_rows,
        pa.RecordBatchReader.from_batches(parquet.schema_arrow, reader),
        entry.sha256 or "",
    )

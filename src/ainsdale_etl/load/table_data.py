"""A batch's star tables as the load reads them: Parquet objects, checked, streamed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.batches import TableEntry, fetch_checked

if TYPE_CHECKING:
    import pyarrow as pa

    from ainsdale_etl.core.storage import Storage

PARQUET_READ_ROWS = 65_536  # rows per record batch streamed from Parquet into the warehouse


@dataclass(frozen=True)
class TableData:
    """One star table of a batch, streamed: its row count and a reader of its record batches
    (read once, so a whole table never has to sit in memory)."""

    rows: int
    reader: pa.RecordBatchReader

    def only(self, columns: list[str]) -> TableData:
        """The same rows with just ``columns`` (a copy straight into a table takes its columns,
        not the versions that ride along for the merge)."""
        import pyarrow as pa

        if self.reader.schema.names == columns:
            return self
        schema = pa.schema([self.reader.schema.field(c) for c in columns])
        batches = (batch.select(columns) for batch in self.reader)
        return TableData(self.rows, pa.RecordBatchReader.from_batches(schema, batches))


def open_star_table(processed: Storage, batch_id: str, entry: TableEntry, tmp: Path) -> TableData:
    """A star table's Parquet object, downloaded, checked, and opened as a stream of batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(fetch_checked(processed, batch_id, entry, tmp))
    reader = parquet.iter_batches(batch_size=PARQUET_READ_ROWS)
    return TableData(
        parquet.metadata.num_rows, pa.RecordBatchReader.from_batches(parquet.schema_arrow, reader)
    )

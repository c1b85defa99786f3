"""One Iceberg append commit of many chunks: bounded memory, one snapshot per batch.

pyiceberg's ``append`` takes a partitioned table only whole (a streamed reader only for an
unpartitioned one), so millions of rows would sit in memory at once. This writes each chunk's
data files as it comes, with the same function ``append`` uses, and adds them all to one fast
append: one snapshot, with the batch in its summary, exactly as ``append`` would make it.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pyarrow as pa
    from pyiceberg.table import Table


def append_chunks(
    ice: Table,
    chunks: Iterable[pa.Table],
    summary: dict[str, str],
    prepare: Callable[[pa.Table], pa.Table] = lambda chunk: chunk,
    *,
    properties: dict[str, str] | None = None,
    replace: bool = False,
) -> int:
    """Append every chunk (each passed through ``prepare``) in one commit, with the table
    ``properties`` set in the same commit (and, if ``replace``, every row before deleted);
    returns the rows."""
    from pyiceberg.expressions import AlwaysTrue

    # Private, but it is what Transaction.append itself calls: pyproject.toml bounds pyiceberg
    # to the releases it is known in, and tests/test_lake_append_shape.py checks its shape.
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    rows, counter = 0, itertools.count(0)
    with ice.transaction() as tx:
        if replace:
            tx.delete(delete_filter=AlwaysTrue(), snapshot_properties=summary)
        if properties:
            tx.set_properties(properties)
        update = tx.update_snapshot(snapshot_properties=summary)
        with update.fast_append() as append:
            for chunk in chunks:
                prepared = prepare(chunk)
                if not prepared.num_rows:
                    continue
                rows += prepared.num_rows
                for data_file in _dataframe_to_data_files(
                    table_metadata=tx.table_metadata,
                    df=prepared,
                    io=ice.io,
                    write_uuid=append.commit_uuid,
                    counter=counter,
                ):
                    append.append_data_file(data_file)
    return rows

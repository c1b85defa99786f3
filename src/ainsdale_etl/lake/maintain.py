"""Keeping the lake small and fast: compact small files, expire old snapshots, delete the files
no snapshot needs any more (``ainsdale-etl lake maintain``, under the pipeline lock).

pyiceberg has no compaction, so a table's small files are rewritten as one with an overwrite
snapshot, partition by partition for a fact (year by year of ``created_date``, sorted by it),
whole for a dimension. Expiring a snapshot ends time travel to it; what the lake owes is
decided by content (:mod:`.sync`), so nothing is written again for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.registry import LAKE_TABLES
from ainsdale_etl.lake.catalog import LAKE_FOLDER, existing_lake_table, open_catalog
from ainsdale_etl.lake.schema import PARTITION_COLUMN, PARTITION_NAME

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from ainsdale_etl.core.storage import Storage
    from ainsdale_etl.runtime.context import Context

COMPACTED = "ainsdale.compacted"  # in a compaction's snapshot summary, instead of a batch


@dataclass
class Maintained:
    """What maintenance did to one table."""

    files_before: int = 0
    files_after: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0


def _year_bounds(years_since_epoch: int) -> tuple[date, date]:
    return date(1970 + years_since_epoch, 1, 1), date(1971 + years_since_epoch, 1, 1)


def compact(ice: Table, is_fact: bool) -> None:
    """Rewrite each partition (each year of a fact, a dimension whole) held in more than one
    data file as one file, with one overwrite snapshot per partition."""
    files = ice.inspect.files().select(["partition", "file_path"]).to_pylist()
    by_partition: dict[Any, int] = {}
    for f in files:
        year = (f["partition"] or {}).get(PARTITION_NAME) if is_fact else None
        by_partition[year] = by_partition.get(year, 0) + 1
    for year, count in sorted(by_partition.items(), key=lambda kv: (kv[0] is None, kv[0])):
        if count < 2:
            continue
        where = "True"
        if year is not None:
            first, following = _year_bounds(int(year))
            where = f"{PARTITION_COLUMN} >= '{first}' AND {PARTITION_COLUMN} < '{following}'"
        rows = ice.scan(row_filter=where).to_arrow()
        if is_fact:
            rows = rows.sort_by(PARTITION_COLUMN)
        ice.overwrite(rows, overwrite_filter=where, snapshot_properties={COMPACTED: "true"})


def expire(ice: Table, before: datetime) -> int:
    """Expire the snapshots taken before ``before`` (never the current one); returns how many."""
    old = [s for s in ice.metadata.snapshots if s.timestamp_ms < before.timestamp() * 1000]
    if not old:
        return 0
    current = ice.current_snapshot()
    ids = [s.snapshot_id for s in old if current is None or s.snapshot_id != current.snapshot_id]
    if ids:
        ice.maintenance.expire_snapshots().by_ids(ids).commit()
    return len(ids)


def delete_unreferenced(processed: Storage, ice: Table, name: str) -> int:
    """Delete the data files of ``ice`` that no remaining snapshot reads (pyiceberg's expiry
    leaves them); returns how many. Runs under the pipeline lock: no commit is in flight."""
    referenced = {p.rsplit("/", 1)[-1] for p in ice.inspect.all_files()["file_path"].to_pylist()}
    deleted = 0
    for key in processed.list(f"{LAKE_FOLDER}/{name}/data/"):
        if key.endswith(".parquet") and key.rsplit("/", 1)[-1] not in referenced:
            processed.delete(key)
            deleted += 1
    return deleted


def maintain_lake(ctx: Context, *, retention_days: float) -> dict[str, Maintained]:
    """Compact, expire the snapshots older than ``retention_days`` (the latest always stays)
    and clean every lake table; nothing when the lake is off."""
    catalog = open_catalog(ctx.settings, ctx.warehouse)
    if catalog is None:
        return {}
    before = datetime.now(UTC) - timedelta(days=retention_days)
    done: dict[str, Maintained] = {}
    for name, table in LAKE_TABLES.items():
        ice = existing_lake_table(catalog, ctx.settings, table)
        if ice is None:
            continue
        ctx.lock_check()
        result = Maintained(files_before=len(ice.inspect.files()))
        compact(ice, table.is_fact)
        result.snapshots_expired = expire(ice, before)
        result.files_deleted = delete_unreferenced(ctx.processed, ice, name)
        result.files_after = len(ice.inspect.files())
        ctx.reporter.event("lake_table_maintained", step="lake", table=name, **vars(result))
        done[name] = result
    return done

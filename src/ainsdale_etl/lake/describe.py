"""What the lake holds, for people: each table's rows, snapshots, latest batch and the
metadata file an engine without the catalog (DuckDB's ``iceberg_scan``) opens."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ainsdale_etl.core.registry import LAKE_TABLES
from ainsdale_etl.lake.catalog import existing_lake_table, open_catalog
from ainsdale_etl.lake.schema import BATCH_PROPERTY

if TYPE_CHECKING:
    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.core.settings import Settings


@dataclass(frozen=True)
class LakeTable:
    name: str
    rows: int
    snapshots: int
    latest_batch: str | None
    metadata_location: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_lake(settings: Settings, warehouse: Database | None) -> list[LakeTable]:
    """The lake's tables that exist, in the registry's order (none when the lake is off)."""
    catalog = open_catalog(settings, warehouse)
    if catalog is None:
        return []
    found = []
    for name, table in LAKE_TABLES.items():
        ice = existing_lake_table(catalog, settings, table)
        if ice is None:
            continue
        snapshot = ice.current_snapshot()
        summary = snapshot.summary if snapshot is not None else None
        rows = int(summary.get("total-records") or 0) if summary is not None else 0
        latest = summary.additional_properties.get(BATCH_PROPERTY) if summary else None
        snapshots = len(ice.metadata.snapshots)
        found.append(LakeTable(name, rows, snapshots, latest, ice.metadata_location))
    return found


def query_to_try(tables: list[LakeTable]) -> str | None:
    """One DuckDB query on the lake's current sales (with its iceberg extension loaded): the
    current version of each order, not every version (which overstates once orders change)."""
    sales = next((t for t in tables if t.name == "fact_sales_order_current"), None)
    if sales is None:
        return None
    return (
        "SELECT year(created_date) AS year, currency_id, sum(units_sold * unit_price) AS sales "
        f"FROM iceberg_scan('{sales.metadata_location}') GROUP BY ALL ORDER BY ALL"
    )


def duckdb_extensions() -> str | None:
    """Where the ``duckdb-ext-iceberg``/``-avro`` wheels put DuckDB's extensions (None if they
    are not installed): ``SET extension_directory`` there and ``LOAD iceberg`` works offline,
    where ``INSTALL iceberg`` would download."""
    try:
        import duckdb_ext  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    from pathlib import Path

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")

"""Which Iceberg catalog holds the lake, and where its tables' files go.

``AINSDALE_LAKE_CATALOG`` chooses: ``sql`` (the embedded default: pyiceberg's SQL catalog in
the warehouse database itself, schema ``ainsdale_lake``), ``glue`` (production: the Glue
database ``AINSDALE_LAKE_DATABASE``), any pyiceberg catalog URI, or ``none``. Every table lives
under ``<processed bucket>/lake/``: the catalog only says which metadata file is current.

The catalog belongs to the environment, never to the directory a command runs in: the
embedded one lives beside the batch ledger in the warehouse (backed up, restored and replaced
with it, and reached from any machine that reaches the warehouse), and before a table is
written its location is checked to lie under the configured processed bucket, and its
table to belong to this warehouse's environment (:func:`check_owner`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.adapters.postgres import relation_exists
from ainsdale_etl.core.errors import ConfigError, RefusedError
from ainsdale_etl.core.registry import StarTable
from ainsdale_etl.core.storage import parse_bucket_uri
from ainsdale_etl.lake.schema import iceberg_schema, partition_spec
from ainsdale_etl.load.ddl import LAKE_CATALOG_SCHEMA

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.core.settings import Settings
    from ainsdale_etl.core.storage import Storage

CATALOG_NAME = "ainsdale"
LAKE_FOLDER = "lake"
# Target size of a data file (pyiceberg's default is 512 MiB: a Fargate task's whole memory).
TABLE_PROPERTIES = {
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
    "write.parquet.compression-codec": "zstd",
    # Plain encoding: dictionary pages barely shrink these columns (ids, dates, prices) and
    # cost time to build (as in the transform's Parquet). pyiceberg cannot turn them off, but
    # a one-byte limit makes the writer fall back to plain at once: at scale 100, a first
    # load's lake step 2.64 s -> 2.32 s (three runs each) and its files 130 MB -> 106 MB.
    "write.parquet.dict-size-bytes": "1",
    "format-version": "2",
    # Each commit writes a metadata file; keep the last few, not one per batch forever.
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


# On each lake table: the environment (pipeline/binding.py) whose lake it is.
OWNER_PROPERTY = "ainsdale.environment"


def sql_catalog_uri(warehouse: Database) -> str:
    """The SQLAlchemy URI of the embedded catalog: the warehouse, in its lake schema."""
    from urllib.parse import urlsplit, urlunsplit

    url = warehouse.url.get_secret_value()
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(
            "AINSDALE_LAKE_CATALOG=sql keeps the catalog in the warehouse, whose URL must be a "
            "postgresql:// URI; set AINSDALE_WAREHOUSE_URL as one, or choose another catalog"
        )
    extra = f"options=-csearch_path%3D{LAKE_CATALOG_SCHEMA}&connect_timeout=10"
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(scheme="postgresql+psycopg", query=query))


def lake_location(settings: Settings) -> str:
    """``s3://bucket[/prefix]/lake`` or ``file:///folder/lake`` under the processed bucket."""
    uri = settings.processed_uri or str(settings.home / "processed")
    where = parse_bucket_uri(uri)
    if where.bucket:
        return "/".join(p for p in (f"s3://{where.bucket}", where.prefix, LAKE_FOLDER) if p)
    return (Path(where.folder).expanduser().resolve() / LAKE_FOLDER).as_uri()


def lake_files_missing(settings: Settings, warehouse: Database, processed: Storage) -> bool:
    """Whether a table of the embedded catalog has lost its current metadata file (its folder
    removed by hand): asked of the catalog's rows in the warehouse and the bucket, without
    importing the Iceberg stack, so that a run with nothing to load still rebuilds a removed
    lake. Other catalogs are not probed here (``verify`` names such a table; ``lake sync``
    rebuilds it)."""
    if settings.lake_catalog != "sql":
        return False
    table = f"{LAKE_CATALOG_SCHEMA}.iceberg_tables"
    with warehouse.psycopg_connect() as conn:
        if not relation_exists(conn, table):
            return False
        locations = [
            str(r[0])
            for r in conn.execute(
                f"SELECT metadata_location FROM {table} WHERE catalog_name = %s "
                "AND table_namespace = %s",
                [CATALOG_NAME, settings.lake_database],
            ).fetchall()
        ]
    root = lake_location(settings).removesuffix(LAKE_FOLDER)
    for location in locations:
        if not location.startswith(root) or not processed.exists(location.removeprefix(root)):
            return True
    return False


def _io_properties() -> dict[str, str]:
    """pyarrow's S3 file system pointed where boto3 is (moto, MinIO) and in the same region."""
    props = {}
    if endpoint := os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        props["s3.endpoint"] = endpoint
    if region := os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        props["s3.region"] = region
    return props


def open_catalog(settings: Settings, warehouse: Database | None) -> Catalog | None:
    """The lake's catalog, or None when the lake is off. Only the ``sql`` catalog, which lives
    in the warehouse, needs ``warehouse``."""
    if not settings.lake_enabled:
        return None
    # pyiceberg warns of an overwrite that replaces nothing: to the lake, a dimension's new
    # ids. Set once for the process (catch_warnings is not thread-safe; the lake writes
    # tables side by side).
    warnings.filterwarnings(
        "ignore", "Delete operation did not match any records", UserWarning, "pyiceberg"
    )
    kind = settings.lake_catalog
    props = {"warehouse": lake_location(settings), **_io_properties()}
    if kind == "sql":
        from pyiceberg.catalog.sql import SqlCatalog

        if warehouse is None:
            raise ValueError("the sql catalog is in the warehouse: pass it")
        return SqlCatalog(CATALOG_NAME, uri=sql_catalog_uri(warehouse), **props)
    if kind == "glue":
        from pyiceberg.catalog.glue import GlueCatalog

        if endpoint := os.environ.get("AWS_ENDPOINT_URL_GLUE") or os.environ.get(
            "AWS_ENDPOINT_URL"
        ):
            props["glue.endpoint"] = endpoint
        if "s3.region" in props:
            props["glue.region"] = props["s3.region"]
        return GlueCatalog(CATALOG_NAME, **props)
    from pyiceberg.catalog import load_catalog

    try:
        return load_catalog(CATALOG_NAME, uri=kind, **props)
    except ValueError as exc:
        raise ConfigError(f"AINSDALE_LAKE_CATALOG: {exc}") from None


def identifier(settings: Settings, table: StarTable) -> tuple[str, str]:
    return (settings.lake_database, table.name)


def ensure_namespace(catalog: Catalog, settings: Settings) -> None:
    """Make the lake's namespace if it is not there (asked first: in production it is
    Terraform's, and the task may not make one)."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    try:
        catalog.load_namespace_properties(settings.lake_database)
    except NoSuchNamespaceError:
        catalog.create_namespace(settings.lake_database)


def check_owner(settings: Settings, table: StarTable, ice: Table, environment: str | None) -> None:
    """Refuse a table another environment writes: each table carries the id of the
    environment (pipeline/binding.py) that made it, in its properties (Terraform owns a Glue
    database, so the claim is on the tables, which the task may update). Two environments of
    one account sharing a Glue database never write each other's tables."""
    owner = ice.properties.get(OWNER_PROPERTY)
    if environment is not None and owner is not None and owner != environment:
        raise RefusedError(
            f"the lake namespace {settings.lake_database} belongs to another environment "
            f"({owner} wrote {table.name}; this warehouse is {environment}): give each "
            "environment its own AINSDALE_LAKE_DATABASE"
        )


def check_location(settings: Settings, table: StarTable, ice: Table) -> Table:
    """``ice``, if its files live under the configured processed bucket's lake; else refused
    (a catalog that remembers another environment's bucket)."""
    expected = lake_location(settings)
    if not ice.location().rstrip("/").startswith(expected.rstrip("/") + "/"):
        raise RefusedError(
            f"the lake table {settings.lake_database}.{table.name} lives at {ice.location()}, "
            f"not under this environment's lake {expected}: the catalog belongs to another "
            "environment; point AINSDALE_LAKE_CATALOG / AINSDALE_LAKE_DATABASE at this one's"
        )
    return ice


def lake_table(
    catalog: Catalog,
    settings: Settings,
    table: StarTable,
    *,
    environment: str | None = None,
    relocate: bool = False,
) -> tuple[Table, str]:
    """The lake's Iceberg table for ``table``, and how it was found: ``held`` (as it was),
    ``new`` (made for the first time) or ``rebuilt`` (made anew because its metadata is gone,
    its files removed by hand, or, told to ``relocate`` (--rebind), because it lives outside
    this environment's lake; the caller rewrites it from the warehouse). The files of a
    relocated table are left where they are."""
    from pyiceberg.exceptions import NoSuchTableError

    ident = identifier(settings, table)
    how = "new"
    try:
        found = catalog.load_table(ident)
        check_owner(settings, table, found, environment)
        try:
            return check_location(settings, table, found), "held"
        except RefusedError:
            if not relocate:
                raise
            catalog.drop_table(ident)
            how = "rebuilt"
    except NoSuchTableError:
        pass
    except FileNotFoundError:
        catalog.drop_table(ident)  # its registration only: its files are gone already
        how = "rebuilt"
    schema = iceberg_schema(table)
    made = catalog.create_table_if_not_exists(
        ident,
        schema,
        location=f"{lake_location(settings)}/{table.name}",
        partition_spec=partition_spec(table, schema),
        properties=TABLE_PROPERTIES | ({OWNER_PROPERTY: environment} if environment else {}),
    )
    return check_location(settings, table, made), how


def existing_lake_table(catalog: Catalog, settings: Settings, table: StarTable) -> Table | None:
    """The lake's table for ``table`` if it has been made, else None (for readers)."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        return catalog.load_table(identifier(settings, table))
    except (NoSuchTableError, NoSuchNamespaceError):
        return None
    except FileNotFoundError:  # registered, but its metadata is gone: rebuilt by a sync
        return None

"""Which Iceberg catalog holds the lake, and where its tables' files go.

``AINSDALE_LAKE_CATALOG`` chooses: ``sql`` (the embedded default, a SQLite file under
``$AINSDALE_HOME/lake`` in pyiceberg's SQL catalog schema, :mod:`.sqlite_catalog`), ``glue``
(production: the Glue database ``AINSDALE_LAKE_DATABASE``), any pyiceberg catalog URI, or
``none``. Every table lives under ``<processed bucket>/lake/``:
the catalog only says which metadata file is current.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.core.registry import StarTable
from ainsdale_etl.core.storage import parse_bucket_uri
from ainsdale_etl.lake.schema import iceberg_schema, partition_spec

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from ainsdale_etl.core.settings import Settings

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


def embedded_catalog_file(settings: Settings) -> Path:
    """The SQLite file of the ``sql`` catalog."""
    return (settings.home / LAKE_FOLDER).expanduser().resolve() / "catalog.db"


def lake_location(settings: Settings) -> str:
    """``s3://bucket[/prefix]/lake`` or ``file:///folder/lake`` under the processed bucket."""
    uri = settings.processed_uri or str(settings.home / "processed")
    where = parse_bucket_uri(uri)
    if where.bucket:
        return "/".join(p for p in (f"s3://{where.bucket}", where.prefix, LAKE_FOLDER) if p)
    return (Path(where.folder).expanduser().resolve() / LAKE_FOLDER).as_uri()


def _io_properties() -> dict[str, str]:
    """pyarrow's S3 file system pointed where boto3 is (moto, MinIO) and in the same region."""
    props = {}
    if endpoint := os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        props["s3.endpoint"] = endpoint
    if region := os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        props["s3.region"] = region
    return props


# pyiceberg imports these with itself, for what the lake never does: parse a row filter given
# as text (pyparsing: 0.26 s) and read a ~/.pyiceberg.yaml (strictyaml: 0.11 s), together a
# third of its import. Stood in for first (:class:`_OnFirstUse`), they load only when used.
_UNUSED_AT_IMPORT = ("pyiceberg.expressions.parser", "strictyaml")
_LOADING = threading.Lock()


class _OnFirstUse(types.ModuleType):
    """Stands in for a module in ``sys.modules`` until one of its names is first looked up,
    then imports it and hands over. (importlib's LazyLoader will not do: the import system
    reads a module's ``__spec__`` when it is imported again by name, which loads it.)"""

    def __getattr__(self, name: str) -> object:
        with _LOADING:  # only the swap: the import system serialises the import itself
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def defer_unused_imports() -> None:
    """Stand in for the modules pyiceberg imports but the lake does not use (see above)."""
    with _LOADING:
        for name in _UNUSED_AT_IMPORT:
            parent = name.rpartition(".")[0]
            if parent:  # needed anyway, and "import a.b.c as x" looks for a.b
                importlib.import_module(parent)
            sys.modules.setdefault(name, _OnFirstUse(name))


def lake_imports(settings: Settings) -> tuple[str | Callable[[], None], ...]:
    """What the lake step will import (for run-all to import early, in the background:
    pyiceberg takes most of a second), the lazy modules first."""
    if not settings.lake_enabled:
        return ()
    kind = settings.lake_catalog
    catalog = {"sql": "pyiceberg.catalog", "glue": "pyiceberg.catalog.glue"}
    modules = ("pyiceberg.table", "pyiceberg.io.pyarrow", catalog.get(kind, "pyiceberg.catalog"))
    return (defer_unused_imports, *modules)


def open_catalog(settings: Settings) -> Catalog | None:
    """The lake's catalog, or None when the lake is off."""
    if not settings.lake_enabled:
        return None
    # pyiceberg warns of an overwrite that replaces nothing: to the lake, a dimension's new
    # ids. Set once for the process (catch_warnings is not thread-safe; the lake writes
    # tables side by side).
    warnings.filterwarnings(
        "ignore", "Delete operation did not match any records", UserWarning, "pyiceberg"
    )
    defer_unused_imports()
    kind = settings.lake_catalog
    warehouse = lake_location(settings)
    props = {"warehouse": warehouse, **_io_properties()}
    if kind == "sql":
        from ainsdale_etl.lake.sqlite_catalog import SqliteCatalog

        path = embedded_catalog_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteCatalog(CATALOG_NAME, path, **props)
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


def lake_table(catalog: Catalog, settings: Settings, table: StarTable) -> Table:
    """The lake's Iceberg table for ``table``, created (with its namespace) the first time."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    ident = identifier(settings, table)
    try:
        return catalog.load_table(ident)
    except NoSuchTableError:
        pass
    try:  # asked first: in production the database is Terraform's, and the task may not make one
        catalog.load_namespace_properties(settings.lake_database)
    except NoSuchNamespaceError:
        catalog.create_namespace(settings.lake_database)
    schema = iceberg_schema(table)
    return catalog.create_table_if_not_exists(
        ident,
        schema,
        location=f"{lake_location(settings)}/{table.name}",
        partition_spec=partition_spec(table, schema),
        properties=TABLE_PROPERTIES,
    )


def existing_lake_table(catalog: Catalog, settings: Settings, table: StarTable) -> Table | None:
    """The lake's table for ``table`` if it has been made, else None (for readers)."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        return catalog.load_table(identifier(settings, table))
    except (NoSuchTableError, NoSuchNamespaceError):
        return None

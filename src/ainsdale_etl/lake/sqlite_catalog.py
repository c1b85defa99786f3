"""The embedded default's catalog: pyiceberg's SQL catalog schema on the standard library's
sqlite3, so a run does not import SQLAlchemy for it (1.6 s of CPU, five times the lake's own
work in an incremental run).

The file is the one pyiceberg's ``SqlCatalog`` (and Iceberg's JDBC catalog) reads and writes:
the same two tables, the same rows, the same optimistic commit (an UPDATE on the metadata
location it read, which fails if another writer moved it), so analysts open it with
``SqlCatalog(uri="sqlite:///…/catalog.db")`` and other engines with their JDBC catalog.
Views are not supported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyiceberg.catalog import Catalog, MetastoreCatalog, PropertiesUpdateSummary
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.io import load_file_io
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.metadata import new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER

if TYPE_CHECKING:
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table.sorting import SortOrder
    from pyiceberg.table.update import TableRequirement, TableUpdate
    from pyiceberg.typedef import Identifier, Properties

_SCHEMA = """
CREATE TABLE IF NOT EXISTS iceberg_tables (
    catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name));
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
    catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255) NOT NULL, property_value VARCHAR(1000) NOT NULL,
    PRIMARY KEY (catalog_name, namespace, property_key));
"""
_TABLES = "(iceberg_type = 'TABLE' OR iceberg_type IS NULL)"


def _response(table: Any) -> CommitTableResponse:
    # Built by field name, as pyiceberg's own catalogs do; its stubs know only the aliases.
    return CommitTableResponse(metadata=table.metadata, metadata_location=table.metadata_location)  # type: ignore[call-arg]


class SqliteCatalog(MetastoreCatalog):
    """An Iceberg catalog in a SQLite file, compatible with pyiceberg's ``SqlCatalog``."""

    def __init__(self, name: str, path: Path, **properties: str) -> None:
        super().__init__(name, **properties)
        self.path = path
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A transaction on a connection of its own (a commit may come from any of the lake's
        writer threads), committed at the end, closed either way."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    def _split(self, identifier: str | Identifier) -> tuple[str, str]:
        namespace = Catalog.namespace_to_string(Catalog.namespace_from(identifier))
        return namespace, Catalog.table_name_from(identifier)

    def _location(self, identifier: str | Identifier) -> str | None:
        namespace, name = self._split(identifier)
        with self._connect() as db:
            row = db.execute(
                "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? "
                f"AND table_namespace = ? AND table_name = ? AND {_TABLES}",
                (self.name, namespace, name),
            ).fetchone()
        return row[0] if row and row[0] else None

    def load_table(self, identifier: str | Identifier) -> Table:
        location = self._location(identifier)
        if location is None:
            raise NoSuchTableError(f"Table does not exist: {identifier}")
        io = load_file_io(properties=self.properties, location=location)
        metadata = FromInputFile.table_metadata(io.new_input(location))
        namespace, name = self._split(identifier)
        return Table(
            identifier=(*Catalog.identifier_to_tuple(namespace), name),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def create_table(
        self,
        identifier: str | Identifier,
        schema: Schema | Any,
        location: str | None = None,
        partition_spec: PartitionSpec = UNPARTITIONED_PARTITION_SPEC,
        sort_order: SortOrder = UNSORTED_SORT_ORDER,
        properties: Properties | None = None,
    ) -> Table:
        from pyiceberg.table import TableProperties
        from pyiceberg.table.locations import load_location_provider

        properties = dict(properties or {})
        version = int(properties.get(TableProperties.FORMAT_VERSION, 2))
        schema = self._convert_schema_if_needed(schema, version)  # type: ignore[arg-type]
        namespace, name = self._split(identifier)
        if not self.namespace_exists(namespace):
            raise NoSuchNamespaceError(f"Namespace does not exist: {namespace}")
        location = self._resolve_table_location(location, namespace, name)
        provider = load_location_provider(table_location=location, table_properties=properties)
        metadata_location = provider.new_table_metadata_file_location()
        metadata = new_table_metadata(
            location=location,
            schema=schema,
            partition_spec=partition_spec,
            sort_order=sort_order,
            properties=properties,
        )
        io = load_file_io(properties=self.properties, location=metadata_location)
        self._write_metadata(metadata, io, metadata_location)
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO iceberg_tables VALUES (?, ?, ?, ?, NULL, 'TABLE')",
                    (self.name, namespace, name, metadata_location),
                )
        except sqlite3.IntegrityError:
            raise TableAlreadyExistsError(f"Table {namespace}.{name} already exists") from None
        return self.load_table(identifier)

    def commit_table(
        self,
        table: Table,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> CommitTableResponse:
        namespace, name = self._split(table.name())
        try:
            current: Table | None = self.load_table(table.name())
        except NoSuchTableError:
            current = None
        staged = self._update_and_stage_table(current, table.name(), requirements, updates)
        if current is not None and staged.metadata == current.metadata:
            return _response(current)
        self._write_metadata(staged.metadata, staged.io, staged.metadata_location)
        with self._connect() as db:
            if current is None:
                db.execute(
                    "INSERT INTO iceberg_tables VALUES (?, ?, ?, ?, NULL, 'TABLE')",
                    (self.name, namespace, name, staged.metadata_location),
                )
            elif not db.execute(
                "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? "
                "WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? "
                "AND metadata_location = ?",
                (
                    staged.metadata_location,
                    current.metadata_location,
                    self.name,
                    namespace,
                    name,
                    current.metadata_location,
                ),
            ).rowcount:
                raise CommitFailedException(f"Table has been updated by another process: {name}")
        return _response(staged)

    def register_table(
        self, identifier: str | Identifier, metadata_location: str, overwrite: bool = False
    ) -> Table:
        namespace, name = self._split(identifier)
        verb = "INSERT OR REPLACE" if overwrite else "INSERT"
        try:
            with self._connect() as db:
                db.execute(
                    f"{verb} INTO iceberg_tables VALUES (?, ?, ?, ?, NULL, 'TABLE')",
                    (self.name, namespace, name, metadata_location),
                )
        except sqlite3.IntegrityError:
            raise TableAlreadyExistsError(f"Table {namespace}.{name} already exists") from None
        return self.load_table(identifier)

    def drop_table(self, identifier: str | Identifier) -> None:
        namespace, name = self._split(identifier)
        with self._connect() as db:
            gone = db.execute(
                "DELETE FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ? "
                "AND table_name = ?",
                (self.name, namespace, name),
            ).rowcount
        if not gone:
            raise NoSuchTableError(f"Table does not exist: {namespace}.{name}")

    def rename_table(
        self, from_identifier: str | Identifier, to_identifier: str | Identifier
    ) -> Table:
        (old_ns, old), (new_ns, new) = self._split(from_identifier), self._split(to_identifier)
        if not self.namespace_exists(new_ns):
            raise NoSuchNamespaceError(f"Namespace does not exist: {new_ns}")
        try:
            with self._connect() as db:
                moved = db.execute(
                    "UPDATE iceberg_tables SET table_namespace = ?, table_name = ? "
                    "WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?",
                    (new_ns, new, self.name, old_ns, old),
                ).rowcount
        except sqlite3.IntegrityError:
            raise TableAlreadyExistsError(f"Table {new_ns}.{new} already exists") from None
        if not moved:
            raise NoSuchTableError(f"Table does not exist: {old_ns}.{old}")
        return self.load_table(to_identifier)

    def namespace_exists(self, namespace: str | Identifier) -> bool:
        name = Catalog.namespace_to_string(namespace)
        with self._connect() as db:
            found = db.execute(
                "SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ? "
                "AND namespace = ? UNION SELECT 1 FROM iceberg_tables WHERE catalog_name = ? "
                "AND table_namespace = ?",
                (self.name, name, self.name, name),
            ).fetchone()
        return found is not None

    def create_namespace(
        self, namespace: str | Identifier, properties: Properties | None = None
    ) -> None:
        if self.namespace_exists(namespace):
            raise NamespaceAlreadyExistsError(f"Namespace {namespace} already exists")
        name = Catalog.namespace_to_string(namespace, NoSuchNamespaceError)
        with self._connect() as db:
            db.executemany(
                "INSERT INTO iceberg_namespace_properties VALUES (?, ?, ?, ?)",
                [(self.name, name, k, v) for k, v in (properties or {"exists": "true"}).items()],
            )

    def drop_namespace(self, namespace: str | Identifier) -> None:
        if not self.namespace_exists(namespace):
            raise NoSuchNamespaceError(f"Namespace does not exist: {namespace}")
        if self.list_tables(namespace):
            raise NamespaceNotEmptyError(f"Namespace {namespace} is not empty")
        with self._connect() as db:
            db.execute(
                "DELETE FROM iceberg_namespace_properties WHERE catalog_name = ? AND namespace = ?",
                (self.name, Catalog.namespace_to_string(namespace)),
            )

    def list_tables(self, namespace: str | Identifier) -> list[Identifier]:
        name = Catalog.namespace_to_string(namespace)
        with self._connect() as db:
            rows = db.execute(
                "SELECT table_name FROM iceberg_tables WHERE catalog_name = ? "
                f"AND table_namespace = ? AND {_TABLES}",
                (self.name, name),
            ).fetchall()
        return [(*Catalog.identifier_to_tuple(name), r[0]) for r in rows]

    def list_namespaces(self, namespace: str | Identifier = ()) -> list[Identifier]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name = ? "
                "UNION SELECT table_namespace FROM iceberg_tables WHERE catalog_name = ?",
                (self.name, self.name),
            ).fetchall()
        parent = Catalog.identifier_to_tuple(namespace)
        found = {Catalog.identifier_to_tuple(r[0]) for r in rows}
        return sorted(n[: len(parent) + 1] for n in found if n[: len(parent)] == parent)

    def load_namespace_properties(self, namespace: str | Identifier) -> Properties:
        if not self.namespace_exists(namespace):
            raise NoSuchNamespaceError(f"Namespace {namespace} does not exist")
        with self._connect() as db:
            rows = db.execute(
                "SELECT property_key, property_value FROM iceberg_namespace_properties "
                "WHERE catalog_name = ? AND namespace = ?",
                (self.name, Catalog.namespace_to_string(namespace)),
            ).fetchall()
        return dict(rows)

    def update_namespace_properties(
        self,
        namespace: str | Identifier,
        removals: set[str] | None = None,
        updates: Properties | None = None,
    ) -> PropertiesUpdateSummary:
        current = self.load_namespace_properties(namespace)
        summary = self._get_updated_props_and_update_summary(current, removals, updates or {})[0]
        name = Catalog.namespace_to_string(namespace)
        with self._connect() as db:
            db.executemany(
                "DELETE FROM iceberg_namespace_properties WHERE catalog_name = ? "
                "AND namespace = ? AND property_key = ?",
                [(self.name, name, k) for k in summary.removed],
            )
            db.executemany(
                "INSERT OR REPLACE INTO iceberg_namespace_properties VALUES (?, ?, ?, ?)",
                [(self.name, name, k, v) for k, v in (updates or {}).items()],
            )
        return summary

    def list_views(self, namespace: str | Identifier) -> list[Identifier]:
        return []

    def view_exists(self, identifier: str | Identifier) -> bool:
        return False

    def drop_view(self, identifier: str | Identifier) -> None:
        raise NotImplementedError("the lake's SQLite catalog holds no views")

    def load_view(self, identifier: str | Identifier) -> Any:
        raise NotImplementedError("the lake's SQLite catalog holds no views")

    def register_view(self, identifier: str | Identifier, metadata_location: str) -> Any:
        raise NotImplementedError("the lake's SQLite catalog holds no views")

    def create_view(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the lake's SQLite catalog holds no views")

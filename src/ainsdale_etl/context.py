"""The context every command runs in: settings resolved to databases, buckets and a reporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from pydantic import SecretStr

from ainsdale_etl.database import Database
from ainsdale_etl.events import NullReporter, Reporter
from ainsdale_etl.settings import Settings
from ainsdale_etl.storage import Storage, open_storage


@dataclass
class Context:
    settings: Settings
    reporter: Reporter = field(default_factory=NullReporter)

    def _database(self, label: str, url: SecretStr | None, embedded_name: str) -> Database:
        if url is None:
            from ainsdale_etl.embedded import embedded_url

            url = SecretStr(embedded_url(self.settings.home, embedded_name))
        return Database(label, url)

    @cached_property
    def source(self) -> Database:
        from ainsdale_etl.embedded import SOURCE_DATABASE

        return self._database("source", self.settings.source_url, SOURCE_DATABASE)

    @cached_property
    def warehouse(self) -> Database:
        from ainsdale_etl.embedded import WAREHOUSE_DATABASE

        return self._database("warehouse", self.settings.warehouse_url, WAREHOUSE_DATABASE)

    @cached_property
    def ingest(self) -> Storage:
        return open_storage(self.settings.ingest_uri or str(self.settings.home / "ingest"))

    @cached_property
    def processed(self) -> Storage:
        return open_storage(self.settings.processed_uri or str(self.settings.home / "processed"))

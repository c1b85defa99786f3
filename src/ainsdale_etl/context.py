"""The context every command runs in: settings resolved to databases, buckets and a reporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from pydantic import SecretStr

from ainsdale_etl.database import Database
from ainsdale_etl.events import NullReporter, Reporter
from ainsdale_etl.faults import FaultyStorage, faults_armed
from ainsdale_etl.retry import RetryPolicy
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
        return Database(
            label,
            url,
            retry_policy=self.retry_policy,
            on_retry=lambda message: self.reporter.warning(message),
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.settings.db_attempts)

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
        return _bucket(self.settings.ingest_uri or str(self.settings.home / "ingest"))

    @cached_property
    def processed(self) -> Storage:
        return _bucket(self.settings.processed_uri or str(self.settings.home / "processed"))


def _bucket(uri: str) -> Storage:
    storage = open_storage(uri)
    return FaultyStorage(storage) if faults_armed() else storage

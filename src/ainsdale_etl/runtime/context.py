"""The context every command runs in: settings resolved to databases, buckets and a reporter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database, remember_secret_uri
from ainsdale_etl.adapters.sessions import PINNED_SETTINGS, WAREHOUSE_SETTINGS
from ainsdale_etl.adapters.storage import open_storage
from ainsdale_etl.adapters.storage.s3 import encryption_args
from ainsdale_etl.core.events import NullReporter, Reporter
from ainsdale_etl.core.retry import RetryPolicy, database_policy
from ainsdale_etl.core.settings import Settings
from ainsdale_etl.core.storage import Storage
from ainsdale_etl.testing.faults import FaultyStorage, faults_armed


@dataclass
class Context:
    settings: Settings
    reporter: Reporter = field(default_factory=NullReporter)
    # Raises if the run lock was lost; set by whoever takes the lock (see runtime/lock.py).
    lock_check: Callable[[], None] = lambda: None
    # The environment the warehouse is bound to (pipeline/binding.py), once a writing command
    # has checked it: the lake refuses a namespace another environment owns.
    environment_id: str | None = None
    rebound: bool = False  # --rebind: the lake may move its tables to this environment's bucket
    # A command that only reads (batches, verify, check...) uses the embedded default only
    # where a run made it, never making a new, empty one.
    reads_only: bool = False

    def __post_init__(self) -> None:
        # A catalog URI may carry a password (postgresql+psycopg://etl:...@, https://u:p@):
        # masked like the database URLs in every line this process prints, logs or pages.
        if "://" in self.settings.lake_catalog:
            remember_secret_uri(self.settings.lake_catalog)

    def _database(
        self,
        label: str,
        url: SecretStr | None,
        secret_id: str | None,
        embedded_name: str,
        settings: Mapping[str, str] = PINNED_SETTINGS,
    ) -> Database:
        """A URL if set, else the secret it names, else the embedded default."""
        origin = ""
        if url is None and secret_id is not None:
            from ainsdale_etl.adapters.secrets import database_url_from_secret

            sslmode = self.settings.database_sslmode
            url = database_url_from_secret(secret_id, sslmode=sslmode)
            origin = f"secret {secret_id}"
            self._warn_if_unverified(label, url)
        elif url is None:
            from ainsdale_etl.adapters.embedded import embedded_url, require_embedded

            if self.reads_only:
                require_embedded(self.settings.home, label)
            url = SecretStr(embedded_url(self.settings.home, embedded_name))
        from ainsdale_etl.runtime.shutdown import check_stop, pause

        return Database(
            label,
            url,
            origin=origin,
            retry_policy=self.retry_policy,
            on_retry=lambda message: self.reporter.warning(message),
            connect_timeout=self.settings.db_connect_timeout,
            check_stop=check_stop,
            sleep=pause,
            settings=settings,
        )

    def _warn_if_unverified(self, label: str, url: SecretStr) -> None:
        """Say so when an RDS server's identity goes unchecked (no CA bundle at hand)."""
        from urllib.parse import parse_qs, urlsplit

        from ainsdale_etl.adapters.secrets import RDS_CA_BUNDLE, is_rds_host

        parts = urlsplit(url.get_secret_value())
        mode = parse_qs(parts.query).get("sslmode", [""])[0]
        if is_rds_host(parts.hostname or "") and mode not in {"verify-ca", "verify-full"}:
            self.reporter.warning(
                f"the {label} database is on RDS but its server's identity is not verified "
                f"(sslmode={mode}): put the RDS CA bundle at {RDS_CA_BUNDLE} or name it in "
                "PGSSLROOTCERT, for sslmode=verify-full (docs/deploy.md)",
                kind="tls_unverified",
            )

    @property
    def retry_policy(self) -> RetryPolicy:
        return database_policy()

    @cached_property
    def source(self) -> Database:
        from ainsdale_etl.adapters.embedded import SOURCE_DATABASE

        s = self.settings
        return self._database("source", s.source_url, s.source_secret_id, SOURCE_DATABASE)

    @cached_property
    def warehouse(self) -> Database:
        from ainsdale_etl.adapters.embedded import WAREHOUSE_DATABASE

        s = self.settings
        return self._database(
            "warehouse",
            s.warehouse_url,
            s.warehouse_secret_id,
            WAREHOUSE_DATABASE,
            WAREHOUSE_SETTINGS,
        )

    def _storage(self, uri: str | None, default: str) -> Storage:
        encryption = encryption_args(self.settings.s3_sse, self.settings.s3_kms_key_id)
        storage = open_storage(uri or str(self.settings.home / default), encryption=encryption)
        return FaultyStorage(storage) if faults_armed() else storage

    @cached_property
    def ingest(self) -> Storage:
        return self._storage(self.settings.ingest_uri, "ingest")

    @cached_property
    def processed(self) -> Storage:
        return self._storage(self.settings.processed_uri, "processed")

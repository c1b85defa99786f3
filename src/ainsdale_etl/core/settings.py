"""Settings: one pydantic-settings class, read from ``AINSDALE_*`` variables and ``.env``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.core.storage import parse_bucket_uri

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


def postgres_uri_problem(uri: str) -> str | None:
    """What is wrong with a PostgreSQL URI, never echoing any of it; None if nothing."""
    if not uri.startswith(("postgresql://", "postgres://")):
        return "must be a postgresql://user:password@host:port/dbname URI"
    # By structure. libpq ends the authority at the first '/' or '?' and splits it at the
    # first '@': a password holding any of the three would be cut, and its pieces named in
    # libpq's errors as a port, a host or a database.
    rest = uri.split("://", 1)[1]
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if authority.count("@") > 1 or ("@" not in authority and "@" in rest[len(authority) :]):
        return (
            "is malformed: its user:password holds an unencoded '@', '/' or '?' (or an '@' "
            "follows the host); percent-encode them as %40, %2F and %3F"
        )
    return uri_syntax_problem(uri) or _libpq_problem(uri)


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def uri_syntax_problem(uri: str) -> str | None:
    """What makes ``uri`` unparseable (an unclosed ``[``, a bad port or ``%`` escape), never
    echoing any of it; None if nothing."""
    from urllib.parse import urlsplit

    if _BAD_ESCAPE.search(uri):
        return "is malformed: a '%' not followed by two hex digits (write a '%' itself as %25)"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (parsing it is the check)
    except ValueError as exc:
        reason = "an unclosed '[' around an IPv6 host" if "IPv6" in str(exc) else "a bad port"
        return f"is malformed: {reason}"
    return None


def _libpq_problem(uri: str) -> str | None:
    """What libpq itself refuses in a PostgreSQL URI (an unknown query parameter...), in its
    words up to the quote of the URI, which may hold the password."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(uri)
    except ProgrammingError as exc:
        reason, _, quoted = str(exc).partition(":")
        if reason == "invalid URI query parameter":  # the quote is the parameter's name
            return f"has an unknown query parameter {quoted.strip()} (see libpq's parameters)"
        return f"is malformed: {reason.strip()}"
    return None


class AlertSettings(BaseSettings):
    """Where failures are paged and metrics go: read on its own, so that a run whose other
    settings are invalid can still page about it, and count it."""

    model_config = SettingsConfigDict(
        env_prefix="AINSDALE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    alert_topic_arn: str | None = Field(
        default=None, description="SNS topic a failed command publishes to (unset: no alerts)."
    )
    metrics_namespace: str = Field(
        default="ainsdale-etl",
        description="CloudWatch namespace of the metrics embedded in JSON log lines "
        "(empty: no metrics).",
    )


class Settings(AlertSettings):
    """Everything a run needs to know; unset databases and buckets mean the embedded default."""

    source_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URI of totesys (unset: the secret below, else the embedded "
        "default's totesys database).",
    )
    warehouse_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URI of the warehouse (unset: the secret below, else the "
        "embedded default's warehouse database).",
    )
    source_secret_id: str | None = Field(
        None, description="Secrets Manager secret (RDS JSON) for totesys, used without a URL."
    )
    warehouse_secret_id: str | None = Field(
        None, description="Secrets Manager secret (RDS JSON) for the warehouse, used without a URL."
    )
    database_sslmode: SslMode | None = Field(
        None,
        description="libpq sslmode of connections built from a secret; default verify-full "
        "for an RDS host when the RDS CA bundle is at hand (PGSSLROOTCERT, or the image's "
        "/etc/ssl/certs/rds-global-bundle.pem), else require; prefer for localhost and unix "
        "sockets.",
    )
    s3_sse: Literal["AES256", "aws:kms"] | None = Field(
        None, description="Server-side encryption S3 writes ask for (unset: the bucket default)."
    )
    s3_kms_key_id: str | None = Field(
        None, description="KMS key for aws:kms encryption of S3 writes (implies aws:kms)."
    )
    ingest_uri: str | None = Field(
        None,
        description="The ingest bucket, where extracts commit CSV batches: s3://bucket[/prefix] "
        "or a local folder (unset: AINSDALE_HOME/ingest).",
    )
    processed_uri: str | None = Field(
        None,
        description="The processed bucket, where transforms commit Parquet star tables and the "
        "lake lives: s3://bucket[/prefix] or a local folder (unset: AINSDALE_HOME/processed).",
    )
    home: Path = Field(
        Path(".ainsdale"),
        description="Where the embedded default keeps its state: the PostgreSQL server, the "
        "local buckets and the dashboard.",
    )
    log_format: Literal["json", "console"] | None = Field(
        None, description="json (default off a terminal) or console (default on a terminal)."
    )
    extract_key_check_every: int = Field(
        1,
        ge=0,
        description="Compare each table's ids with those delivered so far, to find rows deleted "
        "in totesys, every this many extracts (0: never; see docs/change-capture.md).",
    )
    workers: int = Field(
        2,
        ge=1,
        le=32,
        description="Tables processed at once by extract (one source connection each) and "
        "transform; about the number of cores the database and this process can share.",
    )

    lock_wait_seconds: float = Field(
        0.0,
        ge=0,
        description="How long a run waits for another run to release the pipeline lock before "
        "exiting 75 (try later).",
    )
    db_connect_timeout: int = Field(
        10,
        ge=2,
        le=300,
        description="Seconds a database connection attempt may take (libpq's connect_timeout): "
        "a host that accepts connections and never answers fails the attempt, not the run.",
    )

    source_drift: Literal["warn", "fail"] = Field(
        "warn",
        description="A column totesys has and the registry does not: warn (reported, not "
        "extracted) or fail (exit 2, nothing extracted). A column the star needs that is gone "
        "or retyped losing data always fails (see docs/upgrading.md).",
    )

    lake_catalog: str = Field(
        "sql",
        description="Where the lake's Iceberg tables are catalogued: sql (pyiceberg's SQL "
        "catalog in the warehouse itself, schema ainsdale_lake), glue (the AWS Glue Data "
        "Catalog), a pyiceberg catalog URI (e.g. sqlite:///path, postgresql://..., "
        "https://rest-catalog), or none (no lake).",
    )
    lake_database: str = Field(
        "ainsdale",
        pattern=r"^[a-z0-9_]{1,255}$",
        description="The lake's namespace: the Glue database the tables are in.",
    )

    @field_validator("lake_catalog")
    @classmethod
    def _a_lake_catalog(cls, value: str) -> str:
        if "://" in value:
            problem = uri_syntax_problem(value)
            if problem:
                raise ValueError(problem)
            return value
        if value.lower() in {"sql", "glue", "none", "off", ""}:
            return value.lower()
        raise ValueError("must be sql, glue, none or a catalog URI (scheme://...)")

    @property
    def lake_enabled(self) -> bool:
        return self.lake_catalog not in {"none", "off", ""}

    @field_validator("s3_kms_key_id")
    @classmethod
    def _kms_key_needs_kms(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("s3_sse") == "AES256":
            raise ValueError("a KMS key needs AINSDALE_S3_SSE=aws:kms (or unset), not AES256")
        return value

    @field_validator("ingest_uri", "processed_uri")
    @classmethod
    def _a_bucket_uri(cls, value: str | None) -> str | None:
        if value is not None:
            parse_bucket_uri(value)  # its ValueError names what is wrong
        return value

    @field_validator("source_url", "warehouse_url")
    @classmethod
    def _a_postgres_uri(cls, value: SecretStr | None) -> SecretStr | None:
        # Only the URI form: its credentials can be told apart and masked in every message
        # (a keyword string "host=… password=…" could be echoed whole).
        if value is not None:
            problem = postgres_uri_problem(value.get_secret_value())
            if problem:
                raise ValueError(problem)
        return value

    @property
    def source_is_embedded(self) -> bool:
        return self.source_url is None and self.source_secret_id is None

    @property
    def warehouse_is_embedded(self) -> bool:
        return self.warehouse_url is None and self.warehouse_secret_id is None


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one line naming the variable."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "AINSDALE_" + "_".join(str(p) for p in first["loc"]).upper()
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}; fix it in the environment or .env") from None


# Settings that are gone, each with what replaced it: still set, they are a warning saying so.
REPLACED_SETTINGS: dict[str, str] = {
    "AINSDALE_LOCK_HEARTBEAT_SECONDS": "a constant: the lock's connection is sent SELECT 1 "
    "every 30 s (runtime/lock.py)",
    "AINSDALE_ALERT_REPEAT_SECONDS": "a constant: a failure like the last one pages again "
    "after 4 hours (runtime/incidents.py)",
    "AINSDALE_ALERT_AFTER_REPEATS": "a constant: a stop (130) or a fault of the moment (75) "
    "pages on its 3rd time before a success (runtime/incidents.py)",
    "AINSDALE_REPORT_PUBLISH": "the --publish-report option of run-all and load",
    "AINSDALE_DB_ATTEMPTS": "a constant: a transient database fault is tried 4 times in all "
    "(core/retry.py)",
    "AINSDALE_BULK_LOAD_MIN_ROWS": "a constant: an empty table receiving 10,000 rows or more "
    "is bulk-loaded (load/bulk.py)",
    "AINSDALE_LAKE_SNAPSHOT_RETENTION_DAYS": "an option of one command: `ainsdale-etl lake "
    "maintain --retention-days DAYS` (default 30)",
}

# Read by name elsewhere, not through Settings: not misspellings of a setting.
_OTHER_VARIABLES = frozenset(
    {
        "AINSDALE_DEBUG",
        "AINSDALE_QUIET",
        "AINSDALE_LOG_FORMAT",
        "AINSDALE_SEED_URL",
        "AINSDALE_FAULTS",
    }
)


def settings_variables(environ: Mapping[str, str], env_file: Path = Path(".env")) -> set[str]:
    """The ``AINSDALE_*`` names set in ``environ`` or in ``env_file`` (read as the settings
    read it), so that a name in either is checked alike."""
    names = {name for name in environ if name.startswith("AINSDALE_")}
    if env_file.is_file():
        from dotenv import dotenv_values

        names |= {n for n in dotenv_values(env_file) if n.startswith("AINSDALE_")}
    return names


def misspelled_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``AINSDALE_*`` variables no setting reads, each with the closest one that exists
    (or None): a typo would otherwise silently mean the default. A setting that is gone is
    not among them: :data:`REPLACED_SETTINGS` says what replaced it."""
    known = {f"AINSDALE_{name.upper()}" for name in Settings.model_fields} | _OTHER_VARIABLES
    known |= set(REPLACED_SETTINGS)
    # The test suite's and the benchmark's own variables.
    known |= {n for n in environ if n.startswith(("AINSDALE_TEST_", "AINSDALE_BENCH_"))}
    return [
        (name, next(iter(difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)), None))
        for name in sorted(environ)
        if name.startswith("AINSDALE_") and name not in known
    ]


def alert_settings() -> AlertSettings:
    """The alert settings, even when the other settings do not validate (and no topic when
    these do not either)."""
    try:
        return AlertSettings()
    except ValidationError:
        return AlertSettings.model_construct(alert_topic_arn=None)

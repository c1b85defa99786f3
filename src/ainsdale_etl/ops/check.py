"""``ainsdale-etl check``: is this configuration able to run? Reads only, writes nothing.

Each check reaches one thing the pipeline needs (source, warehouse, the two buckets, the alert
topic) the way a run would, and says in one line what it found or what to do. Database checks
ask PostgreSQL for privileges (``has_table_privilege``…) rather than trying a write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ainsdale_etl.adapters.postgres import Database, describe_url, fetch_all
from ainsdale_etl.adapters.storage.local import LocalStorage
from ainsdale_etl.adapters.storage.s3 import S3Storage
from ainsdale_etl.core.errors import EtlError
from ainsdale_etl.core.events import plural
from ainsdale_etl.core.registry import SOURCE_TABLES, STAR_TABLES
from ainsdale_etl.core.storage import Storage
from ainsdale_etl.extract.drift import not_totesys
from ainsdale_etl.load.ddl import LEDGER

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # ok, but something a run would be better for (the detail says what)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _where(db: Database) -> str:
    where = describe_url(db.url)
    return f"{where} ({db.origin})" if db.origin else where


def source_detail(db: Database) -> str:
    """Every totesys table present and readable, else :class:`EtlError` naming those missing."""
    with db.connect() as conn, conn.cursor() as cur:
        missing, unreadable = [], []
        for name in SOURCE_TABLES:
            if not fetch_all(cur, "SELECT to_regclass($1) IS NOT NULL", [name])[0][0]:
                missing.append(name)
            elif not fetch_all(cur, "SELECT has_table_privilege($1, 'SELECT')", [name])[0][0]:
                unreadable.append(name)
        conn.rollback()
    foreign = not_totesys(SOURCE_TABLES, missing, _where(db))
    if foreign:
        raise EtlError(foreign)
    if missing:
        raise EtlError(
            f"{_where(db)}: no {plural('table', len(missing))} {', '.join(missing)}; is this "
            "the totesys database?"
        )
    if unreadable:
        raise EtlError(f"{_where(db)}: no SELECT privilege on {', '.join(unreadable)}; grant it")
    _check_capture(db)
    return f"{_where(db)}: {len(SOURCE_TABLES)} tables readable, change capture available"


# What the change capture calls (see extract/windows.py), as one read-only statement.
# (pg_xact_status refuses an xid not yet assigned, as xmin is on an idle server; its EXECUTE
# privilege is checked all the same, when the statement starts.)
_CAPTURE_PROBE = """
    SELECT age('3'::xid), pg_export_snapshot(),
           CASE WHEN pg_snapshot_xmin(s) < pg_snapshot_xmax(s)
                THEN pg_xact_status(pg_snapshot_xmin(s)) END
    FROM pg_current_snapshot() AS s"""


def source_identity_detail(db: Database) -> tuple[str, bool]:
    """The source's identity as the extract records it (see extract/history.py), and whether
    this role misses a grant for part of it (a warning naming the grant: a run still works)."""
    from ainsdale_etl.extract.history import identity_access, read_identity

    with db.psycopg_connect() as conn:
        access, identity = identity_access(conn), read_identity(conn)
        conn.rollback()
    if access.missing:
        return (
            f"warning: {_where(db)}: this role may not call {', '.join(access.missing)}, so "
            f"the extract records the source as {identity} and would not recognise a restore "
            f"or a failover to another cluster; {access.grant()}",
            True,
        )
    return f"{_where(db)}: {identity}; a restore or failover is recognised", False


def _check_capture(db: Database) -> None:
    """The functions the change capture relies on answer for this role, in a read-only
    REPEATABLE READ transaction as the extract runs them."""
    from psycopg import Error, IsolationLevel

    with db.psycopg_connect() as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            conn.execute(_CAPTURE_PROBE)
        except Error as exc:
            raise EtlError(
                f"{_where(db)}: the change capture cannot run here "
                f"({str(exc).splitlines()[0]}); it needs pg_current_snapshot, age(xid), "
                "pg_xact_status and pg_export_snapshot, open to every role on a primary"
            ) from None
        conn.rollback()


# What loading does to each table (see load.load_tables): facts gain rows, dimensions
# and the ledger are upserted. One privilege per pair: has_table_privilege('INSERT, UPDATE')
# would be true if either were held.
_NEEDED = [
    *((name, "INSERT") for name in STAR_TABLES),
    *((name, "UPDATE") for name, table in STAR_TABLES.items() if not table.is_fact),
    (LEDGER, "INSERT"),
    (LEDGER, "UPDATE"),
]


def warehouse_detail(db: Database) -> str:
    """The star schema writable, or creatable where it is not there yet."""
    with db.connect() as conn, conn.cursor() as cur:
        if not fetch_all(cur, "SELECT has_database_privilege(current_database(), 'TEMP')")[0][0]:
            raise EtlError(f"{_where(db)}: no TEMPORARY privilege, which loads stage in; grant it")
        if fetch_all(cur, "SELECT to_regclass($1) IS NOT NULL", [LEDGER])[0][0]:
            denied = [
                f"{privilege} on {table}"
                for table, privilege in _NEEDED
                if not fetch_all(
                    cur,
                    "SELECT to_regclass($1) IS NOT NULL AND has_table_privilege($1, $2)",
                    [table, privilege],
                )[0][0]
            ]
            conn.rollback()
            if denied:
                raise EtlError(f"{_where(db)}: missing {', '.join(denied)}; grant them")
            return f"{_where(db)}: star schema present and writable"
        may_create = fetch_all(
            cur,
            "SELECT has_database_privilege(current_database(), 'CREATE') "
            "AND has_schema_privilege('public', 'CREATE')",
        )[0][0]
        conn.rollback()
    if not may_create:
        raise EtlError(
            f"{_where(db)}: no star schema yet, and no CREATE privilege on the database and "
            "schema public to make it; grant them, or create it as the owner with `load`"
        )
    return f"{_where(db)}: no star schema yet; the first load creates it"


def bucket_detail(storage: Storage) -> str:
    """The bucket reachable and listable (and its default encryption, when readable)."""
    if isinstance(storage, S3Storage):
        return _s3_detail(storage)
    if isinstance(storage, LocalStorage):
        return _folder_detail(storage)
    return storage.uri


def _s3_detail(storage: S3Storage) -> str:
    from ainsdale_etl.adapters.aws import describe_aws_error, error_code, is_aws_error

    client = storage.client
    try:
        client.head_bucket(Bucket=storage.bucket)
        client.list_objects_v2(Bucket=storage.bucket, Prefix=storage.prefix, MaxKeys=1)
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        if error_code(exc) in {"404", "NoSuchBucket", "NotFound"}:
            raise EtlError(f"{storage.uri}: no such bucket; check the URI and region") from None
        if error_code(exc) in {"403", "AccessDenied", "Forbidden"}:
            raise EtlError(
                f"{storage.uri}: access denied; the role needs s3:ListBucket on the bucket "
                "and s3:GetObject, s3:PutObject on its objects"
            ) from None
        raise EtlError(f"{storage.uri}: {describe_aws_error(exc)}") from None
    return f"{storage.uri}: reachable and listable; {_s3_encryption(storage)}"


def _s3_encryption(storage: S3Storage) -> str:
    from ainsdale_etl.adapters.aws import is_aws_error

    asked = storage.encryption.get("ServerSideEncryption")
    writes = f"writes ask for {asked}" if asked else "writes take the bucket default"
    try:
        rules = storage.client.get_bucket_encryption(Bucket=storage.bucket)[
            "ServerSideEncryptionConfiguration"
        ]["Rules"]
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        return f"{writes}; default encryption not readable"
    default = rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if rules else "none"
    return f"default encryption {default}; {writes}"


def _folder_detail(storage: LocalStorage) -> str:
    problem = storage.writable_problem()
    if problem:
        raise EtlError(f"{storage.root}: {problem}")
    return f"{storage.root}: {'writable folder' if storage.root.is_dir() else 'will be created'}"


def topic_detail(topic_arn: str) -> str:
    """The alert topic, as far as a role that may only publish can tell without publishing."""
    from ainsdale_etl.adapters.aws import (
        aws_client,
        describe_aws_error,
        error_code,
        is_aws_error,
        region_of,
    )

    if not region_of(topic_arn):
        raise EtlError(f"{topic_arn} is not an SNS topic ARN (arn:aws:sns:region:account:name)")
    try:
        aws_client("sns", arn=topic_arn, max_attempts=3, timeout=10).get_topic_attributes(
            TopicArn=topic_arn
        )
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        if error_code(exc) in {"NotFound", "NotFoundException"}:
            raise EtlError(f"{topic_arn}: no such topic") from None
        if error_code(exc) in {"AuthorizationError", "AccessDenied", "AccessDeniedException"}:
            return f"{topic_arn}: set (not verified: this role may publish only)"
        raise EtlError(f"{topic_arn}: {describe_aws_error(exc)}") from None
    return f"{topic_arn}: topic exists"


def _attempt(name: str, detail: Callable[[], str]) -> Check:
    from ainsdale_etl.adapters.postgres import scrub

    try:
        return Check(name, True, scrub(detail()))
    except EtlError as exc:
        return Check(name, False, scrub(str(exc)))


def run_checks(ctx: Context) -> list[Check]:
    """Every check of the configuration in ``ctx``, in the order a run meets them. The
    embedded default's databases are probed like any others (where a run made them: ``ctx``
    only reads, see runtime/context.py)."""
    checks = [
        _attempt("source", lambda: source_detail(ctx.source)),
        _attempt("ingest bucket", lambda: bucket_detail(ctx.ingest)),
        _attempt("processed bucket", lambda: bucket_detail(ctx.processed)),
        _attempt("warehouse", lambda: warehouse_detail(ctx.warehouse)),
    ]
    # Each schema line right after the check it builds on, and only once that passed.
    checks[1:1] = _source_schema_checks(ctx, checks[0])
    warehouse = checks[-1]
    checks += _warehouse_schema_checks(ctx, warehouse)
    checks.append(_lake_check(ctx, warehouse))
    topic = ctx.settings.alert_topic_arn
    checks.append(
        _attempt("alerts", lambda: topic_detail(topic))
        if topic
        else Check("alerts", True, "AINSDALE_ALERT_TOPIC_ARN not set: failures page no one")
    )
    return checks


def _source_schema_checks(ctx: Context, source: Check) -> list[Check]:
    """The source's columns against the registry (see ops/check_schema.py)."""
    from ainsdale_etl.ops.check_schema import source_columns_detail

    if not source.ok:
        return []
    where, policy = _where(ctx.source), ctx.settings.source_drift
    return [
        _attempt("source columns", lambda: source_columns_detail(ctx.source, where, policy)),
        _identity_check(ctx.source),
    ]


def _identity_check(db: Database) -> Check:
    from ainsdale_etl.adapters.postgres import scrub

    try:
        detail, warning = source_identity_detail(db)
    except EtlError as exc:
        return Check("source identity", False, scrub(str(exc)))
    return Check("source identity", True, scrub(detail), warning=warning)


def _warehouse_schema_checks(ctx: Context, warehouse: Check) -> list[Check]:
    """The warehouse's schema version, and the privileges of the next load's path."""
    from ainsdale_etl.ops.check_schema import load_privileges_detail, warehouse_schema_detail

    if not warehouse.ok:
        return []
    db, where = ctx.warehouse, _where(ctx.warehouse)
    schema = _attempt("warehouse schema", lambda: warehouse_schema_detail(db, where))
    if not schema.ok:  # refused (tables it did not create, a newer schema): the load stops there
        return [schema]
    from ainsdale_etl.ops.check_lake import environment_detail

    return [
        schema,
        _attempt("load privileges", lambda: load_privileges_detail(db, where)),
        _attempt("environment", lambda: environment_detail(ctx)),
    ]


def _lake_check(ctx: Context, warehouse: Check) -> Check:
    from ainsdale_etl.ops.check_lake import lake_detail

    if not ctx.settings.lake_enabled:
        return Check("lake", True, "AINSDALE_LAKE_CATALOG=none: no lake is written")
    if not warehouse.ok and ctx.settings.lake_catalog == "sql":
        return Check("lake", False, "catalogued in the warehouse, which failed its check above")
    return _attempt("lake", lambda: lake_detail(ctx))

"""``check``'s lake and environment lines: the catalog reached, its tables where this
environment's lake is, and the warehouse fed from these buckets. Writes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import EtlError
from ainsdale_etl.core.registry import STAR_TABLES

if TYPE_CHECKING:
    from ainsdale_etl.runtime.context import Context


def lake_detail(ctx: Context) -> str:
    """The catalog answers and lists the lake's namespace, and each table it holds lives under
    the configured processed bucket; else :class:`EtlError` saying what to do. A namespace
    not made yet is fine for the embedded catalog (the first load makes it) and not for Glue,
    whose database Terraform makes and the task may not."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    from ainsdale_etl.adapters.aws import describe_aws_error
    from ainsdale_etl.adapters.postgres import relation_exists
    from ainsdale_etl.lake.catalog import check_location, identifier, lake_location, open_catalog
    from ainsdale_etl.load.ddl import LAKE_CATALOG_SCHEMA
    from ainsdale_etl.pipeline.binding import lake_of

    settings = ctx.settings
    where = f"{lake_of(settings)}, {lake_location(settings)}"
    if settings.lake_catalog == "sql":
        with ctx.warehouse.psycopg_connect() as conn:
            made = relation_exists(conn, f"{LAKE_CATALOG_SCHEMA}.iceberg_tables")
        if not made:
            return f"{where}: no catalog yet (the first load makes it)"
    try:
        catalog = open_catalog(settings, ctx.warehouse)
        assert catalog is not None  # the caller checked that the lake is on
        listed = catalog.list_tables(settings.lake_database)
        held = [name for _, name in listed if name in STAR_TABLES]
        for name in held:
            check_location(
                settings,
                STAR_TABLES[name],
                catalog.load_table(identifier(settings, STAR_TABLES[name])),
            )
    except NoSuchNamespaceError:
        if settings.lake_catalog == "glue":
            raise EtlError(
                f"{where}: no Glue database {settings.lake_database}; apply the Terraform "
                "(it makes it) or set AINSDALE_LAKE_DATABASE"
            ) from None
        return f"{where}: no tables yet (the first load makes them)"
    except EtlError:
        raise
    except FileNotFoundError:
        return f"{where}: a table's files are gone; the next load (or 'lake sync') rebuilds it"
    except Exception as exc:  # the catalog's own errors: boto3's, SQLAlchemy's, a REST server's
        raise EtlError(f"{where}: {describe_aws_error(exc)}") from None
    return f"{where}: {len(held)} of {len(STAR_TABLES)} star tables"


def environment_detail(ctx: Context) -> str:
    """The buckets and lake the warehouse is bound to are the configured ones."""
    from ainsdale_etl.adapters.postgres import relation_exists
    from ainsdale_etl.load.ddl import ENVIRONMENT
    from ainsdale_etl.pipeline.binding import Environment, configured

    with ctx.warehouse.psycopg_connect() as conn:
        row = None
        if relation_exists(conn, ENVIRONMENT):
            row = conn.execute(
                f"SELECT ingest_uri, processed_uri, lake FROM {ENVIRONMENT}"
            ).fetchone()
    if row is None:
        return "not bound yet: the first run binds the warehouse to these buckets and lake"
    diffs = Environment(row[0], row[1], row[2]).differences(configured(ctx))
    if diffs:
        raise EtlError(
            f"the warehouse is fed from another environment: {'; '.join(diffs)}; a run would "
            "be refused (see docs/change-capture.md: State, --rebind)"
        )
    return f"fed from {row[0]} and {row[1]}; lake {row[2]}"

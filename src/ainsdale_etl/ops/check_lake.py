"""``check``'s lake line: its catalog reached, and how many of the star's tables it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import EtlError
from ainsdale_etl.core.registry import STAR_TABLES

if TYPE_CHECKING:
    from ainsdale_etl.core.settings import Settings


def lake_detail(settings: Settings) -> str:
    """The catalog answers and lists the lake's namespace; else :class:`EtlError` saying what
    to do. A namespace not made yet is fine for the embedded catalog (the first load makes
    it) and not for Glue, whose database Terraform makes and the task may not."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    from ainsdale_etl.adapters.aws import describe_aws_error
    from ainsdale_etl.lake.catalog import embedded_catalog_file, lake_location, open_catalog

    where = f"{settings.lake_catalog} catalog, {lake_location(settings)}"
    if settings.lake_catalog == "sql" and not embedded_catalog_file(settings).exists():
        return f"{where}: no catalog yet (the first load makes it)"  # check writes nothing
    try:
        catalog = open_catalog(settings)
        assert catalog is not None  # the caller checked that the lake is on
        listed = catalog.list_tables(settings.lake_database)
    except NoSuchNamespaceError:
        if settings.lake_catalog == "glue":
            raise EtlError(
                f"{where}: no Glue database {settings.lake_database}; apply the Terraform "
                "(it makes it) or set AINSDALE_LAKE_DATABASE"
            ) from None
        return f"{where}: no tables yet (the first load makes them)"
    except EtlError:
        raise
    except Exception as exc:  # the catalog's own errors: boto3's, SQLite's, a REST server's
        raise EtlError(f"{where}: {describe_aws_error(exc)}") from None
    held = {name for _, name in listed} & set(STAR_TABLES)
    return f"{where}: {len(held)} of {len(STAR_TABLES)} star tables"

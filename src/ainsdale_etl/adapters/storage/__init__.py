"""Buckets: a local folder or an S3 bucket, chosen by URI (the interface is core.storage)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import ConfigError

if TYPE_CHECKING:
    from ainsdale_etl.core.storage import Storage


def open_storage(uri: str, *, encryption: dict[str, str] | None = None) -> Storage:
    """The bucket named by ``uri``: ``s3://bucket[/prefix]``, ``file://path`` or a folder path.

    ``encryption`` (see :func:`.s3.encryption_args`) applies to S3 writes only.
    """
    from ainsdale_etl.core.storage import parse_bucket_uri

    try:
        where = parse_bucket_uri(uri)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if where.bucket:
        from ainsdale_etl.adapters.storage.s3 import S3Storage

        return S3Storage(where.bucket, where.prefix, encryption=encryption)
    from ainsdale_etl.adapters.storage.local import LocalStorage

    return LocalStorage(Path(where.folder).expanduser())

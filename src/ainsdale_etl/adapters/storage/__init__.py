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
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(f"{uri!r} names no bucket; use s3://bucket[/prefix]")
        from ainsdale_etl.adapters.storage.s3 import S3Storage

        return S3Storage(bucket, prefix, encryption=encryption)
    if "://" in uri and not uri.startswith("file://"):
        raise ConfigError(f"{uri!r} is neither s3://bucket[/prefix] nor a local folder")
    from ainsdale_etl.adapters.storage.local import LocalStorage

    return LocalStorage(Path(uri.removeprefix("file://")).expanduser())

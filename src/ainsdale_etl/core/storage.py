"""What a bucket is to the pipeline: objects by key, whatever holds them.

Keys are '/'-separated relative paths. Every write is atomic: a reader sees the whole object or
none of it. The implementations (a local folder, S3) are in :mod:`ainsdale_etl.adapters.storage`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple, Protocol

from ainsdale_etl.core.errors import EtlError


class Storage(Protocol):
    """A bucket: objects by key."""

    uri: str

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Write an object; ``content_type`` is what a browser is told it holds (S3's
        Content-Type; a folder has none)."""

    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file (streamed, so large objects never sit in memory whole). The
        caller may delete ``path`` afterwards but must not write to it (a local bucket may
        hold it as a hard link)."""

    def get_bytes(self, key: str) -> bytes: ...
    def get_file(self, key: str, path: Path) -> None:
        """Download an object to a local file (streamed: large objects never sit in memory)."""

    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None:
        """Remove an object; removing one that is not there is not an error."""

    def list(self, prefix: str = "", *, after: str | None = None) -> list[str]:
        """Keys under ``prefix``, sorted; with ``after``, only the keys that sort after it (on
        S3 the listing starts there: its cost is what follows, not what precedes)."""

    def url(self, key: str, expires_in: int) -> str:
        """An address a browser can open the object at: a presigned GET for S3 (valid
        ``expires_in`` seconds, signed with the caller's own credentials), a file URI for a
        folder."""


class ObjectNotFoundError(EtlError):
    def __init__(self, uri: str, key: str) -> None:
        super().__init__(f"object {key} not found in {uri}")


class BucketUri(NamedTuple):
    """Where a bucket is: ``bucket``/``prefix`` on S3, or ``folder`` (bucket empty)."""

    bucket: str
    prefix: str
    folder: str


# S3's naming rules for buckets made since 2018: 3-63 lower-case letters, digits, dots, hyphens.
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def parse_bucket_uri(uri: str) -> BucketUri:
    """``s3://bucket[/prefix]``, ``file://path`` or a folder path; ValueError says what is wrong
    (checked with the settings, before any step writes)."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"{uri!r} names no bucket; use s3://bucket[/prefix]")
        if not _S3_BUCKET.fullmatch(bucket):
            raise ValueError(
                f"{bucket!r} is not an S3 bucket name (3-63 lower-case letters, digits, "
                "dots and hyphens)"
            )
        return BucketUri(bucket, prefix.strip("/"), "")
    if "://" in uri and not uri.startswith("file://"):
        scheme = uri.split("://", 1)[0]
        raise ValueError(
            f"{scheme}:// is not supported; use s3://bucket[/prefix] or a local folder"
        )
    folder = uri.removeprefix("file://")
    if not folder:
        raise ValueError("is empty; use s3://bucket[/prefix] or a local folder")
    return BucketUri("", "", folder)

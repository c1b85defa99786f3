"""What a bucket is to the pipeline: objects by key, whatever holds them.

Keys are '/'-separated relative paths. Every write is atomic: a reader sees the whole object or
none of it. The implementations (a local folder, S3) are in :mod:`ainsdale_etl.adapters.storage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

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

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix``, sorted."""

    def url(self, key: str, expires_in: int) -> str:
        """An address a browser can open the object at: a presigned GET for S3 (valid
        ``expires_in`` seconds, signed with the caller's own credentials), a file URI for a
        folder."""


class ObjectNotFoundError(EtlError):
    def __init__(self, uri: str, key: str) -> None:
        super().__init__(f"object {key} not found in {uri}")

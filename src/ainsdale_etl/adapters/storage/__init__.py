"""Buckets: one small interface over a local folder or an S3 bucket, chosen by URI.

Keys are '/'-separated relative paths. Every write is atomic: a reader sees the whole object or
none of it (local writes go to a temporary name and are renamed; an S3 PUT is atomic).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ainsdale_etl.core.errors import ConfigError, EtlError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class Storage(Protocol):
    """A bucket: objects by key."""

    uri: str

    def put_bytes(self, key: str, data: bytes) -> None: ...
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


class ObjectNotFoundError(EtlError):
    def __init__(self, uri: str, key: str) -> None:
        super().__init__(f"object {key} not found in {uri}")


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source``, or a copy where a link cannot be made (another
    file system, or one without links); an existing ``target`` is replaced."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copyfile(source, target)


class LocalStorage:
    """A folder standing in for a bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"key {key!r} escapes the bucket folder")
        return path

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._atomic_target(key) as tmp:
            tmp.write_bytes(data)

    def put_file(self, key: str, path: Path) -> None:
        # A hard link where both folders are on one file system, else a copy: no bytes need
        # copying (at scale 100, copies were a fifth of the transform's CPU), and the caller
        # only ever deletes its file afterwards, never writes to it.
        with self._atomic_target(key) as tmp:
            _link_or_copy(path, tmp)
            tmp.chmod(0o600)  # as mkstemp made objects before: extracts hold personal data

    class _AtomicTarget:
        def __init__(self, target: Path) -> None:
            self.target = target

        def __enter__(self) -> Path:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=".tmp-", suffix=".part")
            os.close(fd)
            self.tmp = Path(name)
            return self.tmp

        def __exit__(self, exc_type: object, *_: object) -> None:
            if exc_type is None:
                self.tmp.replace(self.target)
            else:
                self.tmp.unlink(missing_ok=True)

    def _atomic_target(self, key: str) -> LocalStorage._AtomicTarget:
        return LocalStorage._AtomicTarget(self._path(key))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(self.uri, key) from None

    def get_file(self, key: str, path: Path) -> None:
        # Objects are never written in place (a new version is renamed over the old one), so
        # a hard link is a stable snapshot of the object, made without copying it.
        try:
            _link_or_copy(self._path(key), path)
        except FileNotFoundError:
            raise ObjectNotFoundError(self.uri, key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )
        return sorted(k for k in keys if k.startswith(prefix))


class S3Storage:
    """An S3 bucket (or any S3-compatible endpoint named by ``AWS_ENDPOINT_URL``)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: S3Client | None = None,
        encryption: dict[str, str] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client
        # Empty: every object takes the bucket's default encryption.
        self.encryption = encryption or {}

    @property
    def client(self) -> S3Client:
        if self._client is None:
            from ainsdale_etl.adapters.aws import aws_client

            self._client = aws_client("s3")
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + key

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            **self.encryption,  # type: ignore[arg-type]
        )

    def put_file(self, key: str, path: Path) -> None:
        # upload_file switches to a multipart upload for large files and streams from disk.
        self.client.upload_file(
            str(path), self.bucket, self._key(key), ExtraArgs=self.encryption or None
        )

    def get_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise ObjectNotFoundError(self.uri, key) from None
        return response["Body"].read()

    def get_file(self, key: str, path: Path) -> None:
        from botocore.exceptions import ClientError

        # download_file fetches large objects in parallel ranged GETs, straight to disk.
        try:
            self.client.download_file(self.bucket, self._key(key), str(path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                raise ObjectNotFoundError(self.uri, key) from None
            raise

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def _iter_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for obj in page.get("Contents", []):
                yield obj["Key"][len(self.prefix) :]

    def list(self, prefix: str = "") -> list[str]:
        return sorted(self._iter_keys(prefix))


def encryption_args(sse: str | None, kms_key_id: str | None) -> dict[str, str]:
    """The server-side encryption every S3 write asks for; none means the bucket's default.

    A KMS key id alone implies ``aws:kms``.
    """
    if kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    return {"ServerSideEncryption": sse} if sse else {}


def open_storage(uri: str, *, encryption: dict[str, str] | None = None) -> Storage:
    """The bucket named by ``uri``: ``s3://bucket[/prefix]``, ``file://path`` or a folder path.

    ``encryption`` (see :func:`encryption_args`) applies to S3 writes only.
    """
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(f"{uri!r} names no bucket; use s3://bucket[/prefix]")
        return S3Storage(bucket, prefix, encryption=encryption)
    if "://" in uri and not uri.startswith("file://"):
        raise ConfigError(f"{uri!r} is neither s3://bucket[/prefix] nor a local folder")
    return LocalStorage(Path(uri.removeprefix("file://")).expanduser())

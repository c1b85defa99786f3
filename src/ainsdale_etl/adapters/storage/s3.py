"""An S3 bucket (or any S3-compatible endpoint named by ``AWS_ENDPOINT_URL``); a PUT is atomic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.storage import ObjectNotFoundError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            **self.encryption,  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
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

    def _iter_keys(self, prefix: str, after: str | None = None) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = (
            paginator.paginate(
                Bucket=self.bucket, Prefix=self._key(prefix), StartAfter=self._key(after)
            )
            if after
            else paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix))
        )
        for page in pages:
            for obj in page.get("Contents", []):
                yield obj["Key"][len(self.prefix) :]

    def list(self, prefix: str = "", *, after: str | None = None) -> list[str]:
        return sorted(self._iter_keys(prefix, after))

    def url(self, key: str, expires_in: int) -> str:
        # Signed locally with the caller's credentials: no request is made, and whoever opens
        # it reads as the signer could, until it expires.
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_in,
        )


def encryption_args(sse: str | None, kms_key_id: str | None) -> dict[str, str]:
    """The server-side encryption every S3 write asks for; none means the bucket's default.

    A KMS key id alone implies ``aws:kms``.
    """
    if kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    return {"ServerSideEncryption": sse} if sse else {}

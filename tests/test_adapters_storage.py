"""Buckets: the same behaviours from a local folder and from S3 (moto, in-process)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ainsdale_etl.adapters.storage import open_storage
from ainsdale_etl.adapters.storage.local import LocalStorage
from ainsdale_etl.adapters.storage.s3 import S3Storage, encryption_args
from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.core.storage import ObjectNotFoundError, Storage
from helpers.stand_ins import mocked_aws

BUCKET = "ainsdale-ingest"


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[object]:
    """An in-process moto S3 for the module (starting one per test costs a third of a second)."""
    import boto3

    with mocked_aws("us-east-1"):
        yield boto3.client("s3")


@pytest.fixture
def s3(moto_s3) -> Iterator[object]:
    """One empty bucket; yields a raw boto3 client to peek with. Emptied and removed after."""
    moto_s3.create_bucket(Bucket=BUCKET)
    yield moto_s3
    for page in moto_s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            moto_s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    moto_s3.delete_bucket(Bucket=BUCKET)


@pytest.fixture(params=["local", "s3", "s3-prefix"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Every implementation, so each behaviour below is asserted of all of them."""
    if request.param == "local":
        return LocalStorage(tmp_path / "bucket")
    request.getfixturevalue("s3")
    if request.param == "s3":
        return open_storage(f"s3://{BUCKET}")
    return open_storage(f"s3://{BUCKET}/some/prefix")


# --- behaviours every bucket shares --------------------------------------------------------


def test_put_then_get_bytes(storage):
    storage.put_bytes("data/a.csv", b"id\n1\n")
    assert storage.get_bytes("data/a.csv") == b"id\n1\n"


def test_put_replaces_an_object(storage):
    storage.put_bytes("a", b"old")
    storage.put_bytes("a", b"new")
    assert storage.get_bytes("a") == b"new"


def test_an_empty_object(storage):
    storage.put_bytes("empty", b"")
    assert storage.exists("empty")
    assert storage.get_bytes("empty") == b""


def test_put_file_round_trips(storage, tmp_path):
    source = tmp_path / "upload.bin"
    source.write_bytes(b"\x00\xff" * 1000)
    storage.put_file("data/upload.bin", source)
    assert storage.get_bytes("data/upload.bin") == b"\x00\xff" * 1000
    assert source.exists()  # the caller's file is copied, not moved


def test_get_file_downloads_an_object(storage, tmp_path):
    storage.put_bytes("data/x.parquet", b"PAR1" * 500)
    target = tmp_path / "download.parquet"
    storage.get_file("data/x.parquet", target)
    assert target.read_bytes() == b"PAR1" * 500
    with pytest.raises(ObjectNotFoundError, match=r"data/none\.parquet"):
        storage.get_file("data/none.parquet", tmp_path / "none")


def test_delete_removes_an_object_and_tolerates_a_missing_one(storage):
    storage.put_bytes("state/quarantine/a.json", b"{}")
    storage.delete("state/quarantine/a.json")
    assert not storage.exists("state/quarantine/a.json")
    storage.delete("state/quarantine/a.json")


def test_exists(storage):
    storage.put_bytes("data/2024/a.csv", b"x")
    assert storage.exists("data/2024/a.csv")
    assert not storage.exists("data/2024/b.csv")
    assert not storage.exists("data/2024")  # a folder is not an object


def test_get_of_a_missing_key_names_key_and_bucket(storage):
    with pytest.raises(ObjectNotFoundError) as err:
        storage.get_bytes("data/missing.csv")
    assert str(err.value) == f"object data/missing.csv not found in {storage.uri}"


def test_list_is_sorted_and_filtered_by_prefix(storage):
    for key in (
        "data/2024/03/b.csv",
        "data/2024/03/a.csv",
        "data/2023/z.csv",
        "other/x",
        "datafile",
    ):
        storage.put_bytes(key, b"x")
    assert storage.list("data/") == ["data/2023/z.csv", "data/2024/03/a.csv", "data/2024/03/b.csv"]
    assert storage.list("data/2024/03/a") == ["data/2024/03/a.csv"]
    assert storage.list() == sorted(
        ["data/2024/03/b.csv", "data/2024/03/a.csv", "data/2023/z.csv", "other/x", "datafile"]
    )


def test_list_of_an_empty_bucket(storage):
    assert storage.list() == []
    assert storage.list("data/") == []


# --- LocalStorage --------------------------------------------------------------------------


def test_local_list_of_a_folder_not_yet_created(tmp_path):
    assert LocalStorage(tmp_path / "nowhere").list() == []


def test_local_objects_are_files_under_the_root(tmp_path):
    storage = LocalStorage(tmp_path / "bucket")
    storage.put_bytes("data/2024/a.csv", b"x")
    assert (tmp_path / "bucket" / "data" / "2024" / "a.csv").read_bytes() == b"x"
    assert storage.uri == str((tmp_path / "bucket").resolve())


def test_local_writes_leave_no_temporary_file(tmp_path):
    storage = LocalStorage(tmp_path / "bucket")
    source = tmp_path / "upload.bin"
    source.write_bytes(b"y" * 3_000_000)  # more than one copy chunk
    storage.put_bytes("data/a", b"x")
    storage.put_file("data/b", source)
    assert sorted(p.name for p in (tmp_path / "bucket" / "data").iterdir()) == ["a", "b"]
    assert storage.get_bytes("data/b") == source.read_bytes()


def test_local_failed_put_file_leaves_no_object_and_no_temporary_file(tmp_path):
    storage = LocalStorage(tmp_path / "bucket")
    with pytest.raises(FileNotFoundError):
        storage.put_file("data/a.csv", tmp_path / "does-not-exist.csv")
    assert not storage.exists("data/a.csv")
    assert [p.name for p in (tmp_path / "bucket").rglob("*") if p.is_file()] == []


def test_local_failed_put_file_keeps_the_previous_object(tmp_path):
    storage = LocalStorage(tmp_path / "bucket")
    storage.put_bytes("data/a.csv", b"committed")
    with pytest.raises(FileNotFoundError):
        storage.put_file("data/a.csv", tmp_path / "does-not-exist.csv")
    assert storage.get_bytes("data/a.csv") == b"committed"


def test_local_list_hides_a_crashed_writers_temporary_file(tmp_path):
    storage = LocalStorage(tmp_path / "bucket")
    storage.put_bytes("data/a.csv", b"x")
    (tmp_path / "bucket" / "data" / ".tmp-abc.part").write_bytes(b"half")
    assert storage.list() == ["data/a.csv"]


@pytest.mark.parametrize("key", ["../x", "data/../../x", "/etc/passwd"])
def test_local_key_escaping_the_root_is_refused(tmp_path, key):
    storage = LocalStorage(tmp_path / "bucket")
    with pytest.raises(ValueError, match="escapes the bucket folder"):
        storage.put_bytes(key, b"x")
    with pytest.raises(ValueError, match="escapes the bucket folder"):
        storage.get_bytes(key)
    assert not (tmp_path / "x").exists()


# --- S3Storage -----------------------------------------------------------------------------


def test_s3_prefix_places_objects_under_it(s3):
    storage = open_storage(f"s3://{BUCKET}/some/prefix/")
    assert isinstance(storage, S3Storage)
    assert storage.uri == f"s3://{BUCKET}/some/prefix"
    storage.put_bytes("data/a.csv", b"x")
    body = s3.get_object(Bucket=BUCKET, Key="some/prefix/data/a.csv")["Body"].read()
    assert body == b"x"


def test_s3_prefix_hides_objects_outside_it(s3):
    for key in ("data/a.csv", "some/prefix2/data/b.csv", "some/c.csv", "some/prefix/data/d.csv"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    storage = open_storage(f"s3://{BUCKET}/some/prefix")
    assert storage.list() == ["data/d.csv"]
    assert not storage.exists("data/a.csv")


def test_s3_without_prefix(s3):
    storage = open_storage(f"s3://{BUCKET}")
    assert storage.uri == f"s3://{BUCKET}"
    storage.put_bytes("data/a.csv", b"x")
    assert s3.head_object(Bucket=BUCKET, Key="data/a.csv")["ContentLength"] == 1


def test_s3_put_file_of_a_large_file_goes_multipart(s3, tmp_path):
    from boto3.s3.transfer import TransferConfig

    # Just over boto3's multipart threshold (8 MiB): a 6 MiB file would still be one PUT.
    size = TransferConfig().multipart_threshold + (1 << 20)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    storage = open_storage(f"s3://{BUCKET}/some/prefix")
    storage.put_file("data/big.bin", source)
    etag = s3.head_object(Bucket=BUCKET, Key="some/prefix/data/big.bin")["ETag"]
    assert "-" in etag  # a multipart upload's ETag ends in -<parts>
    assert storage.get_bytes("data/big.bin") == source.read_bytes()


@pytest.mark.parametrize(
    ("sse", "kms_key_id", "expected"),
    [("AES256", None, "AES256"), ("aws:kms", None, "aws:kms"), (None, "alias/etl", "aws:kms")],
)
def test_s3_writes_ask_for_the_chosen_encryption(s3, tmp_path, sse, kms_key_id, expected):
    storage = open_storage(f"s3://{BUCKET}", encryption=encryption_args(sse, kms_key_id))
    source = tmp_path / "part.csv"
    source.write_bytes(b"id\n1\n")
    storage.put_bytes("small.json", b"{}")
    storage.put_file("data/part.csv", source)
    for key in ("small.json", "data/part.csv"):
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == expected
        if kms_key_id:
            assert head["SSEKMSKeyId"].endswith(kms_key_id)


def test_s3_writes_take_the_bucket_default_unless_told(s3):
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    storage = open_storage(f"s3://{BUCKET}", encryption=encryption_args(None, None))
    storage.put_bytes("a", b"x")
    assert s3.head_object(Bucket=BUCKET, Key="a")["ServerSideEncryption"] == "aws:kms"


def test_s3_put_bytes_sets_the_content_type_a_browser_is_told(s3):
    storage = open_storage(f"s3://{BUCKET}/p")
    storage.put_bytes("index.html", b"<p>", content_type="text/html; charset=utf-8")
    storage.put_bytes("plain", b"x")
    assert s3.head_object(Bucket=BUCKET, Key="p/index.html")["ContentType"] == (
        "text/html; charset=utf-8"
    )
    assert s3.head_object(Bucket=BUCKET, Key="p/plain")["ContentType"] != "text/html"


def test_s3_url_is_a_presigned_get_that_expires(s3):
    import urllib.parse

    url = open_storage(f"s3://{BUCKET}/p").url("reports/latest/index.html", 3600)
    parsed = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qs(parsed.query)
    assert parsed.path.endswith("/p/reports/latest/index.html")
    assert query["X-Amz-Expires"] == ["3600"] and "X-Amz-Signature" in query


def test_local_url_is_the_files_uri(tmp_path):
    storage = LocalStorage(tmp_path / "bucket")
    storage.put_bytes("r/index.html", b"<p>", content_type="text/html")
    assert storage.url("r/index.html", 60) == (tmp_path / "bucket" / "r" / "index.html").as_uri()


def test_s3_a_missing_bucket_is_an_error_not_an_empty_answer(s3):
    storage = open_storage("s3://no-such-bucket")
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="NoSuchBucket"):
        storage.exists("a")


# --- open_storage --------------------------------------------------------------------------


def test_open_storage_of_a_folder_path(tmp_path):
    storage = open_storage(str(tmp_path / "bucket"))
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "bucket").resolve()


def test_open_storage_of_a_file_uri(tmp_path):
    storage = open_storage(f"file://{tmp_path}/bucket")
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "bucket").resolve()


def test_open_storage_of_an_s3_uri():
    storage = open_storage("s3://my-bucket/a/b")
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("my-bucket", "a/b/")


@pytest.mark.parametrize("uri", ["http://x", "gs://bucket/prefix"])
def test_open_storage_rejects_other_schemes(uri):
    with pytest.raises(ConfigError, match="is not supported; use s3://bucket"):
        open_storage(uri)


def test_open_storage_rejects_an_s3_uri_without_a_bucket():
    with pytest.raises(ConfigError, match="names no bucket"):
        open_storage("s3:///prefix")


def test_a_local_put_file_survives_its_source_being_deleted(tmp_path):
    bucket = LocalStorage(tmp_path / "bucket")
    source = tmp_path / "out.csv"
    source.write_bytes(b"a,b\n1,2\n")
    bucket.put_file("data/x.csv", source)
    source.unlink()  # what every caller does next
    assert bucket.get_bytes("data/x.csv") == b"a,b\n1,2\n"
    # Readable by its owner only, linked or copied: extracts hold personal data.
    assert (tmp_path / "bucket" / "data" / "x.csv").stat().st_mode & 0o777 == 0o600


def test_a_local_get_file_is_a_snapshot_a_later_put_does_not_change(tmp_path):
    bucket = LocalStorage(tmp_path / "bucket")
    bucket.put_bytes("k", b"version 1")
    copy = tmp_path / "downloaded"
    bucket.get_file("k", copy)
    bucket.put_bytes("k", b"version 2")
    assert copy.read_bytes() == b"version 1"
    assert bucket.get_bytes("k") == b"version 2"
    bucket.get_file("k", copy)  # an existing target is replaced
    assert copy.read_bytes() == b"version 2"


_segments = st.sampled_from(["data", "state", "2026", "2027", "01", "12", "a", "b_manifest.json"])
_keys = st.lists(st.lists(_segments, min_size=1, max_size=4).map("/".join), max_size=25)


@settings(max_examples=60, deadline=None)
@given(keys=_keys, prefix=st.sampled_from(["", "data/", "data/2026/", "state/", "d"]),
       after=st.one_of(st.none(), _keys.map(lambda ks: ks[0] if ks else "data/2026/12")))  # fmt: skip
def test_a_local_listing_walks_only_what_it_needs_and_finds_what_a_full_walk_finds(
    tmp_path_factory, keys, prefix, after
):
    root = tmp_path_factory.mktemp("bucket")
    storage = LocalStorage(root)
    written = set()
    for key in keys:
        # A key cannot also be a folder of other keys: keep the first of such a pair.
        if any(k.startswith(key + "/") or key.startswith(k + "/") for k in written):
            continue
        storage.put_bytes(key, b"x")
        written.add(key)
    expected = sorted(k for k in written if k.startswith(prefix) and (after is None or k > after))
    assert storage.list(prefix, after=after) == expected

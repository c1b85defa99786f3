"""Exit codes by meaning: a fault of the network or of a remote service met outside the
adapters' own retries (pyarrow's S3, a SQL catalog, a resolver) is "try later" (75), never
"unexpected" (1); a setting that cannot work is a usage error (2), said without echoing it."""

from __future__ import annotations

import socket

import pytest

from ainsdale_etl.core.errors import ExitCode
from ainsdale_etl.runtime.failures import describe_failure
from helpers.processes import cli_env, error_lines, run
from helpers.stand_ins import closed_port


def test_an_s3_time_out_in_pyarrow_is_try_later(silent_port):
    from pyarrow import fs

    s3 = fs.S3FileSystem(
        access_key="testing", secret_key="testing", region="eu-west-2", scheme="http",
        endpoint_override=f"127.0.0.1:{silent_port}", connect_timeout=1, request_timeout=1,
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=1),
    )  # fmt: skip
    with pytest.raises(OSError) as caught:
        s3.open_output_stream("bucket/lake/x.parquet").write(b"x" * 10)
    message, code = describe_failure(caught.value)
    assert code == ExitCode.TRY_LATER, message
    assert not message.startswith("unexpected")


def test_a_dns_failure_is_try_later():
    with pytest.raises(socket.gaierror) as caught:
        socket.getaddrinfo("catalog.ainsdale.invalid", 443)
    message, code = describe_failure(caught.value)
    assert code == ExitCode.TRY_LATER and "again later" in message


def test_a_bug_is_still_unexpected():
    message, code = describe_failure(ValueError("no"))
    assert code == ExitCode.FAILED and message.startswith("unexpected ValueError")


def test_an_unreachable_sql_catalog_is_try_later_and_its_password_never_shown(tmp_path):
    catalog = f"postgresql+psycopg://etl:hunter2pw@127.0.0.1:{closed_port()}/lake"
    env = cli_env(
        {
            "AINSDALE_LAKE_CATALOG": catalog,
            "AINSDALE_PROCESSED_URI": str(tmp_path / "processed"),
            "AINSDALE_HOME": str(tmp_path / "home"),
            "AINSDALE_LOG_FORMAT": "json",
        }
    )  # fmt: skip  (no warehouse: a URI catalog is read without one, none embedded is made)
    done = run(["lake", "tables"], env, tmp_path)
    assert done.returncode == 75, done.stderr
    [line] = error_lines(done.stderr)
    assert "unexpected" not in line and "warehouse" not in line
    assert "hunter2pw" not in done.stdout + done.stderr


def test_a_bucket_folder_that_cannot_be_made_fails_check(tmp_path):
    env = cli_env({
        "AINSDALE_SOURCE_URL": "postgresql://u@127.0.0.1:1/x", "AINSDALE_INGEST_URI": "/proc/nope",
        "AINSDALE_HOME": str(tmp_path / "home"),
    })  # fmt: skip
    done = run(["check"], env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    [ingest] = [ln for ln in done.stdout.splitlines() if '"ingest bucket"' in ln]
    assert "/proc/nope" in ingest and "cannot be made" in ingest and '"ok": false' in ingest
    # and a command that would write there says so first, as a usage error
    extract = run(["extract"], env, tmp_path)
    assert extract.returncode == 2, extract.stderr
    [line] = error_lines(extract.stderr)
    assert "/proc/nope" in line and "cannot be written" in line


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("AINSDALE_SOURCE_URL", "postgresql://etl:hunter2pw@[::1/totesys", "IPv6"),
        ("AINSDALE_SOURCE_URL", "postgresql://etl:hunter2pw%zz@db/totesys", "'%'"),
        ("AINSDALE_WAREHOUSE_URL", "postgresql://etl:hunter2pw@db/wh?bogus=1", '"bogus"'),
        ("AINSDALE_SOURCE_URL", "postgresql://etl:hunter2pw@db:99999/totesys", "port"),
        ("AINSDALE_LAKE_CATALOG", "https://user:hunter2pw@[::1/catalog", "IPv6"),
        ("AINSDALE_LAKE_CATALOG", "postgresql+psycopg://etl:hunter2pw%g@db/lake", "'%'"),
    ],
)
def test_a_malformed_uri_is_a_usage_error_that_does_not_echo_it(variable, value, words, tmp_path):
    env = cli_env({variable: value, "AINSDALE_HOME": str(tmp_path / "home")})
    done = run(["check"], env, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = error_lines(done.stderr)
    assert variable in line and words in line
    assert "hunter2pw" not in done.stdout + done.stderr

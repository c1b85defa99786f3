"""Shared fixtures: real PostgreSQL databases (the server in AINSDALE_TEST_DATABASE_URL, else the
embedded one from pip), seeded totesys sources, and an environment pointing the CLI at them."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from ainsdale_etl.adapters.postgres import Database
from helpers.databases import SMALL_SCALE, with_database
from helpers.stand_ins import mocked_aws, tcp_listener


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("AINSDALE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from ainsdale_etl.adapters.embedded import embedded_server

    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemps, and would
    # delete a running server's data directory.
    home = Path(tempfile.mkdtemp(prefix="ainsdale-test-pg-"))
    server = embedded_server(home)
    yield str(server.get_uri("postgres"))
    server.cleanup()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def new_database_url(pg_admin_url: str) -> Iterator[Callable[[str], str]]:
    """A factory of empty, uniquely named databases, dropped at the end of the session."""
    created: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with adbc.connect(pg_admin_url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return with_database(pg_admin_url, name)

    yield make
    with adbc.connect(pg_admin_url, autocommit=True) as conn, conn.cursor() as cur:
        for name in created:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def source_url(new_database_url: Callable[[str], str]) -> str:
    """A freshly seeded totesys for a test that changes it."""
    from ainsdale_etl.ops.seed import seed

    url = new_database_url("totesys")
    seed(Database("source", SecretStr(url)), scale=SMALL_SCALE)
    return url


@pytest.fixture(scope="session")
def shared_source_url(new_database_url: Callable[[str], str]) -> str:
    """A seeded totesys that tests only read."""
    from ainsdale_etl.ops.seed import seed

    url = new_database_url("totesys_ro")
    seed(Database("source", SecretStr(url)), scale=0.05)
    return url


@pytest.fixture(autouse=True)
def _lake_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lake is its own tests' business (tests/test_lake*.py turn it on): every other run
    would pay for pyiceberg's import and eleven Iceberg commits it does not look at."""
    if "AINSDALE_LAKE_CATALOG" not in os.environ:
        monkeypatch.setenv("AINSDALE_LAKE_CATALOG", "none")


@pytest.fixture
def warehouse_url(new_database_url: Callable[[str], str]) -> str:
    return new_database_url("warehouse")


@pytest.fixture
def etl_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source_url: str, warehouse_url: str
) -> dict[str, str]:
    """AINSDALE_* settings for a run over a fresh source, warehouse and two local buckets."""
    env = {
        "AINSDALE_SOURCE_URL": source_url,
        "AINSDALE_WAREHOUSE_URL": warehouse_url,
        "AINSDALE_INGEST_URI": str(tmp_path / "ingest"),
        "AINSDALE_PROCESSED_URI": str(tmp_path / "processed"),
        "AINSDALE_HOME": str(tmp_path / "home"),
        "AINSDALE_LOG_FORMAT": "json",
        "AINSDALE_LAKE_CATALOG": "none",  # see _lake_off_by_default
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return env


@pytest.fixture
def lake_env(etl_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """etl_env with the lake on (its SQL catalog in the warehouse)."""
    monkeypatch.setenv("AINSDALE_LAKE_CATALOG", "sql")
    return etl_env | {"AINSDALE_LAKE_CATALOG": "sql"}


@pytest.fixture
def cli() -> Callable[..., object]:
    """Run the CLI in-process; fails the test on an unexpected exit code."""
    from ainsdale_etl.cli.app import app

    runner = CliRunner()

    def run(*args: str, expect: int = 0) -> object:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == expect, f"exit {result.exit_code}: {result.output}"
        return result

    return run


@pytest.fixture
def silent_port() -> Iterator[int]:
    with tcp_listener(hang_up=False) as port:
        yield port


@pytest.fixture
def fake_aws() -> Iterator[None]:
    with mocked_aws():
        yield


@pytest.fixture
def s3_buckets(etl_env: dict[str, str], fake_aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Moto's ingest and processed buckets, the settings pointing at them (the ingest one under
    a prefix, as production has it); the S3 client."""
    import boto3

    s3 = boto3.client("s3")
    for bucket in ("ingest-bucket", "processed-bucket"):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
    monkeypatch.setenv("AINSDALE_INGEST_URI", "s3://ingest-bucket/totesys")
    monkeypatch.setenv("AINSDALE_PROCESSED_URI", "s3://processed-bucket")
    return s3


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a local port, for what must reach AWS over HTTP (a subprocess)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stress loops run only under ``make stress`` (AINSDALE_TEST_STRESS=1)."""
    if os.environ.get("AINSDALE_TEST_STRESS") == "1":
        return
    skip = pytest.mark.skip(reason="a stress loop: run it with `make stress`")
    for item in items:
        if "stress" in item.keywords:
            item.add_marker(skip)

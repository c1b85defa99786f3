"""Shared fixtures: real PostgreSQL databases (the server in AINSDALE_TEST_DATABASE_URL, else the
embedded one from pip), seeded totesys sources, and an environment pointing the CLI at them."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import adbc_driver_postgresql.dbapi as adbc
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from ainsdale_etl.adapters.postgres import Database

SMALL_SCALE = 0.02  # ~220 sales orders: every code path, in well under a second


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` (works for TCP and unix-socket URIs)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


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
def cli() -> Callable[..., object]:
    """Run the CLI in-process; fails the test on an unexpected exit code."""
    from ainsdale_etl.cli.app import app

    runner = CliRunner()

    def run(*args: str, expect: int = 0) -> object:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == expect, f"exit {result.exit_code}: {result.output}"
        return result

    return run


def query(url: str, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    """Rows of one statement (numeric comes back as text: compare with Decimal)."""
    with adbc.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
    return rows


def rds_secret(url: str, password: str) -> dict[str, object]:
    """The RDS-format secret of a test database ``url``, carrying ``password`` (the test
    servers trust local connections, so any password is accepted)."""
    from urllib.parse import parse_qs

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return {
        "engine": "postgres",
        "host": parts.hostname or query["host"][0],  # a unix-socket dir for the embedded server
        "port": parts.port or int(query.get("port", ["5432"])[0]),
        "username": parts.username or "postgres",
        "password": password,
        "dbname": parts.path.lstrip("/"),
    }


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connections to it are refused)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@contextmanager
def tcp_listener(*, hang_up: bool) -> Iterator[int]:
    """The port of a server on 127.0.0.1 that accepts connections and then never says a word
    (a half-dead host, a black-holed security group), or (``hang_up``) closes them at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn = listener.accept()[0]
            except OSError:
                return
            if hang_up:
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for conn in held:
            conn.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    with tcp_listener(hang_up=False) as port:
        yield port


@contextmanager
def mocked_aws(region: str = "eu-west-2") -> Iterator[None]:
    """In-process moto for every AWS service, with fake credentials and a default region, and
    nothing of the developer's own AWS setup (profile, endpoint) in the way."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", region)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN",
                     "AWS_REGION"):  # fmt: skip
            env.delenv(name, raising=False)
        with mock_aws():
            yield


@pytest.fixture
def fake_aws() -> Iterator[None]:
    with mocked_aws():
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stress loops run only under ``make stress`` (AINSDALE_TEST_STRESS=1)."""
    if os.environ.get("AINSDALE_TEST_STRESS") == "1":
        return
    skip = pytest.mark.skip(reason="a stress loop: run it with `make stress`")
    for item in items:
        if "stress" in item.keywords:
            item.add_marker(skip)

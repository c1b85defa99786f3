"""Every wait has a deadline and wakes on a stop: a source that accepts connections and never
answers (a half-dead host, a black-holed security group) fails the attempt in connect_timeout,
and SIGTERM during a connect attempt or a retry's backoff ends the command within 5 s."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ainsdale_etl.adapters.deadlines import with_connection_defaults
from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.errors import DatabaseError
from helpers.processes import cli_env, error_lines, run, start
from helpers.stand_ins import tcp_listener


@pytest.fixture
def silent_source(silent_port: int) -> str:
    return f"postgresql://etl:secret@127.0.0.1:{silent_port}/totesys"


@pytest.fixture
def hanging_up_source() -> Iterator[str]:
    with tcp_listener(hang_up=True) as port:
        yield f"postgresql://etl:secret@127.0.0.1:{port}/totesys"


def _env(source: str, warehouse_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env({
        "AINSDALE_SOURCE_URL": source,
        "AINSDALE_WAREHOUSE_URL": warehouse_url,
        "AINSDALE_INGEST_URI": str(tmp_path / "ingest"),
        "AINSDALE_PROCESSED_URI": str(tmp_path / "processed"),
        "AINSDALE_HOME": str(tmp_path / "home"),
        "AINSDALE_LOG_FORMAT": "json",
    })  # fmt: skip


@pytest.fixture
def silent_env(silent_source: str, warehouse_url: str, tmp_path: Path) -> dict[str, str]:
    return _env(silent_source, warehouse_url, tmp_path)


def test_every_connection_gets_a_deadline_and_keepalives_unless_its_uri_sets_them():
    uri = with_connection_defaults("postgresql://u:p@h/db?sslmode=require", 7)
    assert uri.startswith("postgresql://u:p@h/db?sslmode=require&connect_timeout=7&keepalives=1")
    own = "postgresql://u@h/db?connect_timeout=3&options=-c%20x+y"
    assert "connect_timeout=3&options=-c%20x+y&keepalives=1" in with_connection_defaults(own)


def test_a_silent_source_fails_each_attempt_at_its_connect_timeout(silent_source):
    db = Database("source", SecretStr(silent_source), connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(DatabaseError) as caught, db.psycopg_connect():
        pass
    assert 1.5 < time.monotonic() - started < 6
    assert caught.value.transient and "secret" not in str(caught.value)


def test_run_all_against_a_silent_source_exits_75_in_seconds_not_minutes(silent_env, tmp_path):
    env = silent_env | {"AINSDALE_DB_CONNECT_TIMEOUT": "2"}  # 4 attempts of 2 s, and backoffs
    started = time.monotonic()
    done = run(["run-all"], env, tmp_path)
    assert done.returncode == 75, done.stderr
    assert time.monotonic() - started < 30
    [line] = error_lines(done.stderr)
    assert "source database" in line and "secret" not in line


def _stop_after_4_s(env: dict[str, str], tmp_path: Path) -> str:
    """run-all started, sent SIGTERM 4 s in; the one error line it ended with, in 5 s."""
    running = start(["run-all"], env, tmp_path)
    time.sleep(4)  # past start-up and the lock: waiting on the source
    assert running.poll() is None
    running.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, stderr = running.communicate(timeout=60)
    assert time.monotonic() - sent < 5, stderr
    assert running.returncode == 130, stderr
    [line] = error_lines(stderr)
    assert "stopped by SIGTERM" in line
    return line


def test_sigterm_during_a_connect_attempt_exits_130_within_5_s(silent_env, tmp_path):
    env = silent_env | {"AINSDALE_DB_CONNECT_TIMEOUT": "60"}  # its first attempt outlasts 4 s
    assert "while connecting" in _stop_after_4_s(env, tmp_path)


def test_sigterm_during_a_retry_backoff_exits_130_within_5_s(
    hanging_up_source, warehouse_url, tmp_path
):
    # Each attempt fails at once; the backoffs (0.5, 1, 2, 4, 8 s...) are where it waits.
    env = _env(hanging_up_source, warehouse_url, tmp_path) | {
        "AINSDALE_TEST_CONSTANTS": "DB_ATTEMPTS=20"  # still retrying 4 s in
    }
    assert "while waiting to retry" in _stop_after_4_s(env, tmp_path)


def test_a_read_the_source_never_answers_ends_at_its_deadline_with_75(cli, etl_env, monkeypatch):
    """A migration holds an ACCESS EXCLUSIVE lock on a table the extract reads: the read
    waits only as long as the table's size allows, and the next run, the lock gone, is fine."""
    import psycopg

    from ainsdale_etl.extract import deadlines

    monkeypatch.setattr(deadlines, "STATEMENT_FLOOR_MS", 1_000)
    with psycopg.connect(etl_env["AINSDALE_SOURCE_URL"]) as migration:
        migration.execute("LOCK TABLE design IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        result = cli("run-all", expect=75)
        assert time.monotonic() - started < 30
        assert "statement timeout" in result.stderr
        migration.rollback()
    cli("run-all")
    assert cli("verify").exit_code == 0

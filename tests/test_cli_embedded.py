"""``ainsdale-etl embedded``: the embedded default's databases, reachable from outside."""

from __future__ import annotations

import psycopg
import pytest

from helpers.processes import cli_env, error_lines, run


def _connects(uri: str) -> bool:
    try:
        with psycopg.connect(uri, connect_timeout=5) as conn:
            return conn.execute("SELECT current_database()").fetchone() is not None
    except psycopg.OperationalError:
        return False


def test_embedded_url_keeps_the_server_running_until_stop(tmp_path):
    env = cli_env({"AINSDALE_HOME": str(tmp_path / "home"), "AINSDALE_LOG_FORMAT": "json"})
    started = run(["embedded", "url", "warehouse"], env, tmp_path)
    assert started.returncode == 0, started.stderr
    uri = started.stdout.strip()
    assert uri.startswith("postgresql://") and "/warehouse" in uri
    assert _connects(uri), "the server stopped when `embedded url` exited"
    # Another command attaching to the server and ending does not stop it either.
    totesys = run(["embedded", "url", "totesys"], env, tmp_path).stdout.strip()
    assert run(["batches", "--json"], env, tmp_path).returncode == 0
    assert _connects(uri) and _connects(totesys)
    stopped = run(["embedded", "stop"], env, tmp_path)
    assert stopped.returncode == 0 and "embedded server stopped" in stopped.stdout
    assert stopped.stderr == ""
    assert not _connects(uri)
    again = run(["embedded", "stop"], env, tmp_path)
    assert "embedded server was not running" in again.stdout


@pytest.mark.parametrize("database", ["warehouse"])
def test_embedded_url_without_an_embedded_database_is_usage(etl_env, tmp_path, database):
    result = run(["embedded", "url", database], cli_env(etl_env), tmp_path)
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    assert "no embedded server" in line

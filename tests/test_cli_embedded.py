"""``ainsdale-etl embedded``: the embedded default's databases, reachable from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import psycopg
import pytest

from ainsdale_etl.core.registry import SOURCE_TABLES
from ainsdale_etl.runtime.shutdown import run_child
from helpers.processes import EXE, cli_env, error_lines, run, start


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


def _check(stdout: str, name: str) -> dict[str, object]:
    [found] = [c for c in json.loads(stdout)["checks"] if c["name"] == name]
    return found


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["batches"], 2),
        (["verify"], 2),
        (["report"], 2),
        (["extract", "--dry-run"], 2),
        (["migrate", "--dry-run"], 2),
        (["check"], 1),  # a failed check, in its table
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_a_command_that_only_reads_makes_no_embedded_server_in_a_strange_folder(
    cli, monkeypatch, tmp_path, args, code
):
    """Run from another folder with nothing configured: not an empty new server there, and
    an empty answer as if it were the pipeline's, but one line saying what to do."""
    for name in [n for n in os.environ if n.startswith("AINSDALE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    result = cli(*args, expect=code)
    home = tmp_path.resolve() / ".ainsdale"
    assert f"no embedded warehouse in {home}: run `ainsdale-etl demo`" in " ".join(
        result.output.split()  # the check table folds its lines
    )
    assert "AINSDALE_HOME" in result.output
    assert not (home / "pgdata").exists()


def test_check_probes_the_embedded_source_and_psql_takes_psql_s_own_arguments(tmp_path):
    env = cli_env({"AINSDALE_HOME": str(tmp_path / "home"), "AINSDALE_LOG_FORMAT": "json"})
    try:
        assert run(["embedded", "url", "totesys"], env, tmp_path).returncode == 0  # empty
        empty = run(["check", "--json"], env, tmp_path)
        assert empty.returncode == 1, empty.stderr
        source = _check(empty.stdout, "source")
        assert not source["ok"] and str(source["detail"]).startswith("no totesys tables")
        assert _check(empty.stdout, "warehouse")["ok"]  # probed: there, and empty

        assert run(["seed", "--scale", "0.01"], env, tmp_path).returncode == 0
        seeded = run(["check", "--json"], env, tmp_path)
        assert seeded.returncode == 0, seeded.stdout
        assert f"{len(SOURCE_TABLES)} tables readable" in str(
            _check(seeded.stdout, "source")["detail"]
        )
        assert _check(seeded.stdout, "source columns")["ok"]

        sql = "SELECT count(*) FROM currency"
        psql = run(["embedded", "psql", "totesys", "-At", "-c", sql], env, tmp_path)
        assert psql.returncode == 0, psql.stderr
        uri = run(["embedded", "url", "totesys"], env, tmp_path).stdout.strip()
        with psycopg.connect(uri) as conn:
            assert int(psql.stdout) == conn.execute(sql).fetchone()[0] > 0
        wrong = run(["embedded", "psql", "totesys", "-c", "SELECT nope"], env, tmp_path)
        assert wrong.returncode == 1 and "nope" in wrong.stderr  # psql's own exit code
        # No database named: the warehouse; psql's -q is psql's, not this CLI's --quiet.
        bare = run(["embedded", "psql", "-q", "-At", "-c", "SELECT current_database()"], env,
                   tmp_path)  # fmt: skip
        assert (bare.returncode, bare.stdout.strip()) == (0, "warehouse"), bare.stderr
        unknown = run(["embedded", "psql", "nope"], env, tmp_path)
        assert unknown.returncode == 2 and "'nope' is not one of totesys, warehouse" in (
            unknown.stderr
        )
    finally:
        run(["embedded", "stop"], env, tmp_path)


def test_sigterm_ends_embedded_psql_and_cancels_its_query(tmp_path):
    """`embedded psql` waited for psql with no regard for a stop: a SIGTERM was held until
    the query ended by itself. Now the command exits 130 within seconds, the statement psql
    ran is cancelled on the server rather than left running there, and the script's next one
    never runs (psql reading a script ends on the cancel: it does not go on)."""
    env = cli_env({"AINSDALE_HOME": str(tmp_path / "home")})
    script = tmp_path / "script.sql"
    script.write_text("SELECT pg_sleep(120);\nCREATE TABLE after_the_stop ();\n")
    try:
        uri = run(["embedded", "url", "totesys"], env, tmp_path).stdout.strip()
        psql = start(["embedded", "psql", "totesys", "-f", str(script)], env, tmp_path)
        with psycopg.connect(uri, autocommit=True) as watcher:
            sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
            deadline = time.monotonic() + 60
            while watcher.execute(sleeping).fetchone() != (1,):
                assert time.monotonic() < deadline and psql.poll() is None, psql.stderr
                time.sleep(0.1)
            psql.send_signal(signal.SIGTERM)
            try:
                _, stderr = psql.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                psql.kill()
                raise AssertionError("embedded psql kept running after SIGTERM") from None
            assert psql.returncode == 130, stderr
            [line] = error_lines(stderr)
            assert "stopped by SIGTERM while psql ran" in line
            time.sleep(1)  # the cancel is asynchronous on the server
            assert watcher.execute(sleeping).fetchone() == (0,)
            created = "SELECT to_regclass('after_the_stop') IS NOT NULL"
            assert watcher.execute(created).fetchone() == (False,)

            # Ctrl-C at a terminal reaches the whole process group: it is psql's, which cancels
            # its query and says so; the command ends with psql's code and no traceback.
            args = [EXE, "embedded", "psql", "totesys", "-c", "SELECT pg_sleep(120)"]
            group = subprocess.Popen(args, env=env, cwd=tmp_path, text=True, stderr=subprocess.PIPE,
                                     start_new_session=True)  # fmt: skip
            while watcher.execute(sleeping).fetchone() != (1,):
                assert time.monotonic() < deadline + 60 and group.poll() is None
                time.sleep(0.1)
            os.killpg(group.pid, signal.SIGINT)
            _, stderr = group.communicate(timeout=15)
            assert group.returncode == 1 and "canceling statement" in stderr, stderr
            assert "Traceback" not in stderr
    finally:
        run(["embedded", "stop"], env, tmp_path)


def test_a_child_s_exit_code_passes_through_and_a_signal_reads_as_a_shell_says():
    """typer.Exit(-15) would exit 241: a psql ended by SIGTERM exits 143, as in a shell."""
    assert run_child(["sh", "-c", "exit 3"], "sh") == 3
    assert run_child(["sh", "-c", "kill -TERM $$"], "sh") == 143

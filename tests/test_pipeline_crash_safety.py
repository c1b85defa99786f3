"""Crash safety and mutual exclusion, on the real CLI as a subprocess: a run killed at any point
leaves nothing half-visible, the next run completes, and the warehouse ends exactly as an
uninterrupted run leaves it; two runs at once never interleave."""

from __future__ import annotations

import json
import signal
import time

import adbc_driver_postgresql.dbapi as adbc
import pytest
from pydantic import SecretStr

from ainsdale_etl.core.settings import Settings
from ainsdale_etl.pipeline.binding import prepare_warehouse
from ainsdale_etl.pipeline.run_all import run_all
from ainsdale_etl.runtime.context import Context
from ainsdale_etl.runtime.lock import PIPELINE_LOCK_KEY
from helpers.contents import ledger, manifests, warehouse_contents
from helpers.databases import query
from helpers.processes import cli_env, error_lines, run, start


@pytest.fixture(scope="session")
def reference_warehouse(shared_source_url, new_database_url, tmp_path_factory) -> dict:
    """What an uninterrupted run-all over the shared source puts in a warehouse."""
    url = new_database_url("reference")
    buckets = tmp_path_factory.mktemp("reference")
    settings = Settings(
        source_url=SecretStr(shared_source_url),
        warehouse_url=SecretStr(url),
        ingest_uri=str(buckets / "ingest"),
        processed_uri=str(buckets / "processed"),
        home=buckets / "home",
    )
    ctx = Context(settings)
    prepare_warehouse(ctx)
    run_all(ctx)
    contents = warehouse_contents(url)
    assert contents["fact_sales_order"], "the reference run loaded nothing"
    return contents


@pytest.fixture
def crash_env(shared_source_url, new_database_url, tmp_path) -> dict[str, str]:
    return cli_env({
        "AINSDALE_SOURCE_URL": shared_source_url,
        "AINSDALE_WAREHOUSE_URL": new_database_url("crash"),
        "AINSDALE_INGEST_URI": str(tmp_path / "ingest"),
        "AINSDALE_PROCESSED_URI": str(tmp_path / "processed"),
        "AINSDALE_HOME": str(tmp_path / "home"),
        "AINSDALE_LOG_FORMAT": "json",
    })  # fmt: skip


# Where a run dies. A batch here writes 23 ingest objects (11 CSVs and 11 id sets for the key
# check, then the manifest that commits it) and 16 processed ones (11 Parquet, 4 state
# snapshots, then the manifest).
CRASH_POINTS = {
    "first CSV written": "object_written:kill:1",
    "mid extract": "object_written:kill:10",
    # The ledger records a step after the step's commit: killed in between, the next run
    # adopts the committed extract, and transforms a committed transform again.
    "extract committed, not in the ledger": "object_written:kill:23",
    "mid transform": "object_written:kill:31",
    "transform's state written, no manifest": "object_written:kill:38",
    "transform committed, not in the ledger": "object_written:kill:39",
    "inside the load transaction": "table_merged:kill:4",
    "after the load committed": "batch_loaded:kill:1",
}


@pytest.mark.parametrize("fault", CRASH_POINTS.values(), ids=CRASH_POINTS.keys())
def test_a_run_killed_anywhere_is_completed_by_the_next(
    fault, crash_env, reference_warehouse, tmp_path
):
    killed = run(["run-all"], crash_env | {"AINSDALE_FAULTS": fault}, tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    # Nothing half-visible: either the batch is in the ledger with all its rows, or the
    # warehouse holds none of it.
    warehouse = crash_env["AINSDALE_WAREHOUSE_URL"]
    after_crash = warehouse_contents(warehouse)
    if ledger(warehouse):
        assert after_crash == reference_warehouse
    else:
        assert all(rows == [] for rows in after_crash.values())

    again = run(["run-all"], crash_env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert warehouse_contents(warehouse) == reference_warehouse
    assert len(manifests(tmp_path / "ingest")) == 1  # the killed extract committed at most one
    # And a run after that finds nothing more to do.
    assert run(["run-all"], crash_env, tmp_path).returncode == 0
    assert warehouse_contents(warehouse) == reference_warehouse


@pytest.mark.parametrize(
    ("fault", "where"),
    [("object_written:term:3", "during the extract"), ("table_merged:term:2", "while loading")],
)
def test_sigterm_stops_at_a_safe_point_with_exit_130(
    fault, where, crash_env, reference_warehouse, tmp_path
):
    stopped = run(["run-all"], crash_env | {"AINSDALE_FAULTS": fault}, tmp_path)
    assert stopped.returncode == 130, stopped.stderr
    [line] = error_lines(stopped.stderr)
    assert "stopped by SIGTERM" in line and where in line and "rerun" in line
    assert "Traceback" not in stopped.stderr
    warehouse = crash_env["AINSDALE_WAREHOUSE_URL"]
    assert ledger(warehouse) == []
    assert all(rows == [] for rows in warehouse_contents(warehouse).values())

    again = run(["run-all"], crash_env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert warehouse_contents(warehouse) == reference_warehouse


def test_a_second_run_exits_75_while_another_holds_the_lock(
    crash_env, reference_warehouse, tmp_path
):
    warehouse = crash_env["AINSDALE_WAREHOUSE_URL"]
    # The test holds the lock itself, as a running pipeline would, for as long as it needs.
    holder = adbc.connect(warehouse, autocommit=True)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock($1)", [PIPELINE_LOCK_KEY])
            cur.fetchall()
        for command in (["run-all"], ["load"], ["extract"], ["transform"]):
            second = run(command, crash_env, tmp_path)
            assert second.returncode == 75, second.stderr
            [line] = error_lines(second.stderr)
            assert "holds the pipeline lock" in line and "--wait" in line
        assert ledger(warehouse) == [] and manifests(tmp_path / "ingest") == []
        # Read-only commands are not blocked by a run in progress.
        assert run(["batches", "--json"], crash_env, tmp_path).returncode == 0
        # A run that may wait queues behind the holder and runs once it lets go.
        queued = start(["run-all", "--wait", "120"], crash_env, tmp_path)
        time.sleep(1)
        assert queued.poll() is None, "the queued run did not wait for the lock"
    finally:
        holder.close()
    _, stderr = queued.communicate(timeout=180)
    assert queued.returncode == 0, stderr
    assert warehouse_contents(warehouse) == reference_warehouse


def test_two_runs_started_together_load_everything_once(crash_env, reference_warehouse, tmp_path):
    runs = [start(["run-all", "--wait", "120"], crash_env, tmp_path) for _ in range(2)]
    for process in runs:
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
    assert warehouse_contents(crash_env["AINSDALE_WAREHOUSE_URL"]) == reference_warehouse
    assert len(manifests(tmp_path / "ingest")) == 1  # the second found no changes


def foreign_keys(warehouse: str) -> list[tuple[object, ...]]:
    return query(warehouse, "SELECT conname, convalidated FROM pg_constraint "
                            "WHERE contype = 'f' ORDER BY 1")  # fmt: skip


def test_the_bulk_load_path_gives_the_same_warehouse_with_every_key_validated(
    crash_env, reference_warehouse, tmp_path
):
    bulk = crash_env | {"AINSDALE_TEST_CONSTANTS": "BULK_MIN_ROWS=1"}
    warehouse = crash_env["AINSDALE_WAREHOUSE_URL"]
    for step in ("extract", "transform"):
        assert run([step], bulk, tmp_path).returncode == 0
    # Killed while the foreign keys that point at the first dimension are dropped (loaded on
    # its own, the load takes dimensions first): they come back with the rollback, since
    # PostgreSQL's DDL is transactional.
    killed = run(["load"], bulk | {"AINSDALE_FAULTS": "foreign_keys_dropped:kill:1"}, tmp_path)
    assert killed.returncode == -signal.SIGKILL
    keys = foreign_keys(warehouse)
    assert len(keys) == 24 and all(valid for _, valid in keys)
    assert ledger(warehouse) == []

    done = run(["run-all"], bulk, tmp_path)
    assert done.returncode == 0, done.stderr
    paths = {
        event["table"]: event["path"]
        for event in map(json.loads, done.stdout.splitlines())
        if event["event"] == "table_loaded"
    }
    assert set(paths.values()) == {"bulk"} and len(paths) == 11  # every table starts empty
    assert warehouse_contents(warehouse) == reference_warehouse
    assert foreign_keys(warehouse) == keys

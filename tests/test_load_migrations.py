"""Warehouse migrations: a new warehouse is made by them, a warehouse of the release before
schema versions is upgraded with its data, one newer than the tool is refused, and a batch an
older release wrote still transforms and loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ainsdale_etl.adapters.storage.local import LocalStorage
from ainsdale_etl.core.batches import read_manifest
from ainsdale_etl.core.registry import SCHEMA_VERSION, STAR_TABLES
from ainsdale_etl.load.ddl import (
    as_recorded_view,
    current_view_ddl,
    historied,
    history_ddl,
    table_ddl,
)
from ainsdale_etl.load.migrate import MIGRATIONS
from helpers.databases import query, run_script

PREVIOUS = Path(__file__).parent / "fixtures" / "previous_release"
OLD_BATCH = "20261201T113817697738Z"


@pytest.fixture
def wh_env(monkeypatch, tmp_path, warehouse_url):
    """Settings for commands that need only the warehouse (and buckets for the old batch)."""
    for name, value in {
        "AINSDALE_SOURCE_URL": warehouse_url,  # never read by these commands
        "AINSDALE_WAREHOUSE_URL": warehouse_url,
        "AINSDALE_INGEST_URI": str(tmp_path / "ingest"),
        "AINSDALE_PROCESSED_URI": str(tmp_path / "processed"),
        "AINSDALE_HOME": str(tmp_path / "home"),
        "AINSDALE_LOG_FORMAT": "json",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return warehouse_url


def versions(url: str) -> list[tuple[object, ...]]:
    return query(url, "SELECT version, baseline FROM ainsdale_meta.schema_version ORDER BY 1")


def results(output: str) -> list[str]:
    return [json.loads(ln)["message"] for ln in output.splitlines() if '"event": "result"' in ln]


def test_the_migrations_end_at_the_registrys_version():
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


def test_dry_run_prints_the_sql_and_writes_nothing_then_migrate_creates(cli, wh_env):
    out = cli("migrate", "--dry-run").output
    assert 'CREATE TABLE IF NOT EXISTS "fact_payment"' in out
    assert "-- migration 0002_ledger_schema_version" in out
    assert results(out) == [
        f"would migrate the warehouse's schema from version 0 to {SCHEMA_VERSION}"
    ]
    assert query(
        wh_env,
        "SELECT count(*) FROM pg_tables WHERE schemaname <> 'pg_catalog' "
        "AND schemaname <> 'information_schema'",
    ) == [(0,)]
    cli("migrate")
    assert versions(wh_env) == [(v, False) for v in range(1, SCHEMA_VERSION + 1)]
    again = results(cli("migrate").output)
    assert again == [
        f"the warehouse's schema is at version {SCHEMA_VERSION}, this release's: nothing to do"
    ]


def test_the_migrated_star_tables_are_the_registrys(cli, wh_env):
    """A registry change without its migration fails here: the migrated star tables are
    compared with those the registry's DDL creates, column by column, constraint by constraint."""
    cli("migrate")
    statements = [table_ddl(t) for t in STAR_TABLES.values()]
    statements += [s for dim in historied() for s in history_ddl(dim)]  # beside the spec's
    ddl = ";\n".join(statements)
    run_script(wh_env, f"CREATE SCHEMA registry; SET search_path = registry; {ddl}")

    def shape(schema: str) -> list[tuple[object, ...]]:
        columns = query(
            wh_env,
            "SELECT table_name, column_name, ordinal_position, data_type, is_nullable, "
            "coalesce(character_maximum_length, numeric_precision), numeric_scale, is_identity "
            "FROM information_schema.columns c WHERE table_schema = $1 AND EXISTS ("
            "SELECT FROM information_schema.tables t WHERE t.table_schema = c.table_schema "
            "AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE') ORDER BY 1, 3",
            [schema],
        )
        constraints = query(
            wh_env,
            "SELECT c.conrelid::regclass::text, c.conname, "
            "pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.connamespace = $1::regnamespace ORDER BY 1, 2",
            [schema],
        )
        unqualified = [tuple(str(v).replace(f"{schema}.", "") for v in c) for c in constraints]
        return [*columns, *unqualified]

    assert shape("public") == shape("registry")


@pytest.mark.parametrize("fact", [t for t in STAR_TABLES.values() if t.name.startswith("fact_")])
def test_the_migrated_views_are_the_registrys(fact):
    """The warehouse's views are frozen in the migration that last made them; the lake's
    Athena views and dbt's sources are built from the registry's joins now. A change to those
    joins without a migration that makes the views again fails here, before the lake and the
    warehouse label the same column differently."""
    for view in (current_view_ddl(fact), as_recorded_view(fact)):
        name = view.split(" AS", 1)[0]  # CREATE OR REPLACE VIEW "<name>"
        newest = [m for m in MIGRATIONS if name in m.sql][-1]
        assert view in newest.statements, f"{name}: migration {newest.version} differs"


def test_a_warehouse_of_the_previous_release_is_upgraded_with_its_data(cli, wh_env, tmp_path):
    run_script(wh_env, (PREVIOUS / "warehouse.sql").read_text())  # as that release left it
    out = cli("migrate", "--dry-run").output
    assert "-- Version 1 (baseline)" in out and "ADD COLUMN IF NOT EXISTS schema_version" in out
    assert query(wh_env, "SELECT to_regclass('ainsdale_meta.schema_version')") == [(None,)]
    assert results(cli("migrate").output) == [
        f"migrated the warehouse's schema from version 1 to {SCHEMA_VERSION}"
    ]
    assert versions(wh_env) == [(1, True), *((v, False) for v in range(2, SCHEMA_VERSION + 1))]
    assert query(
        wh_env, "SELECT batch_id, rows::text, schema_version FROM ainsdale_meta.loaded_batch"
    ) == [("20261101T090000000000Z", '{"dim_currency": 1}', None)]
    assert query(wh_env, "SELECT currency_code FROM dim_currency WHERE currency_id = 99") == [
        ("CHF",)
    ]

    # A batch that release extracted still transforms and loads into the upgraded warehouse.
    shutil.copytree(PREVIOUS / "ingest", tmp_path / "ingest")
    assert read_manifest(LocalStorage(tmp_path / "ingest"), OLD_BATCH).schema_version == 1
    cli("transform")
    cli("load")
    assert query(
        wh_env,
        "SELECT schema_version FROM ainsdale_meta.loaded_batch WHERE batch_id = $1",
        [OLD_BATCH],
    ) == [(SCHEMA_VERSION,)]  # its Parquet, written by this release
    assert query(wh_env, "SELECT count(*) FROM fact_sales_order") == [(11,)]
    [parquet] = (tmp_path / "processed").rglob(f"{OLD_BATCH}_fact_sales_order.parquet")
    metadata = pq.ParquetFile(parquet).metadata.metadata
    assert metadata[b"ainsdale_etl.schema_version"] == str(SCHEMA_VERSION).encode()
    manifest = next((tmp_path / "processed").rglob("*_manifest.json")).read_text()
    assert json.loads(manifest)["schema_version"] == SCHEMA_VERSION


def test_a_warehouse_newer_than_the_tool_is_refused_in_one_line(cli, wh_env):
    cli("migrate")
    query(wh_env, "INSERT INTO ainsdale_meta.schema_version (version, name) VALUES (99, 'later')")
    for command in ("migrate", "load"):
        result = cli(command, expect=2)
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert errors == [
            "error: the warehouse's schema is version 99, newer than this ainsdale-etl's "
            f"({SCHEMA_VERSION}): a later release migrated it; run that release (or newer)"
        ]
        assert "Traceback" not in result.output


# Migration 0006's reverse (but for 0005's *_current views, which the next step drops): no
# dimension history.
_BACK_TO_VERSION_5 = """
DROP VIEW fact_sales_order_as_recorded, fact_purchase_order_as_recorded, fact_payment_as_recorded;
DROP VIEW fact_sales_order_current, fact_purchase_order_current, fact_payment_current;
DROP TABLE dim_staff_history, dim_location_history, dim_design_history, dim_currency_history,
    dim_counterparty_history, dim_payment_type_history, dim_transaction_history,
    ainsdale_meta.dim_deletion, ainsdale_meta.fact_recorded;
DROP FUNCTION ainsdale_meta.batch_time;
DELETE FROM ainsdale_meta.schema_version WHERE version = 6;
"""

# What version 4 kept instead of row_version (migration 0005's reverse), rebuilt from a
# warehouse this release loaded, with a deletion record the old release never cleared.
_BACK_TO_VERSION_4 = (
    _BACK_TO_VERSION_5
    + """
CREATE TABLE ainsdale_meta.dim_version AS
    SELECT star_table AS dim, id, batch_id, changed_at FROM ainsdale_meta.row_version
    WHERE star_table LIKE 'dim\\_%' AND NOT deleted;
CREATE TABLE ainsdale_meta.deleted_row AS
    SELECT star_table, id, 'x'::text AS source_table, batch_id, changed_at AS detected_at,
        true AS kept
    FROM ainsdale_meta.row_version WHERE deleted;
INSERT INTO ainsdale_meta.deleted_row
    SELECT 'dim_design', design_id, 'design', '00000000T000000000000Z', now(), false
    FROM dim_design WHERE design_id = (SELECT max(design_id) FROM dim_design);
DROP TABLE ainsdale_meta.row_version;
DELETE FROM ainsdale_meta.schema_version WHERE version = 5;
"""
)


def test_a_version_4_warehouse_gets_row_versions_from_its_records(cli, etl_env):
    """Facts with several versions get their newest by last_updated (all that version 4
    knew), deletions stay deletions, and a deletion a later version superseded does not."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    for value in (1, 2):
        query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
                   "last_updated = localtimestamp(3) WHERE sales_order_id % 3 = $1",
              [value])  # fmt: skip
        cli("run-all")
    order = query(src, "SELECT max(sales_order_id) FROM sales_order")[0][0]
    query(src, "DELETE FROM sales_order WHERE sales_order_id = $1", [order])
    cli("run-all")
    # The spec's columns (the batch that recorded a version is what version 4 never knew).
    spec = ", ".join(["sales_record_id", *STAR_TABLES["fact_sales_order"].column_names])
    current = f"SELECT {spec} FROM fact_sales_order_current ORDER BY 1"
    before = query(wh, current)
    run_script(wh, _BACK_TO_VERSION_4)
    assert query(wh, "SELECT to_regclass('ainsdale_meta.row_version')") == [(None,)]
    assert results(cli("migrate").output) == [
        f"migrated the warehouse's schema from version 4 to {SCHEMA_VERSION}"
    ]
    assert query(wh, current) == before
    assert query(
        wh,
        "SELECT deleted FROM ainsdale_meta.row_version "
        "WHERE star_table = 'fact_sales_order' AND id = $1",
        [order],
    ) == [(True,)]
    assert query(
        wh,
        "SELECT count(*) FROM ainsdale_meta.row_version WHERE star_table = 'dim_design' "
        "AND deleted",
    ) == [(0,)]  # its record was older than the design's version
    report = json.loads(cli("verify", "--json").stdout)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]

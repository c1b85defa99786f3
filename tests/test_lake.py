"""The lake: the star as Iceberg tables, each brought to what its warehouse table holds, agreeing
with the warehouse (pyiceberg's SQL catalog in the warehouse over a local folder, as `make demo`
builds it)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.registry import LAKE_TABLES, STAR_TABLES
from ainsdale_etl.core.settings import load_settings
from ainsdale_etl.lake.catalog import existing_lake_table, open_catalog
from ainsdale_etl.lake.ledger import batches_held, snapshot_of
from ainsdale_etl.lake.schema import BATCH_PROPERTY
from helpers.databases import query
from helpers.processes import cli_env, extract_an_order_before_its_design, run


def lake_tables():
    settings = load_settings()
    warehouse = Database("warehouse", SecretStr(str(settings.warehouse_url.get_secret_value())))
    catalog = open_catalog(settings, warehouse)
    return {name: existing_lake_table(catalog, settings, t) for name, t in STAR_TABLES.items()}


def counts(wh_url):
    return {n: query(wh_url, f'SELECT count(*) FROM "{n}"')[0][0] for n in STAR_TABLES}


def batch_snapshots(ice):
    """batch id -> how many commits wrote it (each ends with one append, even an empty one; a
    dimension's overwrite is a delete, or an overwrite, then that append, in one commit)."""
    seen = {}
    for s in ice.metadata.snapshots:
        batch = s.summary.additional_properties.get(BATCH_PROPERTY)
        if batch and s.summary.operation.value == "append":
            seen[batch] = seen.get(batch, 0) + 1
    return seen


def change_a_design_and_an_order(src, name="Renamed"):
    query(src, "UPDATE design SET design_name = $1, last_updated = localtimestamp(3) "
               "WHERE design_id = (SELECT min(design_id) FROM design)", [name])  # fmt: skip
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
               "last_updated = localtimestamp(3) WHERE sales_order_id = "
               "(SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip


def test_run_all_builds_the_star_and_verify_reconciles_it(cli, lake_env):
    cli("run-all")
    wh = counts(lake_env["AINSDALE_WAREHOUSE_URL"])
    for name, ice in lake_tables().items():
        assert ice is not None, name
        assert len(ice.scan().to_arrow()) == wh[name], name
        assert len(batches_held(ice)) == 1
    fact = lake_tables()["fact_sales_order"]
    assert str(fact.schema().find_field("unit_price").field_type) == "decimal(10, 2)"
    assert [f.name for f in fact.spec().fields] == ["created_year"]
    report = json.loads(cli("verify", "--json").stdout)
    lake_checks = [c for c in report["checks"] if c["mart"].startswith("lake ")]
    assert len(lake_checks) == 2 * 11 + 3 and report["ok"], report


def test_an_incremental_batch_is_one_snapshot_of_the_tables_it_changed_with_time_travel(
    cli, lake_env
):
    src, wh = lake_env["AINSDALE_SOURCE_URL"], lake_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    first = counts(wh)
    change_a_design_and_an_order(src)
    cli("run-all")
    b1, b2 = [r[0] for r in query(wh, "SELECT batch_id FROM ainsdale_meta.loaded_batch ORDER BY 1")]
    tables = lake_tables()
    touched = {n for n, ice in tables.items() if b2 in batches_held(ice)}
    assert {"dim_design", "fact_sales_order"} <= touched <= {"dim_design", "fact_sales_order",
                                                             "dim_date"}  # fmt: skip
    sales = tables["fact_sales_order"]
    assert len(sales.scan().to_arrow()) == first["fact_sales_order"] + 1  # a new version
    as_of_b1 = sales.scan(snapshot_id=snapshot_of(sales, b1)).to_arrow()
    assert len(as_of_b1) == first["fact_sales_order"]
    design = tables["dim_design"].scan().to_arrow().to_pylist()
    assert len(design) == first["dim_design"]  # upserted, not appended
    assert "Renamed" in {d["design_name"] for d in design}
    # Nothing new: a sync writes nothing, and commits nothing.
    before = {n: len(ice.metadata.snapshots) for n, ice in tables.items()}
    cli("lake", "sync")
    assert {n: len(ice.metadata.snapshots) for n, ice in lake_tables().items()} == before
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_an_older_batch_loaded_after_a_newer_one_leaves_the_newer_value_and_a_reload_adds_nothing(
    cli, lake_env
):
    src = lake_env["AINSDALE_SOURCE_URL"]
    cli("run-all")
    change_a_design_and_an_order(src, "Newest name")
    cli("extract")
    query(src, "UPDATE sales_order SET units_sold = 1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = (SELECT max(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("extract")
    cli("transform")
    batches = sorted(p.name.split("_")[0] for p in Path(lake_env["AINSDALE_INGEST_URI"]).glob(
        "data/*/*/*/*/*_manifest.json"))  # fmt: skip
    _, b2, b3 = batches
    cli("load", "--batch-id", b3)
    cli("load", "--batch-id", b2)
    names = {d["design_name"] for d in lake_tables()["dim_design"].scan().to_arrow().to_pylist()}
    assert "Newest name" in names
    before = {n: len(ice.metadata.snapshots) for n, ice in lake_tables().items()}
    cli("load", "--batch-id", b2, "--force")  # changes nothing in the warehouse: nor the lake
    assert {n: len(ice.metadata.snapshots) for n, ice in lake_tables().items()} == before
    for name in STAR_TABLES:
        lake, warehouse = lake_and_warehouse_rows(lake_env["AINSDALE_WAREHOUSE_URL"], name)
        assert lake == warehouse, name
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_a_run_killed_between_two_tables_commits_is_completed_once_by_the_next(lake_env, tmp_path):
    env = cli_env(lake_env)
    killed = run(["run-all"], env | {"AINSDALE_FAULTS": "lake_table_written:kill:3"}, tmp_path)
    assert killed.returncode == -9, killed.stderr
    held = {n: bool(batches_held(ice)) for n, ice in lake_tables().items() if ice is not None}
    # Killed at the third commit; with two writers the other may have made a fourth.
    assert 3 <= sum(held.values()) <= 4
    done = run(["load"], env, tmp_path)  # nothing to load: the lake catches up
    assert done.returncode == 0, done.stderr
    for ice in lake_tables().values():
        assert list(batch_snapshots(ice).values()) == [1]
    verified = run(["verify", "--json"], env, tmp_path)
    assert json.loads(verified.stdout)["ok"], verified.stdout


def test_an_independent_reader_agrees_with_the_warehouse(cli, lake_env):
    """DuckDB's iceberg extension (from its PyPI wheel: no download) reads the lake's metadata
    and data files on its own."""
    duckdb = pytest.importorskip("duckdb")
    import duckdb_ext

    src, wh = lake_env["AINSDALE_SOURCE_URL"], lake_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    change_a_design_and_an_order(src)
    cli("run-all")
    extensions = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(config={"extension_directory": str(extensions)})
    con.execute("LOAD iceberg")
    ice = lake_tables()["fact_sales_order"]
    lake = con.execute(
        "SELECT count(*), sum(units_sold * unit_price) FROM iceberg_scan(?)",
        [ice.metadata_location],
    ).fetchone()
    expected = query(wh, "SELECT count(*), sum(units_sold * unit_price)::text "
                         "FROM fact_sales_order")[0]  # fmt: skip
    assert (lake[0], Decimal(lake[1])) == (expected[0], Decimal(expected[1]))


def test_maintain_compacts_and_expires_and_the_lake_still_agrees(cli, lake_env, monkeypatch):
    src = lake_env["AINSDALE_SOURCE_URL"]
    cli("run-all")
    for name in ("One", "Two"):
        change_a_design_and_an_order(src, name)
        cli("run-all")
    files_before = {n: len(ice.inspect.files()) for n, ice in lake_tables().items()}
    sales_years = len({f["partition"]["created_year"] for f in lake_tables()[
        "fact_sales_order"].inspect.files().to_pylist()})  # fmt: skip
    assert files_before["fact_sales_order"] > sales_years  # the two versions' appends
    kept = cli("lake", "maintain").stdout  # the default keeps 30 days of time travel
    assert "lake maintained: 0 snapshots expired" in kept
    expired = cli("lake", "maintain", "--retention-days", "0").stdout
    assert "lake maintained: 0 snapshots" not in expired
    tables = lake_tables()
    assert len(tables["fact_sales_order"].inspect.files()) == sales_years
    assert all(len(ice.metadata.snapshots) <= 2 for ice in tables.values())  # delete + append
    processed = Path(lake_env["AINSDALE_PROCESSED_URI"])
    on_disk = len(list((processed / "lake" / "fact_sales_order" / "data").rglob("*.parquet")))
    assert on_disk == sales_years
    cli("lake", "sync")  # expired batches are not written again
    assert all(len(ice.metadata.snapshots) <= 2 for ice in lake_tables().values())
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_the_embedded_catalog_is_pyiceberg_s_sql_catalog_in_the_warehouse(cli, lake_env, tmp_path):
    """pyiceberg's own SqlCatalog, in the warehouse's ainsdale_lake schema (what the README
    shows): nothing is kept in the directory the command runs in."""
    from pyiceberg.catalog.sql import SqlCatalog

    cli("run-all")
    listed = json.loads(cli("lake", "tables", "--json").stdout)
    assert [t["name"] for t in listed] == list(LAKE_TABLES)
    assert not (Path(lake_env["AINSDALE_HOME"]) / "lake").exists()
    url = lake_env["AINSDALE_WAREHOUSE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    options = "options=-csearch_path%3Dainsdale_lake"
    theirs = SqlCatalog("ainsdale", uri=f"{url}{'&' if '?' in url else '?'}{options}")
    sales = theirs.load_table("ainsdale.fact_sales_order")
    wh = lake_env["AINSDALE_WAREHOUSE_URL"]
    assert len(sales.scan().to_arrow()) == counts(wh)["fact_sales_order"]
    assert sorted(t[1] for t in theirs.list_tables("ainsdale")) == sorted(LAKE_TABLES)


def test_a_placeholder_reaches_the_lake_and_the_real_row_replaces_it(cli, lake_env):
    """An early-arriving fact's dimension row: the warehouse's placeholder, then the real one."""
    src = lake_env["AINSDALE_SOURCE_URL"]
    cli("run-all")
    extract_an_order_before_its_design(cli, src)
    cli("transform")
    cli("load")

    def design_9100():
        rows = lake_tables()["dim_design"].scan(row_filter="design_id = 9100").to_arrow()
        return [r["design_name"] for r in rows.to_pylist()]

    assert design_9100() == ["unknown"]
    cli("run-all")
    assert design_9100() == ["Late"]
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def lake_and_warehouse_rows(wh, name):
    """Every row of one star table in the lake and in the warehouse, as text, in key order."""
    from ainsdale_etl.lake.schema import lake_columns

    table = STAR_TABLES[name]
    columns = lake_columns(table)
    key = columns[0] if table.surrogate_key else table.key[0]
    lake = lake_tables()[name].scan().to_arrow().select(columns).sort_by(key).to_pylist()
    listed = ", ".join(f'"{c}"' for c in columns)
    warehouse = query(wh, f'SELECT {listed} FROM "{name}" ORDER BY "{key}"')
    as_text = [tuple(str(v) for v in row.values()) for row in lake]
    return as_text, [tuple(str(v) for v in row) for row in warehouse]


def test_rows_a_bulk_load_keyed_reach_the_lake_from_their_object_and_later_keys_follow_them(
    cli, lake_env, monkeypatch
):
    """An initial load gives each fact's rows their keys in the object's order and records the
    range, so the lake writes them from the object: equal to the warehouse row for row, keys
    and all, read a few rows at a time (numbered on across the chunks, in one commit). A later
    version gets the next key, and a forced reload adds nothing."""
    monkeypatch.setattr("ainsdale_etl.load.bulk.BULK_MIN_ROWS", 1)
    monkeypatch.setattr("ainsdale_etl.lake.objects.CHUNK_ROWS", 7)
    src, wh = lake_env["AINSDALE_SOURCE_URL"], lake_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    ranges = query(wh, "SELECT star_table, first_key, rows FROM ainsdale_meta.fact_key_range")
    assert {r[0] for r in ranges} == {n for n, t in STAR_TABLES.items() if t.is_fact}
    for name, _first, rows in ranges:
        assert rows == counts(wh)[name]
    for name in STAR_TABLES:
        lake, warehouse = lake_and_warehouse_rows(wh, name)
        assert lake == warehouse, name
    for ice in lake_tables().values():
        assert list(batch_snapshots(ice).values()) == [1]
    sales_rows = counts(wh)["fact_sales_order"]
    change_a_design_and_an_order(src)
    cli("run-all")
    newest = query(wh, "SELECT max(sales_record_id) FROM fact_sales_order")[0][0]
    assert newest == sales_rows + 1  # after the range, not inside it
    batch = query(wh, "SELECT min(batch_id) FROM ainsdale_meta.loaded_batch")[0][0]
    cli("load", "--batch-id", batch, "--force")
    for name in STAR_TABLES:
        lake, warehouse = lake_and_warehouse_rows(wh, name)
        assert lake == warehouse, name
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_a_lake_deleted_by_hand_is_rebuilt_whole_by_the_next_run(cli, lake_env):
    """Issue #28, case 2: its folder removed by hand, the lake wedged every command. Now
    verify names it and the repair, `lake tables` lists what is left, and the next run, even
    with nothing to load, rebuilds every table from the warehouse, saying so."""
    import shutil

    src, wh = lake_env["AINSDALE_SOURCE_URL"], lake_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    shutil.rmtree(Path(lake_env["AINSDALE_PROCESSED_URI"]) / "lake")
    assert json.loads(cli("lake", "tables", "--json").stdout) == []
    failed = json.loads(cli("verify", "--json", expect=1).stdout)
    assert any("lake sync" in c.get("detail", "") for c in failed["checks"] if not c["ok"])
    out = cli("run-all").output  # nothing to load: the lake gets all eleven back
    assert '"no_changes"' in out
    assert out.count('"kind": "lake_table_rebuilt"') == len(LAKE_TABLES)
    change_a_design_and_an_order(src)
    assert "lake_table_rebuilt" not in cli("run-all").output
    wh_counts = counts(wh)
    for name, ice in lake_tables().items():
        assert ice is not None and len(ice.scan().to_arrow()) == wh_counts[name], name
    assert json.loads(cli("verify", "--json").stdout)["ok"]

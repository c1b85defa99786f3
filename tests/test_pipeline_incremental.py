"""Incremental runs: only changes move, history is kept, dims propagate, reruns are no-ops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.contents import batch_ids, warehouse_contents
from helpers.databases import count, query


def test_second_run_moves_only_changes_and_propagates_dimensions(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    facts_before = count(wh, "fact_sales_order")
    dates_before = count(wh, "dim_date")

    # Three orders change, one address used as a legal address moves, a department is renamed.
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id IN (SELECT sales_order_id FROM sales_order ORDER BY 1 LIMIT 3)")  # fmt: skip
    [(address_id,)] = query(src, "SELECT min(legal_address_id) FROM counterparty")
    query(
        src,
        "UPDATE address SET city = 'Ainsdale', last_updated = localtimestamp(3) WHERE address_id = $1",
        [address_id],
    )
    [(department_id,)] = query(src, "SELECT min(department_id) FROM staff")
    query(src, "UPDATE department SET department_name = 'Renamed', last_updated = localtimestamp(3) "
               "WHERE department_id = $1", [department_id])  # fmt: skip
    cli("run-all")

    [_, second] = batch_ids(etl_env["AINSDALE_INGEST_URI"])
    manifest = json.loads(
        next(
            Path(etl_env["AINSDALE_INGEST_URI"]).glob(f"data/*/*/*/{second}/*_manifest.json")
        ).read_text()
    )
    assert {t: e["rows"] for t, e in manifest["tables"].items() if e["rows"]} == {
        "sales_order": 3, "address": 1, "department": 1}  # fmt: skip

    assert count(wh, "fact_sales_order") == facts_before + 3  # history: new versions appended
    versions = query(
        wh, "SELECT sales_order_id, count(*) FROM fact_sales_order GROUP BY 1 HAVING count(*) > 1"
    )
    assert len(versions) == 3
    assert query(wh, "SELECT city FROM dim_location WHERE location_id = $1", [address_id]) == [
        ("Ainsdale",)
    ]
    legal = query(
        src,
        "SELECT counterparty_id FROM counterparty WHERE legal_address_id = $1 ORDER BY 1",
        [address_id],
    )
    assert query(wh, "SELECT counterparty_id FROM dim_counterparty WHERE counterparty_legal_city = 'Ainsdale' "
                     "ORDER BY 1") == legal  # fmt: skip
    staff = query(
        src, "SELECT staff_id FROM staff WHERE department_id = $1 ORDER BY 1", [department_id]
    )
    assert (
        query(wh, "SELECT staff_id FROM dim_staff WHERE department_name = 'Renamed' ORDER BY 1")
        == staff
    )
    assert count(wh, "dim_date") > dates_before  # today's date arrived with the new versions
    assert query(wh, "SELECT count(*) FROM dim_date WHERE date_id = current_date") == [(1,)]


def test_a_run_without_changes_commits_nothing(cli, etl_env):
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    before = warehouse_contents(wh)
    result = cli("run-all")
    assert "no_changes" in result.output
    assert len(batch_ids(etl_env["AINSDALE_INGEST_URI"])) == 1
    assert warehouse_contents(wh) == before


def test_reprocessing_an_old_batch_changes_nothing(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    query(src, "UPDATE department SET department_name = 'Newer', last_updated = localtimestamp(3)")
    query(src, "UPDATE sales_order SET units_sold = 1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all")
    before = warehouse_contents(wh)
    first, _ = batch_ids(etl_env["AINSDALE_INGEST_URI"])

    cli("load", "--batch-id", first)
    assert warehouse_contents(wh) == before  # an old batch's dims never overwrite newer ones
    cli("transform", "--batch-id", first)
    cli("load", "--batch-id", first)
    cli("run-all", "--batch-id", first)
    assert warehouse_contents(wh) == before
    assert query(wh, "SELECT DISTINCT department_name FROM dim_staff") == [("Newer",)]


def test_dry_run_and_table_limits(cli, etl_env):
    result = cli("extract", "--dry-run", "--tables", "currency,design")
    assert batch_ids(etl_env["AINSDALE_INGEST_URI"]) == []
    assert '"currency": 3' in result.output
    cli("extract", "--tables", "currency")
    [only] = batch_ids(etl_env["AINSDALE_INGEST_URI"])
    manifest = json.loads(
        next(
            Path(etl_env["AINSDALE_INGEST_URI"]).glob(f"data/*/*/*/{only}/*_manifest.json")
        ).read_text()
    )
    assert list(manifest["tables"]) == ["currency"]
    result = cli("extract", "--tables", "nope", expect=2)
    assert "unknown table nope" in result.output


def test_batches_lists_status_newest_last(cli, etl_env):
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("run-all")
    query(src, "UPDATE currency SET last_updated = localtimestamp(3) WHERE currency_id = 1")
    cli("extract")
    listing = json.loads(cli("batches", "--json").output)
    assert [b["status"] for b in listing] == ["loaded", "extracted"]
    assert listing[1]["tables"] == {"currency": 1}
    assert listing[0]["batch_id"] < listing[1]["batch_id"]


def test_load_dry_run_shows_pending_batches_and_writes_nothing(cli, etl_env):
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("extract")
    cli("transform")
    result = cli("load", "--dry-run")
    assert "would load 1 batch" in result.output and '"fact_sales_order": 220' in result.output
    # The extract made the warehouse (the ledger lives there); the dry run loaded nothing.
    assert query(wh, "SELECT count(*) FROM fact_sales_order") == [(0,)]
    assert query(wh, "SELECT count(*) FROM ainsdale_meta.loaded_batch") == [(0,)]
    cli("load")
    assert "would load 0 batches" in cli("load", "--dry-run").output


def test_full_extract_and_batch_ranges(cli, etl_env):
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("extract")
    query(src, "UPDATE currency SET last_updated = localtimestamp(3) WHERE currency_id = 2")
    cli("extract")
    cli("extract", "--full")  # everything again, whatever the previous windows
    first, second, third = batch_ids(etl_env["AINSDALE_INGEST_URI"])
    statuses = {b["batch_id"]: b for b in json.loads(cli("batches", "--json").output)}
    assert statuses[second]["tables"] == {"currency": 1}
    assert statuses[third]["rows"] == statuses[first]["rows"] > 1000

    cli("transform", "--since", second, "--until", second)
    statuses = {b["batch_id"]: b["status"] for b in json.loads(cli("batches", "--json").output)}
    assert statuses == {first: "extracted", second: "transformed", third: "extracted"}
    cli("transform", "--until", first[:4] + "-" + first[4:6] + "-" + first[6:8])
    statuses = {b["batch_id"]: b["status"] for b in json.loads(cli("batches", "--json").output)}
    assert statuses[first] == "transformed"
    cli("transform", "--since", "not-a-date", expect=2)


@pytest.mark.parametrize("bulk", ["1", "1000000"], ids=["bulk path", "merge path"])
def test_a_warehouse_owner_without_superuser_loads_through_the_foreign_key_triggers(
    bulk, cli, etl_env, monkeypatch, pg_admin_url
):
    """Skipping the per-row triggers needs superuser; an ordinary owner gets the same result
    (on the bulk path, by dropping and re-adding the foreign keys)."""
    monkeypatch.setattr("ainsdale_etl.load.bulk.BULK_MIN_ROWS", int(bulk))
    import uuid
    from urllib.parse import urlsplit

    from pydantic import SecretStr

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.load.triggers import trigger_skipping
    from helpers.databases import as_role

    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    role, database = f"owner_{uuid.uuid4().hex[:8]}", urlsplit(wh).path[1:]
    query(pg_admin_url, f'CREATE ROLE "{role}" LOGIN')
    query(pg_admin_url, f'ALTER DATABASE "{database}" OWNER TO "{role}"')
    try:
        monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", as_role(wh, role))
        with Database("warehouse", SecretStr(as_role(wh, role))).connect() as conn:
            assert not trigger_skipping(conn.cursor()).everywhere
        cli("run-all")
        query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
                   "last_updated = localtimestamp(3) WHERE sales_order_id <= 5")  # fmt: skip
        cli("run-all")
        assert count(wh, "fact_sales_order") == count(src, "sales_order") + 5
        validated = query(
            wh, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"
        )
        assert validated == [(24,)]
    finally:
        query(wh, f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
        query(pg_admin_url, f'ALTER DATABASE "{database}" OWNER TO CURRENT_USER')
        query(pg_admin_url, f'DROP ROLE "{role}"')


def test_a_new_batch_sorts_after_the_last_even_when_this_clock_is_behind(cli, etl_env):
    from ainsdale_etl.adapters.storage.local import LocalStorage
    from ainsdale_etl.core.batches import Manifest, committed_batches, write_manifest

    ingest = LocalStorage(Path(etl_env["AINSDALE_INGEST_URI"]))
    # A batch written by a host whose clock ran ahead: it claims the year 2099.
    ahead = "20990101T000000000000Z"
    write_manifest(ingest, Manifest(batch_id=ahead, stage="extract", created_at="x", tables={}))
    cli("extract")
    assert committed_batches(ingest)[0] == ahead
    [_, new] = committed_batches(ingest)
    assert new == "20990101T000000000001Z"


def test_a_batch_waiting_to_be_loaded_is_loaded_before_a_new_one(cli, etl_env, monkeypatch):
    """A batch left transformed but not loaded (a run stopped during its load) is loaded by the
    next run-all before the new batch: batches reach the warehouse in order."""
    monkeypatch.setattr(
        "ainsdale_etl.load.bulk.BULK_MIN_ROWS", 1
    )  # a new batch would load on arrival
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("extract")
    cli("transform")  # transformed, not loaded: as a run stopped during its load leaves it
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
               "last_updated = localtimestamp(3) WHERE sales_order_id <= 3")  # fmt: skip
    result = cli("run-all")
    loaded = [json.loads(x)["batch_id"] for x in result.output.splitlines()
              if '"event": "batch_loaded"' in x]  # fmt: skip
    first, second = batch_ids(etl_env["AINSDALE_INGEST_URI"])
    in_load_order = query(wh, "SELECT batch_id FROM ainsdale_meta.loaded_batch ORDER BY loaded_at")
    assert in_load_order == [(first,), (second,)] and loaded == [first, second]
    assert count(wh, "fact_sales_order") == count(src, "sales_order") + 3

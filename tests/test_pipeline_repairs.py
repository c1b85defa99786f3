"""Repairs made where they belong: a bad value fixed in totesys unblocks its quarantined
batch by itself, within the next scheduled runs, with no command typed by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers.databases import query


def _statuses(cli) -> list[dict]:
    return json.loads(cli("batches", "--json").output)


def test_a_bad_date_fixed_in_totesys_is_enough(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    order = query(src, "SELECT min(sales_order_id) FROM sales_order")[0][0]
    # totesys keeps dates as text: an impossible one gets in
    query(src, "UPDATE sales_order SET agreed_delivery_date = '2024-02-30', "
               "last_updated = localtimestamp(3) WHERE sales_order_id = $1", [order])  # fmt: skip
    failed = cli("run-all", expect=1)
    assert "agreed_delivery_date" in failed.output and "'2024-02-30'" in failed.output
    bad = _statuses(cli)[-1]
    assert bad["status"] == "quarantined"
    # Meanwhile other work goes on, and waits behind it (and the schedule keeps trying it).
    query(src, "UPDATE design SET design_name = 'Meanwhile', last_updated = localtimestamp(3) "
               "WHERE design_id = (SELECT min(design_id) FROM design)")  # fmt: skip
    still = cli("run-all", expect=1)
    assert f"batch {bad['batch_id']} is quarantined" in still.output

    query(src, "UPDATE sales_order SET agreed_delivery_date = '2024-02-28', "
               "last_updated = localtimestamp(3) WHERE sales_order_id = $1", [order])  # fmt: skip
    fixed = cli("run-all")  # the next scheduled run: no --batch-id, no files touched
    warnings = [json.loads(x) for x in fixed.output.splitlines() if '"superseded_version"' in x]
    assert [(w["batch_id"], w["table"], w["row_id"]) for w in warnings] == [
        (bad["batch_id"], "sales_order", order)
    ]
    statuses = {s["batch_id"]: s for s in _statuses(cli)}
    assert {s["status"] for s in statuses.values()} == {"loaded"}
    assert statuses[bad["batch_id"]]["superseded"] == {"sales_order": [order]}
    latest = query(wh, "SELECT agreed_delivery_date::text FROM fact_sales_order "
                       "WHERE sales_order_id = $1 ORDER BY last_updated_date DESC, "
                       "last_updated_time DESC LIMIT 1", [order])  # fmt: skip
    assert latest == [("2024-02-28",)]
    assert query(wh, "SELECT design_name FROM dim_design ORDER BY design_id LIMIT 1") == [
        ("Meanwhile",)
    ]
    assert json.loads(cli("verify", "--json").stdout)["ok"]
    cli("run-all")  # and stays clean


def _quarantine_an_order_then_change_staff(cli, src: str) -> None:
    """A loaded batch, a batch quarantined on an order's bad date that nothing fixes, and a
    later change that is not a newer version of that order."""
    cli("run-all")
    query(src, "UPDATE sales_order SET agreed_payment_date = 'soon', "
               "last_updated = localtimestamp(3) WHERE sales_order_id = "
               "(SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all", expect=1)
    query(src, "UPDATE staff SET last_updated = localtimestamp(3) "
               "WHERE staff_id = (SELECT min(staff_id) FROM staff)")  # fmt: skip


def test_a_bad_row_nothing_supersedes_keeps_its_batch_quarantined(cli, etl_env):
    _quarantine_an_order_then_change_staff(cli, etl_env["AINSDALE_SOURCE_URL"])
    failed = cli("run-all", expect=1)  # a later batch, but not a newer version of that order
    assert "'soon'" in failed.output and "superseded_version" not in failed.output
    assert [s["status"] for s in _statuses(cli)] == ["loaded", "quarantined", "extracted"]


def _batch_folder(etl_env: dict[str, str], batch_id: str) -> Path:
    return next(Path(etl_env["AINSDALE_INGEST_URI"]).glob(f"data/*/*/*/{batch_id}"))


def test_a_batch_whose_objects_were_lost_is_extracted_again(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    order = query(src, "SELECT min(sales_order_id) FROM sales_order")[0][0]
    query(src, "UPDATE sales_order SET units_sold = 4343, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = $1", [order])  # fmt: skip
    query(src, "UPDATE design SET design_name = 'Lost and found', "
               "last_updated = localtimestamp(3) WHERE design_id = "
               "(SELECT min(design_id) FROM design)")  # fmt: skip
    cli("extract")
    lost = _statuses(cli)[-1]["batch_id"]
    for csv in _batch_folder(etl_env, lost).glob("*.csv"):
        csv.unlink()  # a bucket lifecycle rule, a hand that slipped
    assert "is missing" in cli("run-all", expect=1).output
    # Changed again since: the re-extract takes what the source holds of that batch's window.
    query(src, "UPDATE design SET design_name = 'Changed since', "
               "last_updated = localtimestamp(3) WHERE design_id = "
               "(SELECT min(design_id) FROM design)")  # fmt: skip
    again = cli("extract", "--batch-id", lost)
    assert f"batch {lost} committed" in again.output
    cli("run-all")
    assert {s["status"] for s in _statuses(cli)} == {"loaded"}
    assert query(wh, "SELECT count(*) FROM fact_sales_order WHERE units_sold = 4343") == [(1,)]
    assert query(wh, "SELECT design_name FROM dim_design ORDER BY design_id LIMIT 1") == [
        ("Changed since",)
    ]
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_a_re_transform_killed_half_way_leaves_the_previous_commit_whole(cli, etl_env, tmp_path):
    from helpers.processes import cli_env, run

    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("extract")
    cli("transform")
    [batch] = [s["batch_id"] for s in _statuses(cli)]
    processed = Path(etl_env["AINSDALE_PROCESSED_URI"])
    manifest = next(processed.glob(f"data/*/*/*/{batch}/*_manifest.json"))
    before = manifest.read_bytes()
    named = {e["key"] for e in json.loads(before)["tables"].values()}
    killed = run(["transform", "--batch-id", batch],
                 cli_env(etl_env, AINSDALE_FAULTS="object_written:kill:6"), tmp_path)  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert manifest.read_bytes() == before  # the commit it had
    assert all((processed / key).exists() for key in named)  # and every object it names
    cli("load")
    assert json.loads(cli("verify", "--json").stdout)["ok"]
    cli("transform", "--batch-id", batch)  # a re-transform that completes commits new objects
    renamed = {e["key"] for e in json.loads(manifest.read_bytes())["tables"].values()}
    assert renamed.isdisjoint(named) and all((processed / key).exists() for key in renamed)
    assert len(query(wh, "SELECT batch_id FROM ainsdale_meta.loaded_batch")) == 1


def test_a_range_stops_at_a_quarantined_batch_and_a_gone_batch_does_not_block(cli, etl_env):
    _quarantine_an_order_then_change_staff(cli, etl_env["AINSDALE_SOURCE_URL"])
    cli("extract")
    _, bad, later = [s["batch_id"] for s in _statuses(cli)]
    day = later[:4] + "-" + later[4:6] + "-" + later[6:8]
    stopped = cli("transform", "--since", day, expect=1)  # a range is not a pass
    assert f"batch {bad} is quarantined" in stopped.output
    assert _statuses(cli)[2]["status"] == "extracted"
    shutil.rmtree(_batch_folder(etl_env, bad))  # someone deletes the bad batch by hand
    # Its changes are not dropped: the next run reads its windows again, and the bad value,
    # still in totesys, stops the new batch in its turn, naming it.
    again = cli("run-all", expect=1)
    assert f"batch {bad} was extracted but its objects are gone" in again.output
    statuses = {s["batch_id"]: s for s in _statuses(cli)}
    assert statuses[bad]["status"] == "lost"
    [new] = [b for b, s in statuses.items() if s["status"] == "quarantined"]
    assert new > later and f"read again by batch {new}" in statuses[bad]["missing"][0]
    query(
        etl_env["AINSDALE_SOURCE_URL"],
        "UPDATE sales_order SET agreed_payment_date = "
        "'2024-01-01', last_updated = localtimestamp(3) WHERE agreed_payment_date = 'soon'",
    )
    cli("run-all")  # fixed at the source: the schedule carries on by itself
    statuses = {s["batch_id"]: s["status"] for s in _statuses(cli)}
    assert statuses.pop(bad) == "lost" and set(statuses.values()) == {"loaded"}
    assert json.loads(cli("verify", "--json").stdout)["ok"]

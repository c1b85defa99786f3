"""Repairs made where they belong: a bad value fixed in totesys unblocks its quarantined
batch by itself, within the next scheduled runs, with no command typed by hand."""

from __future__ import annotations

import json

from conftest import query


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
    assert json.loads(cli("verify", "--json").output.splitlines()[-1])["ok"]
    cli("run-all")  # and stays clean


def test_a_bad_row_nothing_supersedes_keeps_its_batch_quarantined(cli, etl_env):
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("run-all")
    query(src, "UPDATE sales_order SET agreed_payment_date = 'soon', "
               "last_updated = localtimestamp(3) WHERE sales_order_id = "
               "(SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all", expect=1)
    query(src, "UPDATE staff SET last_updated = localtimestamp(3) "
               "WHERE staff_id = (SELECT min(staff_id) FROM staff)")  # fmt: skip
    failed = cli("run-all", expect=1)  # a later batch, but not a newer version of that order
    assert "'soon'" in failed.output and "superseded_version" not in failed.output
    assert [s["status"] for s in _statuses(cli)] == ["loaded", "quarantined", "extracted"]

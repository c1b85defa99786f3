"""Row truth through the CLI: one order of versions (the batch order, never last_updated), a
deletion that is a version in it, and a re-capture of a version with other content. Each
sequence ends with the warehouse compared with the source column by column, by SQL written
apart from the pipeline and from verify (processes.star_differences), and with verify."""

from __future__ import annotations

import json

import pytest

from ainsdale_etl.ops.report.queries import SQL
from helpers.contents import batch_ids, star_differences
from helpers.databases import query

NOW = "localtimestamp(3)"


def _agree(cli, etl_env) -> dict:
    """The warehouse equals the source, and verify says so."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    assert star_differences(src, wh) == {}
    report = json.loads(cli("verify", "--json").stdout)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    return report


def _current(wh: str, fact: str, id_column: str, id_: int) -> list[tuple[object, ...]]:
    return query(wh, f'SELECT * FROM "{fact}_current" WHERE "{id_column}" = $1', [id_])


def test_an_order_put_back_after_its_deletion_is_current_again(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    order = query(src, "SELECT min(sales_order_id) FROM sales_order")[0][0]
    query(src, "CREATE TABLE saved AS SELECT * FROM sales_order WHERE sales_order_id = $1",
          [order])  # fmt: skip
    query(src, "DELETE FROM sales_order WHERE sales_order_id = $1", [order])
    cli("run-all")
    assert _current(wh, "fact_sales_order", "sales_order_id", order) == []
    _agree(cli, etl_env)
    # The same id and values, as a restore brings them back.
    query(src, "INSERT INTO sales_order OVERRIDING SYSTEM VALUE SELECT * FROM saved")
    cli("run-all")
    assert len(_current(wh, "fact_sales_order", "sales_order_id", order)) == 1
    assert query(
        wh,
        "SELECT deleted FROM ainsdale_meta.row_version "
        "WHERE star_table = 'fact_sales_order' AND id = $1",
        [order],
    ) == [(False,)]
    report = _agree(cli, etl_env)
    assert not any("deleted in totesys" in note for note in report["notes"])


def test_payments_truncated_and_reloaded_are_current_again(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    query(src, "CREATE TABLE payment_saved AS SELECT * FROM payment")
    query(src, "TRUNCATE payment")
    cli("run-all")
    assert query(wh, "SELECT count(*) FROM fact_payment_current") == [(0,)]
    _agree(cli, etl_env)
    query(src, "INSERT INTO payment OVERRIDING SYSTEM VALUE SELECT * FROM payment_saved")
    query(src, "DROP TABLE payment_saved")
    cli("run-all")
    assert query(wh, "SELECT count(*) FROM fact_payment_current") == query(
        src, "SELECT count(*) FROM payment"
    )
    _agree(cli, etl_env)


def test_a_rerun_of_the_deleting_batch_neither_deletes_the_row_that_came_back_nor_revives(
    cli, etl_env
):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    insert = (
        "INSERT INTO design (design_id, created_at, last_updated, design_name, file_location, "
        f"file_name) VALUES (9001, {NOW}, {NOW}, 'Phoenix', '/p', 'p.json')"
    )
    query(src, insert)
    cli("run-all")
    query(src, "DELETE FROM design WHERE design_id = 9001")
    cli("run-all")
    deleting = batch_ids(etl_env["AINSDALE_INGEST_URI"])[-1]
    query(src, insert)
    cli("run-all")
    cli("run-all", "--batch-id", deleting)
    assert query(wh, "SELECT design_name FROM dim_design WHERE design_id = 9001") == [("Phoenix",)]
    _agree(cli, etl_env)
    # And the other way round: deleted again, an older batch that held it rerun.
    query(src, "DELETE FROM design WHERE design_id = 9001")
    cli("run-all")
    cli("run-all", "--batch-id", batch_ids(etl_env["AINSDALE_INGEST_URI"])[0])
    assert query(wh, "SELECT design_name FROM dim_design WHERE design_id = 9001") == []
    _agree(cli, etl_env)


@pytest.mark.parametrize("part", ["department", "address"])
def test_a_deleted_row_is_not_brought_back_by_a_change_to_the_row_it_joins(part, cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    if part == "department":
        department = query(src, "SELECT min(department_id) FROM department")[0][0]
        query(src, "INSERT INTO staff (staff_id, first_name, last_name, department_id, "
                   f"email_address, created_at, last_updated) VALUES (9001, 'Ada', 'Gone', $1, "
                   f"'ada@example.com', {NOW}, {NOW})", [department])  # fmt: skip
        dim, key, deleting = "dim_staff", "staff_id", "DELETE FROM staff WHERE staff_id = 9001"
        change = (
            f"UPDATE department SET department_name = 'Renamed', last_updated = {NOW} "
            "WHERE department_id = $1"
        )
        changed = department
    else:
        address = query(src, "SELECT min(address_id) FROM address")[0][0]
        query(src, "INSERT INTO counterparty (counterparty_id, counterparty_legal_name, "
                   "legal_address_id, commercial_contact, delivery_contact, created_at, "
                   f"last_updated) VALUES (9001, 'Gone Ltd', $1, 'a', 'b', {NOW}, {NOW})",
              [address])  # fmt: skip
        dim, key = "dim_counterparty", "counterparty_id"
        deleting = "DELETE FROM counterparty WHERE counterparty_id = 9001"
        change = f"UPDATE address SET city = 'Moved', last_updated = {NOW} WHERE address_id = $1"
        changed = address
    cli("run-all")
    assert query(wh, f'SELECT count(*) FROM "{dim}" WHERE "{key}" = 9001') == [(1,)]
    query(src, deleting)
    cli("run-all")
    query(src, change, [changed])
    cli("run-all")
    assert query(wh, f'SELECT count(*) FROM "{dim}" WHERE "{key}" = 9001') == [(0,)]
    _agree(cli, etl_env)


def test_a_fast_clock_fixed_leaves_the_fixed_version_current(cli, etl_env):
    """The fixed version carries an earlier last_updated than the bad one it follows."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    order = query(src, "SELECT min(sales_order_id) FROM sales_order")[0][0]
    query(src, "UPDATE sales_order SET units_sold = 7777, "
               "last_updated = localtimestamp(3) + interval '1 day' WHERE sales_order_id = $1",
          [order])  # fmt: skip
    cli("run-all")
    query(src, "UPDATE sales_order SET units_sold = 1234, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = $1", [order])  # fmt: skip
    cli("run-all")
    assert query(
        wh, "SELECT units_sold FROM fact_sales_order_current WHERE sales_order_id = $1", [order]
    ) == [(1234,)]
    assert query(
        wh, "SELECT count(*) FROM fact_sales_order WHERE sales_order_id = $1", [order]
    ) == [(3,)]  # every version stays as history
    _agree(cli, etl_env)
    cli(
        "run-all", "--batch-id", batch_ids(etl_env["AINSDALE_INGEST_URI"])[1]
    )  # the bad version's batch again
    _agree(cli, etl_env)
    headline = query(wh, SQL["headline"], [None, None])  # the dashboard's own query
    assert (
        sum(units for _, _, units, _, _ in headline)
        == query(src, "SELECT sum(units_sold) FROM sales_order")[0][0]
    )


def test_a_key_changed_with_on_update_cascade_reaches_the_facts(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    design = query(src, "SELECT min(design_id) FROM sales_order")[0][0]
    orders = query(src, "SELECT count(*) FROM sales_order WHERE design_id = $1", [design])[0][0]
    query(src, "UPDATE design SET design_id = 9999 WHERE design_id = $1", [design])
    result = cli("run-all")
    assert query(wh, "SELECT count(*) FROM fact_sales_order_current WHERE design_id = 9999") == [
        (orders,)
    ]
    assert query(
        wh, "SELECT count(*) FROM fact_sales_order_current WHERE design_id = $1", [design]
    ) == [(0,)]
    assert '"kind": "fact_versions_replaced"' in result.output
    _agree(cli, etl_env)
    cli(
        "run-all", "--batch-id", batch_ids(etl_env["AINSDALE_INGEST_URI"])[0]
    )  # the old versions, loaded again
    _agree(cli, etl_env)


def test_a_value_fixed_without_touching_last_updated_replaces_the_stored_version(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    payment = query(src, "SELECT min(payment_id) FROM payment")[0][0]
    query(src, "UPDATE payment SET paid = NOT paid, payment_amount = 123.45 "
               "WHERE payment_id = $1", [payment])  # fmt: skip
    cli("run-all")
    assert query(
        wh, "SELECT payment_amount::text FROM fact_payment WHERE payment_id = $1", [payment]
    ) == [("123.45",)]  # replaced, not a second row of the same version
    _agree(cli, etl_env)

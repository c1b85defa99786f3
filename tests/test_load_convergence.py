"""Convergence: a warehouse loaded from any set of batches in any order ends the same, because
a dimension row is ordered by the batch that built it, not by when it was loaded."""

from __future__ import annotations

import itertools
import json

from helpers.contents import batch_ids, histories, warehouse_contents
from helpers.databases import query
from helpers.processes import extract_an_order_before_its_design


def _three_batches_touching_one_design(cli, etl_env) -> tuple[list[str], int]:
    src = etl_env["AINSDALE_SOURCE_URL"]
    design = query(src, "SELECT min(design_id) FROM design")[0][0]
    cli("extract")
    cli("transform")
    for name in ("Renamed once", "Renamed twice"):
        query(src, "UPDATE design SET design_name = $1, last_updated = localtimestamp(3) "
                   "WHERE design_id = $2", [name, design])  # fmt: skip
        query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
                   "last_updated = localtimestamp(3) WHERE sales_order_id = "
                   "(SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
        cli("extract")
        cli("transform")
    return batch_ids(etl_env["AINSDALE_INGEST_URI"]), design


def test_an_older_batch_loaded_after_a_newer_one_keeps_the_newer_dimension_values(cli, etl_env):
    """B2 renames a design, B3 renames it again and changes an order; load B3, then B2 (a
    repair, a backfill): the design keeps B3's name, which is the newest."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    design = query(src, "SELECT min(design_id) FROM design")[0][0]
    cli("run-all")
    query(src, "UPDATE design SET design_name = 'New name', last_updated = localtimestamp(3) "
               "WHERE design_id = $1", [design])  # fmt: skip
    cli("extract")
    query(src, "UPDATE sales_order SET units_sold = 1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    query(src, "UPDATE design SET design_name = 'Newer name', last_updated = localtimestamp(3) "
               "WHERE design_id = $1", [design])  # fmt: skip
    cli("extract")
    cli("transform")
    _, b2, b3 = batch_ids(etl_env["AINSDALE_INGEST_URI"])
    cli("load", "--batch-id", b3)
    cli("load", "--batch-id", b2)
    name = query(wh, "SELECT design_name FROM dim_design WHERE design_id = $1", [design])
    assert name == [("Newer name",)]
    report = json.loads(cli("verify", "--json").stdout)
    assert report["ok"]


def test_every_order_of_loading_three_batches_gives_one_warehouse(
    cli, etl_env, new_database_url, monkeypatch
):
    """Three batches touching the same design and order, loaded in each of their six orders
    into an empty warehouse: the first loads may point at rows not delivered yet (inferred
    members), and every order ends equal to loading them in sequence."""
    batches, design = _three_batches_touching_one_design(cli, etl_env)
    cli("load")  # in order: the reference
    expected = warehouse_contents(etl_env["AINSDALE_WAREHOUSE_URL"])
    history = histories(etl_env["AINSDALE_WAREHOUSE_URL"])
    name = "SELECT design_name FROM dim_design WHERE design_id = $1"
    assert query(etl_env["AINSDALE_WAREHOUSE_URL"], name, [design]) == [("Renamed twice",)]
    for order in itertools.permutations(batches):
        other = new_database_url("permuted")
        monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", other)
        for batch_id in order:
            cli("load", "--batch-id", batch_id)
        assert warehouse_contents(other) == expected, order
        assert histories(other) == history, order  # the same batches: the same history
        assert query(other, "SELECT count(*) FROM ainsdale_meta.inferred_member") == [(0,)]


def test_a_fact_whose_design_arrives_two_batches_later_loads_at_once(cli, etl_env):
    """Kimball's early-arriving fact: no quarantine, an inferred member, then the real row."""
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    extract_an_order_before_its_design(cli, src)
    cli("transform")
    result = cli("load")  # the order's batch loads; the design is a placeholder
    assert '"kind": "inferred_members"' in result.output
    placeholder = "SELECT design_name, file_name FROM dim_design WHERE design_id = 9100"
    assert query(wh, placeholder) == [("unknown", "unknown")]
    report = json.loads(cli("verify", "--json", expect=1).stdout)
    waiting = [
        c for c in report["checks"] if c["name"] == "inferred members waiting for their rows"
    ]
    assert waiting == [{"mart": "dim_design", "name": "inferred members waiting for their rows",
                        "source": 0, "warehouse": 1, "detail": "", "ok": False}]  # fmt: skip
    batches = json.loads(cli("batches", "--json").output)
    assert [b["inferred"] for b in batches] == [{}, {"dim_design": 1}]
    query(src, "UPDATE staff SET last_updated = localtimestamp(3) "
               "WHERE staff_id = (SELECT min(staff_id) FROM staff)")  # fmt: skip
    cli("extract", "--tables", "staff")  # a batch that still lacks the design
    cli("transform")
    cli("load")
    assert query(wh, placeholder) == [("unknown", "unknown")]
    cli("run-all")  # the one that brings it
    assert query(wh, placeholder) == [("Late", "late.json")]
    assert query(wh, "SELECT count(*) FROM ainsdale_meta.inferred_member") == [(0,)]
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_an_unknown_currency_code_loads_named_by_itself_with_a_warning(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    query(src, "UPDATE currency SET currency_code = 'ZZT', last_updated = localtimestamp(3) "
               "WHERE currency_id = (SELECT min(currency_id) FROM currency)")  # fmt: skip
    result = cli("run-all")
    warnings = [json.loads(x) for x in result.output.splitlines() if '"unknown_currency"' in x]
    assert [w["code"] for w in warnings] == ["ZZT"]
    named = "SELECT currency_name FROM dim_currency WHERE currency_code = 'ZZT'"
    assert query(wh, named) == [("ZZT",)]
    assert "unknown_currency" not in cli("run-all").output  # the next run is clean
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_an_older_batch_loaded_after_a_deletion_does_not_bring_the_row_back(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    query(src, "INSERT INTO design (design_id, created_at, last_updated, design_name, "
               "file_location, file_name) VALUES (9200, localtimestamp, localtimestamp, "
               "'Short-lived', '/x', 'x.json')")  # fmt: skip
    cli("run-all")
    query(src, "DELETE FROM design WHERE design_id = 9200")
    cli("run-all")
    first = batch_ids(etl_env["AINSDALE_INGEST_URI"])[0]
    cli("load", "--batch-id", first)  # a backfill of the batch that delivered it
    assert query(wh, "SELECT count(*) FROM dim_design WHERE design_id = 9200") == [(0,)]
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_staff_transformed_before_their_department_converge_once_it_arrives(cli, etl_env):
    """The first batch (every department) waits; a later one changing a staff member is
    transformed and loaded first, out of turn, and builds that row with the placeholder
    department. When the first batch comes, the row it rebuilds holds the later batch's staff
    row and its department: as new as the later batch, so it replaces the placeholder."""
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("extract")
    query(src, "UPDATE staff SET first_name = 'Later', last_updated = now() "
               "WHERE staff_id = (SELECT min(staff_id) FROM staff)")  # fmt: skip
    cli("extract")
    first, second = batch_ids(etl_env["AINSDALE_INGEST_URI"])
    cli("transform", "--batch-id", second)
    cli("load", "--batch-id", second)
    held = query(
        etl_env["AINSDALE_WAREHOUSE_URL"],
        "SELECT department_name FROM dim_staff WHERE first_name = 'Later'",
    )
    assert held == [("unknown",)]  # the placeholder, for now
    cli("run-all")
    cli("verify")
    [(name, department)] = query(
        etl_env["AINSDALE_WAREHOUSE_URL"],
        "SELECT first_name, department_name FROM dim_staff WHERE staff_id = (SELECT min(staff_id) FROM dim_staff)",
    )
    assert name == "Later" and department != "unknown"
    assert first < second

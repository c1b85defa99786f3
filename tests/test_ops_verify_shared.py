"""verify's one scan of a warehouse table for both comparisons (ops/verify_shared.py) gives
each exactly the blocks and money its own query gives: the source's, over a fact's current
versions and a dimension's rows but those set aside; the lake's, over every row."""

from __future__ import annotations

import adbc_driver_postgresql.dbapi as adbc

from ainsdale_etl.ops.verify_reader import SqlReader, fetch_frame, read_only_snapshot
from ainsdale_etl.ops.verify_shared import shared_blocks_query, split_blocks
from ainsdale_etl.ops.verify_star_sql import (
    SOURCED_TABLES,
    lake_copy_side,
    shared_scan,
    warehouse_side,
)
from helpers.databases import query


def test_one_scan_gives_both_comparisons_the_blocks_their_own_queries_give(cli, etl_env):
    src, wh = etl_env["AINSDALE_SOURCE_URL"], etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id IN (SELECT sales_order_id FROM sales_order ORDER BY 1 LIMIT 3)")  # fmt: skip
    query(src, "UPDATE payment SET paid = NOT paid, last_updated = localtimestamp(3) "
               "WHERE payment_id = (SELECT max(payment_id) FROM payment)")  # fmt: skip
    cli("run-all")  # older versions now, which only the lake's side holds
    for fact, changed in (("fact_sales_order", 3), ("fact_payment", 1)):
        [(every, current)] = query(wh, f"SELECT (SELECT count(*) FROM {fact}), "
                                       f"(SELECT count(*) FROM {fact}_current)")  # fmt: skip
        assert every - current == changed
    with adbc.connect(wh) as conn, conn.cursor() as cur:
        read_only_snapshot(cur)
        for table in SOURCED_TABLES:
            first = query(wh, f'SELECT min("{table.key[0]}") FROM "{table.name}"')[0][0]
            aside = [] if table.is_fact else [first]  # a dimension's rows set aside
            scan = shared_scan(table, aside)
            found = fetch_frame(cur, shared_blocks_query(scan), scan.every.params)
            (every_rows, every_money), (current, current_money) = split_blocks(found)
            lake = SqlReader(cur, {table.name: lake_copy_side(table)})
            source = SqlReader(cur, {table.name: warehouse_side(table, aside)})
            assert every_rows.sort("block").equals(lake.blocks(table.name).sort("block")), (
                table.name
            )
            assert current.sort("block").equals(source.blocks(table.name).sort("block"))
            assert every_money == lake.money.get(table.name, {})
            assert current_money == source.money.get(table.name, {})
            if aside:
                assert int(every_rows["n"].sum()) == int(current["n"].sum()) + 1
        conn.rollback()


def test_what_verify_reads_besides_the_content_is_of_the_same_snapshot(cli, etl_env):
    """With the lake on, verify exports one warehouse snapshot for the content; the rows set
    aside and the counts were read in a newer one, so a load committing meanwhile could hide
    a difference or invent one. They are read in the exported snapshot now."""
    from pydantic import SecretStr

    from ainsdale_etl.adapters.postgres import Database
    from ainsdale_etl.ops.verify import _warehouse_side
    from ainsdale_etl.ops.verify_shared import SharedWarehouse

    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    [(designs,)] = query(wh, "SELECT count(*) FROM dim_design")
    with SharedWarehouse(Database("warehouse", SecretStr(wh)), []) as shared:
        query(wh, "INSERT INTO dim_design SELECT design_id + 1000000, design_name, "
                  "file_location, file_name FROM dim_design LIMIT 2")  # fmt: skip
        seen = _warehouse_side(Database("warehouse", SecretStr(wh)), shared.snapshot)
    assert seen["rows dim_design"] == designs
    assert _warehouse_side(Database("warehouse", SecretStr(wh)))["rows dim_design"] == designs + 2

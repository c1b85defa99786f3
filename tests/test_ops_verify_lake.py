"""`ainsdale-etl verify` with the lake on: the lake is compared with the warehouse by content,
every column of every row (a fact's every version), hashed alike by polars and PostgreSQL."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.registry import STAR_TABLES
from ainsdale_etl.core.settings import load_settings
from ainsdale_etl.lake.catalog import existing_lake_table, open_catalog
from helpers.databases import query


def lake_table(name):
    settings = load_settings()
    warehouse = Database("warehouse", SecretStr(str(settings.warehouse_url.get_secret_value())))
    return existing_lake_table(open_catalog(settings, warehouse), settings, STAR_TABLES[name])


def failed(output):
    report = json.loads(output)
    return {(c["mart"], c["name"]): c for c in report["checks"] if not c["ok"]}


def with_column(rows, name, values):
    index = rows.schema.get_field_index(name)
    return rows.set_column(index, rows.schema.field(name), values.cast(rows[name].type))


def test_every_name_changed_in_a_lake_dimension_is_found_and_named(cli, lake_env):
    cli("run-all")
    ice = lake_table("dim_design")
    original = ice.scan().to_arrow()
    renamed = pa.array([f"{name} (renamed)" for name in original["design_name"].to_pylist()])
    ice.overwrite(with_column(original, "design_name", renamed))
    result = cli("verify", "--json", expect=1)
    found = failed(result.stdout)
    assert list(found) == [("lake dim_design", "ids whose columns differ")]
    check = found[("lake dim_design", "ids whose columns differ")]
    ids = sorted(original["design_id"].to_pylist())
    assert check["warehouse"] == len(ids)
    assert check["detail"] == "; ".join(f"id {i}: design_name" for i in ids[:3])
    lake_table("dim_design").overwrite(original)
    assert json.loads(cli("verify", "--json").stdout)["ok"]


def test_an_older_fact_version_is_compared_with_the_lake_not_the_source(cli, lake_env):
    """History is the warehouse's and the lake's: an old version edited in the warehouse
    alone is a difference with the lake (named by surrogate key), none with the source."""
    src, wh = lake_env["AINSDALE_SOURCE_URL"], lake_env["AINSDALE_WAREHOUSE_URL"]
    cli("run-all")
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, last_updated = localtimestamp(3) "
               "WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all")
    [(old,)] = query(wh, "SELECT sales_record_id FROM fact_sales_order EXCEPT "
                         "SELECT sales_record_id FROM fact_sales_order_current")  # fmt: skip
    query(wh, "UPDATE fact_sales_order SET units_sold = 0, unit_price = 0 "
              "WHERE sales_record_id = $1", [old])  # fmt: skip
    found = failed(cli("verify", "--json", expect=1).stdout)
    assert found.keys() == {
        ("lake fact_sales_order", "ids whose columns differ"),
        ("lake fact_sales_order", "money per currency"),
    }
    detail = found[("lake fact_sales_order", "ids whose columns differ")]["detail"]
    assert detail == f"id {old}: units_sold, unit_price"
    # The lake made to match: the same edit there.
    ice = lake_table("fact_sales_order")
    rows = ice.scan().to_arrow()
    mine = pc.equal(rows["sales_record_id"], old)
    zero_units = pc.if_else(mine, pa.scalar(0, pa.int32()), rows["units_sold"])
    zero_price = pc.if_else(
        mine, pa.scalar(0, rows.schema.field("unit_price").type), rows["unit_price"]
    )
    ice.overwrite(
        with_column(with_column(rows, "units_sold", zero_units), "unit_price", zero_price)
    )
    assert json.loads(cli("verify", "--json").stdout)["ok"]

"""The lake as production runs it: tables in the AWS Glue Data Catalog, files on S3 (a moto
server standing in for both, reached through AWS_ENDPOINT_URL as the task reaches AWS)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.registry import LAKE_TABLES, STAR_TABLES
from ainsdale_etl.core.settings import load_settings
from ainsdale_etl.lake.catalog import existing_lake_table, open_catalog
from ainsdale_etl.lake.ledger import batches_held
from helpers.databases import query

REGION = "eu-west-2"


@pytest.fixture
def glue_env(etl_env, moto_endpoint, monkeypatch):
    aws = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    # One bucket and Glue database per test: the moto server is shared by the session, and a
    # Glue database belongs to the first environment that writes it.
    bucket, database = f"lake-{uuid.uuid4().hex[:12]}", f"ainsdale_{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    lake = {
        "AINSDALE_PROCESSED_URI": f"s3://{bucket}/processed",
        "AINSDALE_LAKE_CATALOG": "glue",
        "AINSDALE_LAKE_DATABASE": database,
    }
    for name, value in lake.items():
        monkeypatch.setenv(name, value)
    return etl_env | aws | lake


def lake_check(cli, expect=0):
    [line] = [ln for ln in cli("check", "--json", expect=expect).output.splitlines()
              if ln.startswith('{"ok"')]  # fmt: skip
    return next(c for c in json.loads(line)["checks"] if c["name"] == "lake")


def test_run_all_writes_the_lake_to_glue_and_s3_and_verify_reconciles_it(cli, glue_env):
    src, wh = glue_env["AINSDALE_SOURCE_URL"], glue_env["AINSDALE_WAREHOUSE_URL"]
    # Glue's database is Terraform's to make: check says so before the first run.
    missing = lake_check(cli, expect=1)
    database = glue_env["AINSDALE_LAKE_DATABASE"]
    assert not missing["ok"] and f"no Glue database {database}" in missing["detail"]
    cli("run-all")
    assert lake_check(cli)["detail"].endswith("11 of 11 star tables")
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, "
               "last_updated = localtimestamp(3) WHERE sales_order_id = "
               "(SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all")
    glue = boto3.client("glue", endpoint_url=glue_env["AWS_ENDPOINT_URL"], region_name=REGION)
    listed = glue.get_tables(DatabaseName=database)["TableList"]
    assert {t["Name"] for t in listed} == set(LAKE_TABLES)
    sales = next(t for t in listed if t["Name"] == "fact_sales_order")
    assert sales["Parameters"]["table_type"].upper() == "ICEBERG"
    assert sales["Parameters"]["metadata_location"].startswith(
        f"{glue_env['AINSDALE_PROCESSED_URI']}/lake/fact_sales_order/metadata/"
    )
    settings = load_settings()
    warehouse = Database("warehouse", SecretStr(wh))
    ice = existing_lake_table(
        open_catalog(settings, warehouse), settings, STAR_TABLES["fact_sales_order"]
    )
    assert len(batches_held(ice)) == 2
    total = query(wh, "SELECT count(*) FROM fact_sales_order")[0][0]
    assert len(ice.scan().to_arrow()) == total
    report = json.loads(cli("verify", "--json").stdout)
    assert report["ok"], [c for c in report["checks"] if c["source"] != c["warehouse"]]


def test_a_glue_database_of_another_environment_is_refused_not_written(
    cli, glue_env, monkeypatch, new_database_url
):
    """Issue #28, case 1 on Glue: an ad-hoc run with another warehouse (dev) against the same
    account's Glue database (production's lake) would have written production's tables. Each
    table carries the id of the environment that made it; the second is refused in one line."""
    cli("run-all")
    glue = boto3.client("glue", endpoint_url=glue_env["AWS_ENDPOINT_URL"], region_name=REGION)
    database = glue_env["AINSDALE_LAKE_DATABASE"]
    [(owner,)] = query(glue_env["AINSDALE_WAREHOUSE_URL"],
                       "SELECT environment_id::text FROM ainsdale_meta.environment")  # fmt: skip
    before = {t["Name"]: t["Parameters"]["metadata_location"]
              for t in glue.get_tables(DatabaseName=database)["TableList"]}  # fmt: skip
    monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", new_database_url("dev_warehouse"))
    monkeypatch.setenv(
        "AINSDALE_PROCESSED_URI", glue_env["AINSDALE_PROCESSED_URI"].replace("processed", "dev")
    )
    refused = cli("run-all", expect=2)
    [line] = [ln for ln in refused.output.splitlines() if ln.startswith("error:")]
    assert f"lake namespace {database} belongs to another environment" in line
    assert owner in line
    after = {t["Name"]: t["Parameters"]["metadata_location"]
             for t in glue.get_tables(DatabaseName=database)["TableList"]}  # fmt: skip
    assert after == before  # not a byte written to the other environment's lake

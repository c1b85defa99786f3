"""The production runtime end to end: the installed entry point as a subprocess, as the Fargate
task runs it, against a moto server standing in for S3, Secrets Manager and SNS (reached through
AWS_ENDPOINT_URL), and the real test PostgreSQL named only by secrets.

One stack per module, used in order: run-all loads it, check passes on it, then a wrong secret
must fail in one line, page through SNS (read back from a subscribed SQS queue) and leak the
password nowhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from ainsdale_etl.adapters.postgres import Database
from ainsdale_etl.core.registry import SOURCE_TABLES, STAR_TABLES
from helpers.databases import SMALL_SCALE, query, rds_secret

pytestmark = pytest.mark.slow

PASSWORD = "S3cr3t-Pa55!"  # distinctive: must never appear in any output or alert
REGION = "eu-west-2"
EXE = Path(sys.executable).with_name("ainsdale-etl")


@dataclass
class Stack:
    endpoint: str
    env: dict[str, str]
    source_url: str
    warehouse_url: str
    warehouse_secret: str
    clients: Callable[[str], Any]
    read_alerts: Callable[[], list[dict[str, Any]]]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(EXE), *args], env=self.env, cwd=self.env["AINSDALE_HOME"],
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def stack(moto_endpoint, new_database_url, tmp_path_factory) -> Stack:
    """Buckets, two secrets, a topic with a queue subscribed, a seeded source, an empty
    warehouse, and the environment the task definition gives the container."""
    from ainsdale_etl.ops.seed import seed

    source_url, warehouse_url = new_database_url("totesys_aws"), new_database_url("wh_aws")
    seed(Database("source", SecretStr(source_url)), scale=SMALL_SCALE)

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip

    s3, secrets, sns, sqs = (client(s) for s in ("s3", "secretsmanager", "sns", "sqs"))
    for bucket in ("ingest-bucket", "processed-bucket"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    source_arn = secrets.create_secret(
        Name="ainsdale-etl-test/source-db",
        SecretString=json.dumps(rds_secret(source_url, PASSWORD)),
    )["ARN"]
    warehouse_arn = secrets.create_secret(
        Name="ainsdale-etl-test/warehouse-db",
        SecretString=json.dumps(rds_secret(warehouse_url, PASSWORD)),
    )["ARN"]
    topic = sns.create_topic(Name="ainsdale-etl-test-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])

    def read_alerts() -> list[dict[str, Any]]:
        found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(m["Body"]) for m in found.get("Messages", [])]  # SNS envelopes

    home = tmp_path_factory.mktemp("aws-runtime")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AINSDALE_", "AWS_"))}
    env |= {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AINSDALE_SOURCE_SECRET_ID": source_arn,
        "AINSDALE_WAREHOUSE_SECRET_ID": warehouse_arn,
        "AINSDALE_INGEST_URI": "s3://ingest-bucket",
        "AINSDALE_PROCESSED_URI": "s3://processed-bucket",
        "AINSDALE_ALERT_TOPIC_ARN": topic,
        "AINSDALE_LOG_FORMAT": "json",
        "AINSDALE_HOME": str(home),
        "AINSDALE_LAKE_CATALOG": "none",  # the lake on Glue: tests/test_lake_glue.py
    }
    return Stack(moto_endpoint, env, source_url, warehouse_url, warehouse_arn, client, read_alerts)


def json_lines(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line, each of which must be one JSON object with the fields Logs Insights
    queries rely on."""
    records = [json.loads(line) for line in stdout.splitlines()]
    for record in records:
        assert {"timestamp", "level", "event"} <= record.keys(), record
    return records


def keys(stack: Stack, bucket: str) -> list[str]:
    listing = stack.clients("s3").list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


def test_run_all_loads_through_s3_and_secrets(stack):
    result = stack.run("run-all")
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    [committed] = [r for r in records if r["event"] == "batch_committed"]
    batch_id = committed["batch_id"]
    assert {r["event"] for r in records} >= {"table_extracted", "batch_loaded", "summary"}

    prefix = f"data/{batch_id[:4]}/{batch_id[4:6]}/{batch_id[6:8]}/{batch_id}/{batch_id}_"
    ingest = keys(stack, "ingest-bucket")
    # The batch's objects, and nothing else: what is due lives in the warehouse's ledger.
    assert not [k for k in ingest if k.startswith("state/")]
    assert all(k.startswith(prefix) for k in ingest), ingest
    assert {k.removeprefix(prefix) for k in ingest} == {
        *(f"{t}.csv" for t in SOURCE_TABLES),
        *(f"{t}.ids" for t in SOURCE_TABLES),
        "manifest.json",
    }
    processed = keys(stack, "processed-bucket")
    assert {k.removeprefix(prefix) for k in processed if k.startswith("data/")} == {
        *(f"{t}.parquet" for t in STAR_TABLES),
        "manifest.json",
    }
    assert "state/current/staff.parquet" in processed

    for table in ("fact_sales_order", "dim_staff", "dim_date"):
        assert query(stack.warehouse_url, f"SELECT count(*) FROM {table}")[0][0] > 0
    assert PASSWORD not in result.stdout + result.stderr


def test_check_passes_on_the_stack(stack):
    # Loaded first here too: under pytest-xdist this test may run on a worker of its own.
    assert stack.run("run-all").returncode == 0
    result = stack.run("check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    found = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert found["source"]["detail"].endswith("11 tables readable, change capture available")
    assert "(secret arn:aws:secretsmanager:" in found["source"]["detail"]
    assert found["warehouse"]["detail"].endswith("star schema present and writable")
    assert found["alerts"]["detail"].endswith("topic exists")
    assert PASSWORD not in result.stdout + result.stderr


def test_a_wrong_secret_fails_in_one_line_pages_and_leaks_nothing(stack):
    secrets = stack.clients("secretsmanager")
    wrong = {**rds_secret(stack.warehouse_url, PASSWORD), "dbname": "no_such_warehouse"}
    secrets.put_secret_value(SecretId=stack.warehouse_secret, SecretString=json.dumps(wrong))

    check = stack.run("check")
    assert check.returncode == 1
    [failed] = [r for r in json_lines(check.stdout) if r["event"] == "check" and not r["ok"]]
    assert failed["name"] == "warehouse" and "no_such_warehouse" in failed["message"]
    assert stack.read_alerts() == []  # check is read by a person; it pages no one

    result = stack.run("run-all")
    assert result.returncode == 1
    stderr_lines = result.stderr.strip().splitlines()
    assert len(stderr_lines) == 1 and stderr_lines[0].startswith(
        "error: cannot connect to the warehouse database (secret arn:aws:secretsmanager:"
    ), result.stderr
    assert "no_such_warehouse" in stderr_lines[0] and "Traceback" not in result.stderr
    records = json_lines(result.stdout)
    assert [r["event"] for r in records][-2:] == ["failed", "alert_published"]

    [envelope] = stack.read_alerts()
    alert = json.loads(envelope["Message"])
    assert envelope["Subject"] == "ainsdale-etl run-all failed (exit 1)"
    # Every writing command first takes the run lock in the warehouse: that is where it fails.
    assert alert["step"] == "lock" and alert["exit_code"] == 1
    assert alert["error"] == stderr_lines[0].removeprefix("error: ")
    assert alert["retry"].startswith("rerun `ainsdale-etl run-all`")
    for text in (result.stdout, result.stderr, check.stdout, check.stderr, json.dumps(envelope)):
        assert PASSWORD not in text and "S3cr3t" not in text

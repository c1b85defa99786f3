"""A scheduled run's cost does not grow with history: its S3 requests after 3 batches equal
those after 300, because what is due comes from the batch ledger (load/ledger.py), and the one
listing a step makes, for committed batches the ledger lacks, starts at the ledger's newest."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from botocore.client import BaseClient

from ainsdale_etl.core.batches import manifest_key, new_batch_id, parse_batch_id
from helpers.contents import ledger, warehouse_contents
from helpers.databases import query

BUCKETS = ("ingest-bucket", "processed-bucket")


@pytest.fixture
def s3_buckets(s3_buckets, monkeypatch):
    """conftest's buckets, the ingest one used at its root: history is written here by key."""
    monkeypatch.setenv("AINSDALE_INGEST_URI", "s3://ingest-bucket")
    return s3_buckets


@contextmanager
def s3_requests(monkeypatch) -> Iterator[Counter[str]]:
    """Every S3 call this process makes, by operation (the real client, counted on its way)."""
    counted: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counting(self, operation, params):  # type: ignore[no-untyped-def]
        if self.meta.service_model.service_name == "s3":
            counted[operation] += 1
        return original(self, operation, params)

    with monkeypatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", counting)
        yield counted


def touch_a_row(source_url: str) -> None:
    query(
        source_url,
        "UPDATE staff SET last_updated = now() WHERE staff_id = (SELECT min(staff_id) FROM staff)",
    )


def add_history(s3, warehouse_url: str, count: int) -> None:
    """``count`` batches older than any real one, committed in both buckets and in the ledger,
    as a year of runs leaves them: copies of the first batch's manifests under earlier ids."""
    listing = s3.list_objects_v2(Bucket="ingest-bucket", Prefix="data/")["Contents"]
    first = min(
        k["Key"].rsplit("/", 1)[1].removesuffix("_manifest.json")
        for k in listing
        if k["Key"].endswith("_manifest.json")
    )
    start = parse_batch_id(first).replace(year=parse_batch_id(first).year - 1)
    columns = [
        r[0]
        for r in query(
            warehouse_url,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'ainsdale_meta' AND table_name = 'batch' ORDER BY ordinal_position",
        )
    ]
    chosen = ", ".join("old" if c == "batch_id" else f'"{c}"' for c in columns)
    manifests = {
        bucket: json.loads(s3.get_object(Bucket=bucket, Key=manifest_key(first))["Body"].read())
        for bucket in BUCKETS
    }
    olds = [new_batch_id(start.replace(microsecond=n)) for n in range(count)]
    for old in olds:
        for bucket, body in manifests.items():
            key = manifest_key(old)
            s3.put_object(
                Bucket=bucket, Key=key, Body=json.dumps(body | {"batch_id": old}).encode()
            )
        for table in manifests["ingest-bucket"]["tables"]:  # a batch's objects take pages too
            s3.put_object(Bucket="ingest-bucket", Key=key.replace("manifest.json", table), Body=b"")
    query(
        warehouse_url,
        f"INSERT INTO ainsdale_meta.batch SELECT {chosen} "
        "FROM ainsdale_meta.batch, unnest($1::text[]) AS old WHERE batch_id = $2",
        [olds, first],
    )


def _one_round(cli, etl_env, monkeypatch) -> dict[str, Counter[str]]:
    """The S3 requests of an incremental run, as run-all and as the state machine's three
    tasks (extract, transform, load: each its own process in AWS)."""
    counts = {}
    for commands in (["run-all"], ["extract"], ["transform"], ["load"]):
        if commands[0] in ("run-all", "extract"):
            touch_a_row(etl_env["AINSDALE_SOURCE_URL"])
        with s3_requests(monkeypatch) as counted:
            result = cli(*commands)
        assert "listed_whole" not in result.stdout, commands
        counts[commands[0]] = counted
    return counts


def test_an_incremental_run_makes_the_same_s3_requests_after_3_and_after_300_batches(
    cli, etl_env, s3_buckets, monkeypatch
):
    for _ in range(3):
        touch_a_row(etl_env["AINSDALE_SOURCE_URL"])
        cli("run-all")
    after_3 = _one_round(cli, etl_env, monkeypatch)
    add_history(s3_buckets, etl_env["AINSDALE_WAREHOUSE_URL"], 297)
    after_300 = _one_round(cli, etl_env, monkeypatch)
    assert after_3 == after_300, (after_3, after_300)
    # One listing per step, each from the ledger's newest batch on: for a batch committed
    # but not recorded (a crash between the two) or a warehouse new to these buckets.
    assert after_300["run-all"]["ListObjectsV2"] == 3
    loaded = query(
        etl_env["AINSDALE_WAREHOUSE_URL"], "SELECT batch_id FROM ainsdale_meta.loaded_batch"
    )
    assert len(loaded) == 3 + 2 + 297 + 2


def test_a_new_warehouse_over_the_same_buckets_gets_every_batch(
    cli, etl_env, monkeypatch, new_database_url
):
    for _ in range(2):
        touch_a_row(etl_env["AINSDALE_SOURCE_URL"])
        cli("run-all")
    # The warehouse is replaced (a new database, a restore): its ledger is empty, so the
    # buckets' committed batches are adopted, and every transformed batch is loaded into it.
    fresh = new_database_url("warehouse_again")
    monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", fresh)
    cli("load")
    assert warehouse_contents(fresh) == warehouse_contents(etl_env["AINSDALE_WAREHOUSE_URL"])
    assert len(query(fresh, "SELECT batch_id FROM ainsdale_meta.loaded_batch")) == 2


def test_a_batch_repaired_out_of_turn_does_not_pass_a_waiting_one(cli, etl_env):
    ingest, wh = Path(etl_env["AINSDALE_INGEST_URI"]), etl_env["AINSDALE_WAREHOUSE_URL"]
    touch_a_row(etl_env["AINSDALE_SOURCE_URL"])
    cli("extract")
    [first] = [p.name for p in ingest.glob("data/*/*/*/*")]
    [csv] = ingest.glob(f"data/*/*/*/{first}/{first}_staff.csv")
    good = csv.read_bytes()
    csv.write_bytes(good[: len(good) // 2])  # damaged: the batch is quarantined at transform
    src = etl_env["AINSDALE_SOURCE_URL"]
    query(src, "UPDATE sales_order SET units_sold = units_sold + 1, last_updated = now() "
               "WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cli("run-all", expect=1)  # extracts a second batch, which waits behind the first
    [second] = [p.name for p in ingest.glob("data/*/*/*/*") if p.name != first]
    cli("transform", "--batch-id", second)  # a repair out of turn, as the README allows
    cli("load", "--batch-id", second)
    cli("load")  # a scheduled load: nothing due, and `first` still waits
    csv.write_bytes(good)  # the objects restored
    cli("run-all")
    assert ledger(wh) == sorted([first, second])
    cli("verify")

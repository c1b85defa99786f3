"""The CLI as users meet it: help, errors as one line with the right exit code, S3 buckets,
and the real entry point on the embedded default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.databases import count, query

COMMANDS = [
    "extract",
    "transform",
    "load",
    "run-all",
    "batches",
    "seed",
    "demo",
    "verify",
    "report",
    "check",
    "migrate",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli, command):
    result = cli(command, "--help")
    assert "Usage:" in result.output and command in result.output


def test_help_never_shows_a_secret_from_the_environment(cli, monkeypatch):
    leaky = "postgresql://etl:LeakyPa55word@db.example.com/totesys"
    for name in ("AINSDALE_SOURCE_URL", "AINSDALE_WAREHOUSE_URL", "AINSDALE_SEED_URL"):
        monkeypatch.setenv(name, leaky)
    for command in ([], *([c] for c in COMMANDS)):
        result = cli(*command, "--help")
        assert "LeakyPa55word" not in result.output, command


def test_a_kms_key_with_aes256_is_a_usage_error_naming_the_variable(cli, etl_env, monkeypatch):
    monkeypatch.setenv("AINSDALE_S3_SSE", "AES256")
    monkeypatch.setenv("AINSDALE_S3_KMS_KEY_ID", "alias/etl")
    result = cli("extract", expect=2)
    assert "error: AINSDALE_S3_KMS_KEY_ID:" in result.output


def test_a_malformed_batch_id_is_a_usage_error(cli, etl_env):
    result = cli("transform", "--batch-id", "yesterday", expect=2)
    assert "is not a batch id" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_batch_is_a_usage_error(cli, etl_env):
    result = cli("load", "--batch-id", "20200101T000000000000Z", expect=2)
    assert "no committed batch 20200101T000000000000Z" in result.output


def test_an_unreachable_database_is_try_later_in_one_line_without_its_password(
    cli, etl_env, monkeypatch
):
    monkeypatch.setenv("AINSDALE_SOURCE_URL", "postgresql://etl:hunter2secret@127.0.0.1:1/totesys")
    monkeypatch.setattr("ainsdale_etl.core.retry.DB_ATTEMPTS", 1)
    # Refused connections are transient: once the in-process retries are spent, exit 75.
    result = cli("extract", expect=75)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot connect to the source database" in errors[0]
    assert "hunter2secret" not in result.output


def test_a_keyword_connection_string_is_refused_without_echoing_it(cli, etl_env, monkeypatch):
    monkeypatch.setenv("AINSDALE_WAREHOUSE_URL", "host=db user=etl password=hunter2 dbname=wh")
    result = cli("check", expect=2)
    assert "AINSDALE_WAREHOUSE_URL" in result.stderr and "postgresql://" in result.stderr
    assert "hunter2" not in result.output


@pytest.mark.parametrize(
    ("command", "password"),
    [("extract", "s3cretPW@with@at"), ("check", "s3cretPW@with@at"), ("run-all", "s3cretPW@with@at"),
     ("verify", "s3cretPW/with@at"), ("verify", "s3cretPW?with@at")],
)  # fmt: skip
def test_an_unencoded_reserved_character_in_a_password_is_refused_without_echoing_any_of_it(
    command, password, cli, etl_env, monkeypatch
):
    """libpq would cut the authority at the first '/' or '?' and split it at the first '@',
    and name the pieces ('failed to resolve host with@at@127.0.0.1', 'invalid integer value
    "s3cretPW" for connection option "port"'): refused by structure, before any use."""
    monkeypatch.setenv("AINSDALE_SOURCE_URL", f"postgresql://postgres:{password}@127.0.0.1/db")
    result = cli(command, expect=2)
    [line] = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert "AINSDALE_SOURCE_URL" in line and "unencoded '@', '/' or '?'" in line and "%40" in line
    for fragment in ("s3cret", "with", "at@", "PW"):
        assert fragment not in result.output


def test_seed_url_is_checked_the_same_way(cli, etl_env):
    result = cli("seed", "--url", "postgresql://postgres:s3cretPW/with@at@127.0.0.1/db", expect=2)
    assert "unencoded '@', '/' or '?'" in result.output
    assert all(fragment not in result.output for fragment in ("s3cret", "with", "at@"))


def test_load_refuses_a_warehouse_holding_foreign_tables(cli, etl_env):
    wh = etl_env["AINSDALE_WAREHOUSE_URL"]
    query(wh, "CREATE TABLE customer_notes (id int)")
    result = cli("run-all", expect=2)
    assert "did not create" in result.output and "--force" in result.output
    assert query(wh, "SELECT to_regclass('fact_sales_order') IS NULL") == [(True,)]
    cli("run-all", "--force")
    assert count(wh, "fact_sales_order") > 0
    assert query(wh, "SELECT to_regclass('customer_notes') IS NOT NULL") == [(True,)]


def test_seed_refuses_a_seeded_database_without_force(cli, etl_env):
    result = cli("seed", "--scale", "0.01", expect=2)
    assert "--force" in result.output
    cli("seed", "--scale", "0.01", "--force")
    assert count(etl_env["AINSDALE_SOURCE_URL"], "sales_order") == 110


def test_run_all_on_s3_buckets(cli, etl_env, s3_buckets):
    cli("run-all")
    ingest = [o["Key"] for o in s3_buckets.list_objects_v2(Bucket="ingest-bucket")["Contents"]]
    [manifest] = [k for k in ingest if k.endswith("_manifest.json")]
    batch_id = manifest.rsplit("/", 1)[1].removesuffix("_manifest.json")
    prefix = f"totesys/data/{batch_id[:4]}/{batch_id[4:6]}/{batch_id[6:8]}/{batch_id}/"
    assert f"{prefix}{batch_id}_sales_order.csv" in ingest
    # a CSV and an id set per table (the key check), and the manifest
    assert all(k.startswith(prefix) for k in ingest) and len(ingest) == 23
    processed = [
        o["Key"] for o in s3_buckets.list_objects_v2(Bucket="processed-bucket")["Contents"]
    ]
    assert f"{prefix.removeprefix('totesys/')}{batch_id}_fact_sales_order.parquet" in processed
    assert any(k.startswith("state/current/") for k in processed)
    wh, src = etl_env["AINSDALE_WAREHOUSE_URL"], etl_env["AINSDALE_SOURCE_URL"]
    assert count(wh, "fact_payment") == count(src, "payment")


def test_demo_runs_on_the_embedded_default_through_the_real_entry_point(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINSDALE_")}
    env |= {"AINSDALE_HOME": str(tmp_path / "home"), "AINSDALE_LOG_FORMAT": "console"}
    exe = Path(sys.executable).with_name("ainsdale-etl")
    result = subprocess.run([str(exe), "demo", "--scale", "0.01"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    [batch_id] = [p.name for p in (tmp_path / "home" / "ingest").glob("data/*/*/*/*")]
    story = result.stdout.splitlines()
    # A short story: seeded, extracted, loaded, one table of what the warehouse holds (each
    # star table once), where everything is; step-by-step event lines stay out of it.
    assert any(line.startswith("seeded totesys: ") for line in story)
    assert f"extracted batch {batch_id}: " in result.stdout
    assert "transformed and loaded 1 batch: " in result.stdout
    assert sum("fact_sales_order" in line for line in story if "iceberg_scan" not in line) == 1
    assert "table transformed" not in result.stdout + result.stderr
    dashboard = next(line for line in story if line.startswith("dashboard "))
    assert dashboard.endswith("(works offline)")
    assert Path(dashboard.split()[1]).is_file()
    # It ends with the lake built, and one query to try on it.
    assert any(line.startswith("lake              21 Iceberg tables under ") for line in story)
    query = next(line for line in story if "iceberg_scan(" in line)
    metadata = query.split("iceberg_scan('", 1)[1].split("'", 1)[0]
    assert Path(metadata.removeprefix("file://")).is_file()
    # A second demo finds the source seeded and nothing changed: it still succeeds, and says so.
    again = subprocess.run([str(exe), "demo"], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "extracted nothing: no row of totesys changed since the last batch" in again.stdout
    assert "transformed and loaded" not in again.stdout


def test_report_command_writes_the_page_for_a_loaded_warehouse(cli, etl_env, tmp_path):
    cli("run-all")
    out = tmp_path / "r"
    result = cli("report", "--out", str(out), "--from", "2023-01-01", "--to", "2023-12-31")
    assert str((out / "index.html").resolve()) in result.output
    [(batch_id,)] = query(
        etl_env["AINSDALE_WAREHOUSE_URL"], "SELECT batch_id FROM ainsdale_meta.loaded_batch"
    )
    assert batch_id in (out / "index.html").read_text()
    cli("report", "--from", "2024-02-30", expect=2)

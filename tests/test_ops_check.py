"""`ainsdale-etl check`: what a person runs first against a stack. It passes on a good one, names
what to fix on a broken one, and writes nothing either way."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest

from ainsdale_etl.core.registry import SCHEMA_VERSION
from helpers.databases import as_role, query


def checks(output: str) -> dict[str, dict[str, object]]:
    [line] = [ln for ln in output.splitlines() if ln.startswith('{"ok"')]
    return {c["name"]: c for c in json.loads(line)["checks"]}


def test_a_good_local_stack_passes_and_nothing_is_written(cli, etl_env):
    found = checks(cli("check", "--json").output)
    assert all(c["ok"] for c in found.values()), found
    assert "11 tables readable" in found["source"]["detail"]
    assert found["warehouse"]["detail"].endswith("no star schema yet; the first load creates it")
    assert found["ingest bucket"]["detail"].endswith("will be created")
    assert "not set" in found["alerts"]["detail"]
    assert not Path(etl_env["AINSDALE_INGEST_URI"]).exists()
    assert query(etl_env["AINSDALE_WAREHOUSE_URL"], "SELECT to_regclass('fact_payment')") == [
        (None,)
    ]


def test_a_loaded_warehouse_is_checked_for_write_privileges(cli, etl_env):
    cli("run-all")
    found = checks(cli("check", "--json").output)
    assert found["warehouse"]["detail"].endswith("star schema present and writable")
    assert found["warehouse schema"]["detail"].endswith(
        f"schema version {SCHEMA_VERSION}, this release's"
    )
    assert found["load privileges"]["detail"].endswith(
        "merge path granted (INSERT, UPDATE, DELETE, TEMP); no bulk load due (every star table holds rows)"
    )
    assert found["source columns"]["detail"].endswith("all 86 columns match the registry")
    assert found["ingest bucket"]["detail"].endswith("writable folder")


def test_json_logs_get_one_event_per_check(cli, etl_env):
    lines = [json.loads(ln) for ln in cli("check").output.splitlines()]
    assert [ln["name"] for ln in lines] == [
        "source",
        "source columns",
        "source identity",
        "ingest bucket",
        "processed bucket",
        "warehouse",
        "warehouse schema",
        "load privileges",
        "environment",
        "lake",
        "alerts",
    ]
    assert all(ln["event"] == "check" and ln["ok"] for ln in lines)


def test_the_lake_s_catalog_is_reached_and_its_tables_counted(cli, etl_env, monkeypatch):
    assert checks(cli("check", "--json").output)["lake"]["detail"].endswith("no lake is written")
    monkeypatch.setenv("AINSDALE_LAKE_CATALOG", "sql")
    assert checks(cli("check", "--json").output)["lake"]["detail"].endswith(
        "no catalog yet (the first load makes it)"
    )
    assert not (Path(etl_env["AINSDALE_HOME"]) / "lake").exists()  # check writes nothing
    cli("run-all")
    assert checks(cli("check", "--json").output)["lake"]["detail"].endswith("11 of 11 star tables")
    monkeypatch.setenv("AINSDALE_LAKE_CATALOG", "sqlite:////nonexistent-folder/catalog.db")
    found = checks(cli("check", "--json", expect=1).output)
    assert not found["lake"]["ok"] and "nonexistent-folder" in found["lake"]["detail"]


def test_a_broken_stack_fails_naming_each_fault(cli, etl_env, monkeypatch, new_database_url):
    monkeypatch.setenv("AINSDALE_SOURCE_URL", new_database_url("empty"))
    monkeypatch.setenv(
        "AINSDALE_WAREHOUSE_URL", "postgresql://etl:hunter2secret@127.0.0.1:1/warehouse"
    )
    result = cli("check", "--json", expect=1)
    found = checks(result.output)
    assert not found["source"]["ok"] and "no totesys tables in " in found["source"]["detail"]
    assert not found["warehouse"]["ok"]
    assert "cannot connect to the warehouse database" in found["warehouse"]["detail"]
    assert found["ingest bucket"]["ok"] and found["processed bucket"]["ok"]
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: 2 checks failed: source, warehouse"]
    assert "hunter2secret" not in result.output


@pytest.fixture
def unprivileged_role(pg_admin_url):
    """A login role granted nothing: it can connect, see the catalog, and read nothing."""
    name = f"nobody_{uuid.uuid4().hex[:8]}"
    query(pg_admin_url, f'CREATE ROLE "{name}" LOGIN')
    yield name
    query(pg_admin_url, f'DROP ROLE "{name}"')


def test_missing_privileges_are_named(cli, etl_env, monkeypatch, unprivileged_role):
    monkeypatch.setenv(
        "AINSDALE_SOURCE_URL", as_role(etl_env["AINSDALE_SOURCE_URL"], unprivileged_role)
    )
    monkeypatch.setenv(
        "AINSDALE_WAREHOUSE_URL", as_role(etl_env["AINSDALE_WAREHOUSE_URL"], unprivileged_role)
    )
    found = checks(cli("check", "--json", expect=1).output)
    assert "no SELECT privilege on address, " in found["source"]["detail"]
    assert found["source"]["detail"].startswith(f"{unprivileged_role}@")
    assert "no CREATE privilege" in found["warehouse"]["detail"]


def test_a_read_only_role_is_enough_and_a_missing_capture_function_is_named(
    cli, etl_env, monkeypatch, unprivileged_role
):
    src = etl_env["AINSDALE_SOURCE_URL"]
    query(src, f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{unprivileged_role}"')
    try:
        monkeypatch.setenv("AINSDALE_SOURCE_URL", as_role(src, unprivileged_role))
        found = checks(cli("check", "--json").output)
        assert found["source"]["detail"].endswith("11 tables readable, change capture available")
        cli("extract")  # the check's promise: this role extracts
        # A hardened database that closed a function the capture calls to PUBLIC (in this
        # database's catalog only) is refused by check, by name, not at the first extract.
        query(src, "REVOKE EXECUTE ON FUNCTION pg_xact_status(xid8) FROM PUBLIC")
        detail = checks(cli("check", "--json", expect=1).output)["source"]["detail"]
        assert "capture cannot run here (permission denied for function pg_xact_status)" in detail
    finally:
        query(src, f'REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM "{unprivileged_role}"')


def test_a_role_that_may_not_read_the_source_s_identity_is_warned_with_the_grant(
    cli, etl_env, monkeypatch, unprivileged_role
):
    """Issue #29: the system identifier tells a restore to another cluster from the source
    the last extract read. A role that may not call pg_control_system() (as on a hardened
    server: revoked here in this database's catalog only) still runs, with a warning naming
    the grant; the extract records the timeline, which any role reads on a primary."""
    src = etl_env["AINSDALE_SOURCE_URL"]
    [(system,)] = query(src, "SELECT system_identifier::text FROM pg_control_system()")
    found = checks(cli("check", "--json").output)["source identity"]
    assert found["ok"] and not found["warning"]
    assert found["detail"].endswith(
        f"system {system}, timeline 1; a restore or failover is recognised"
    )

    query(src, f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{unprivileged_role}"')
    query(src, "REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
    try:
        monkeypatch.setenv("AINSDALE_SOURCE_URL", as_role(src, unprivileged_role))
        found = checks(cli("check", "--json").output)["source identity"]
        assert found["ok"] and found["warning"]
        assert found["detail"].startswith("warning: ")
        assert "may not call pg_control_system()" in found["detail"]
        assert found["detail"].endswith(
            f'GRANT pg_monitor TO "{unprivileged_role}" (or GRANT EXECUTE ON FUNCTION '
            f'pg_control_system() TO "{unprivileged_role}")'
        )
        cli("extract")
        [manifest] = Path(etl_env["AINSDALE_INGEST_URI"]).glob("data/*/*/*/*/*_manifest.json")
        assert json.loads(manifest.read_text())["source"] == {
            "system_identifier": None,
            "timeline": 1,
        }
        query(src, f'GRANT EXECUTE ON FUNCTION pg_control_system() TO "{unprivileged_role}"')
        found = checks(cli("check", "--json").output)["source identity"]
        assert found["ok"] and not found["warning"], found
    finally:
        query(src, "GRANT EXECUTE ON FUNCTION pg_control_system() TO PUBLIC")
        query(src, f'REVOKE ALL ON FUNCTION pg_control_system() FROM "{unprivileged_role}"')
        query(src, f'REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM "{unprivileged_role}"')


@pytest.fixture
def s3_buckets(s3_buckets):
    """conftest's buckets, the ingest one encrypted by default."""
    s3_buckets.put_bucket_encryption(
        Bucket="ingest-bucket",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    return s3_buckets


def test_s3_buckets_are_reached_listed_and_their_encryption_reported(cli, s3_buckets):
    found = checks(cli("check", "--json").output)
    assert found["ingest bucket"]["detail"] == (
        "s3://ingest-bucket/totesys: reachable and listable; "
        "default encryption aws:kms; writes take the bucket default"
    )
    assert found["processed bucket"]["ok"]
    assert "Contents" not in s3_buckets.list_objects_v2(Bucket="ingest-bucket")


def test_a_missing_bucket_and_a_missing_topic_fail(cli, s3_buckets, monkeypatch):
    monkeypatch.setenv("AINSDALE_PROCESSED_URI", "s3://no-such-bucket")
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", "arn:aws:sns:eu-west-2:123456789012:missing")
    result = cli("check", "--json", expect=1)
    found = checks(result.output)
    assert found["processed bucket"]["detail"] == (
        "s3://no-such-bucket: no such bucket; check the URI and region"
    )
    assert found["alerts"]["detail"].endswith("no such topic")
    # check is a diagnostic a person reads: it pages no one.
    assert "alert_published" not in result.output


def test_an_existing_topic_passes(cli, s3_buckets, monkeypatch):
    arn = boto3.client("sns").create_topic(Name="etl-alerts")["TopicArn"]
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", arn)
    assert checks(cli("check", "--json").output)["alerts"]["detail"] == f"{arn}: topic exists"


def test_on_a_terminal_check_prints_a_table(cli, etl_env):
    output = cli("--log-format", "console", "check").output
    assert "processed bucket" in output and "FAILED" not in output


def test_check_names_the_ownership_and_grants_the_load_needs(
    cli, etl_env, monkeypatch, unprivileged_role
):
    """A role granted everything but ownership passes the warehouse check, but a first load
    would drop and re-add keys: check says so, by table; once the tables hold rows, it passes."""
    wh, role = etl_env["AINSDALE_WAREHOUSE_URL"], unprivileged_role
    cli("migrate")
    query(wh, f'GRANT USAGE ON SCHEMA ainsdale_meta TO "{role}"')
    query(
        wh,
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, ainsdale_meta TO "{role}"',
    )
    try:
        with monkeypatch.context() as env:
            env.setenv("AINSDALE_WAREHOUSE_URL", as_role(wh, role))
            found = checks(cli("check", "--json", expect=1).output)
        assert found["warehouse"]["ok"], found["warehouse"]
        detail = found["load privileges"]["detail"]
        assert not found["load privileges"]["ok"]
        assert "takes the bulk path, dropping and re-adding keys, which takes their owner" in detail
        assert f"{role} does not own dim_date, dim_staff," in detail
        cli("run-all")  # as the owner: every table now holds rows, so loads merge
        query(wh, f'REVOKE DELETE ON dim_staff FROM "{role}"')
        with monkeypatch.context() as env:
            env.setenv("AINSDALE_WAREHOUSE_URL", as_role(wh, role))
            found = checks(cli("check", "--json", expect=1).output)
        assert found["load privileges"]["detail"].endswith(
            "the load needs DELETE on dim_staff; grant them"
        )
    finally:
        query(wh, f'DROP OWNED BY "{role}"')

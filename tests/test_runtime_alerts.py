"""Failure alerts: the message a person is paged with, and that a failed command sends exactly
one (through moto's SNS, read back from a subscribed SQS queue) without ever masking the
failure it reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import typer
from typer.testing import CliRunner

from ainsdale_etl.core.errors import LockedError
from ainsdale_etl.runtime.alerts import (
    DASHBOARD_INCIDENT,
    Failure,
    alert_body,
    alert_subject,
    dashboard_body,
    dashboard_subject,
    retry_hint,
)
from helpers.databases import query

NOW = datetime(2026, 11, 25, 17, 48, 12, tzinfo=UTC)
BATCH = "20261125T174812123456Z"


# --- the message (pure) ----------------------------------------------------------------------


def test_subject_names_command_and_exit_code_in_at_most_100_ascii_characters():
    assert alert_subject(Failure("run-all", 1, "boom")) == "ainsdale-etl run-all failed (exit 1)"
    long = alert_subject(Failure("é" * 200, 1, "boom"))
    assert len(long) <= 100 and long.isascii()


def test_body_says_what_failed_where_and_how_to_retry():
    incident = f"run-all|load|{BATCH}|DatabaseError"
    failure = Failure("run-all", 1, "database error: x", "load", BATCH, incident=incident)
    body = alert_body(failure, NOW)
    assert body | {"host": None} == {
        "command": "run-all",
        "step": "load",
        "batch_id": BATCH,
        "exit_code": 1,
        "error": "database error: x",
        "retry": retry_hint(failure),
        "incident": incident,
        "timestamp": "2026-11-25T17:48:12+00:00",
        "host": None,
    }
    assert f"ainsdale-etl run-all --batch-id {BATCH}" in body["retry"]


def test_a_failed_extract_is_retried_by_running_again():
    hint = retry_hint(Failure("run-all", 1, "x", step="extract", batch_id=BATCH))
    assert hint.startswith("rerun `ainsdale-etl run-all`") and "--batch-id" not in hint


def test_a_configuration_failure_says_fix_it_first():
    assert retry_hint(Failure("load", 2, "x")).startswith("fix the configuration")


def test_a_failure_before_any_step_is_reported_as_the_command():
    assert alert_body(Failure("extract", 1, "x"), NOW)["step"] == "extract"


def test_a_dashboard_not_published_says_the_load_stands_and_how_to_publish_it():
    failure = Failure("run-all", 75, "S3 timed out", "report", incident=DASHBOARD_INCIDENT)
    body = dashboard_body(failure, NOW)
    assert dashboard_subject("run-all") == "ainsdale-etl dashboard not published (after run-all)"
    assert body["dashboard"].startswith("not published") and body["error"] == "S3 timed out"
    assert "exited 0" in body["retry"] and "`ainsdale-etl report --publish`" in body["retry"]
    assert body["incident"] == "dashboard|publish|-|not published"


# --- publishing (moto) -----------------------------------------------------------------------


@pytest.fixture
def topic(fake_aws):
    """An SNS topic with an SQS queue subscribed; yields (topic arn, read messages)."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    arn = sns.create_topic(Name="etl-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="etl-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])

    def received() -> list[dict[str, object]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]  # the SNS envelope

    return arn, received


def test_a_failed_command_pages_once_and_still_fails(cli, etl_env, topic, monkeypatch):
    arn, received = topic
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", arn)
    monkeypatch.setenv(
        "AINSDALE_SOURCE_URL", "postgresql://etl:hunter2secret@127.0.0.1:5432/totesys"
    )
    # A role the server does not know: a refusal, not transient, so exit 1 and no retry.
    result = cli("run-all", expect=1)
    [envelope] = received()
    body = json.loads(envelope["Message"])
    assert envelope["Subject"] == "ainsdale-etl run-all failed (exit 1)"
    assert body["error"].startswith("cannot connect to the source database")
    assert body["retry"].startswith("rerun `ainsdale-etl run-all`")
    assert "hunter2secret" not in envelope["Message"] + result.output
    assert body["step"] == "extract" and body["batch_id"] is None
    events = [json.loads(line)["event"] for line in result.stdout.splitlines()]
    assert [e for e in events if e != "listed_whole"] == [
        "step_started",
        "step_started",
        "step_started",
        "failed",
        "alert_published",
    ]  # fmt: skip (lock, prepare, extract)


def test_broken_settings_page_too(cli, etl_env, topic, monkeypatch):
    arn, received = topic
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", arn)
    monkeypatch.setenv("AINSDALE_EXTRACT_KEY_CHECK_EVERY", "-1")
    cli("extract", expect=2)
    [envelope] = received()
    body = json.loads(envelope["Message"])
    assert "AINSDALE_EXTRACT_KEY_CHECK_EVERY" in body["error"]
    assert body["retry"].startswith("fix the configuration")


def test_a_failure_to_page_is_logged_and_the_original_failure_stands(
    cli, etl_env, fake_aws, monkeypatch
):
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", "arn:aws:sns:eu-west-2:123456789012:missing")
    monkeypatch.setenv(
        "AINSDALE_SOURCE_URL", "postgresql://etl:hunter2secret@127.0.0.1:5432/totesys"
    )
    monkeypatch.setattr("ainsdale_etl.core.retry.DB_ATTEMPTS", 1)  # no retry warnings in the way
    result = cli("extract", expect=1)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "cannot connect to the source database" in errors[0]
    [warning] = [json.loads(ln) for ln in result.stdout.splitlines() if '"warning"' in ln]
    assert warning["message"].startswith("could not publish the failure alert")
    assert "hunter2secret" not in result.output


@pytest.fixture
def toy_app():
    """Two commands failing as the pipeline can, behind the CLI's error handling."""
    from ainsdale_etl.cli.exits import handle_errors

    app = typer.Typer()

    @app.command()
    @handle_errors
    def locked() -> None:
        raise LockedError("another run holds the lock; try later")

    @app.command()
    @handle_errors
    def crash() -> None:
        raise RuntimeError("bug in password=hunter2secret handling")

    return app


def test_try_later_does_not_page_but_a_crash_does(toy_app, topic, monkeypatch, tmp_path):
    from ainsdale_etl.cli.session import state

    arn, received = topic
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", arn)
    monkeypatch.setenv("AINSDALE_PROCESSED_URI", str(tmp_path / "processed"))  # alert state
    runner = CliRunner()
    monkeypatch.setattr(state, "reporter", None)  # the real app's callback does this per run
    assert runner.invoke(toy_app, ["locked"]).exit_code == 75
    assert received() == []
    monkeypatch.setattr(state, "reporter", None)
    crashed = runner.invoke(toy_app, ["crash"])
    assert crashed.exit_code == 1 and "Traceback" not in crashed.output
    [envelope] = received()
    assert envelope["Subject"] == "ainsdale-etl crash failed (exit 1)"
    assert "unexpected RuntimeError" in envelope["Message"]
    assert "hunter2secret" not in envelope["Message"] + crashed.output


def test_debugging_shows_the_traceback_and_keeps_the_exit_code_and_the_page(
    etl_env, topic, monkeypatch
):
    from ainsdale_etl.cli.app import app

    arn, received = topic
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", arn)
    monkeypatch.setenv(
        "AINSDALE_SOURCE_URL", "postgresql://etl:hunter2secret@127.0.0.1:5432/totesys"
    )
    monkeypatch.setattr("ainsdale_etl.core.retry.DB_ATTEMPTS", 1)
    result = CliRunner().invoke(app, ["--debug", "extract"])
    assert result.exit_code == 1  # what the scheduler sees does not change under --debug
    assert "Traceback" in result.stderr and "DatabaseError" in result.stderr
    assert "hunter2secret" not in result.output
    [envelope] = received()
    assert "cannot connect to the source database" in envelope["Message"]
    # A usage error keeps its code 2 under --debug too.
    monkeypatch.setenv("AINSDALE_WORKERS", "0")
    assert CliRunner().invoke(app, ["--debug", "extract"]).exit_code == 2


def test_check_never_pages_even_when_its_settings_are_bad(cli, etl_env, topic, monkeypatch):
    arn, received = topic
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", arn)
    monkeypatch.setenv("AINSDALE_WORKERS", "zero")
    result = cli("check", expect=2)
    assert "AINSDALE_WORKERS" in result.stderr
    assert received() == []


def test_a_dashboard_not_published_pages_once_shows_in_the_metrics_and_is_published_again(
    cli, etl_env, topic, monkeypatch
):
    """A load whose dashboard cannot be published exits 0 with a warning, as before; it is a
    metric (dashboard_unpublished 1) and pages once however many runs stay stale; the next
    publish says 0 and "published again"."""
    arn, received = topic
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", arn)
    monkeypatch.setenv("AINSDALE_METRICS_NAMESPACE", "ainsdale-etl-test")
    processed = Path(etl_env["AINSDALE_PROCESSED_URI"])
    processed.mkdir(parents=True, exist_ok=True)
    (processed / "reports").write_text("")  # a file where the reports folder goes: refused

    def load_something() -> list[dict[str, object]]:
        query(etl_env["AINSDALE_SOURCE_URL"],
              "UPDATE design SET design_name = design_name || '.', last_updated = "
              "localtimestamp(3) WHERE design_id = (SELECT min(design_id) FROM design)")  # fmt: skip
        result = cli("run-all", "--publish-report")  # exit 0: the load stands
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    first = load_something()
    [stale] = [r for r in first if r.get("kind") == "report_not_published"]
    assert stale["level"] == "warning" and stale["dashboard_unpublished"] == 1
    directive = stale["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ainsdale-etl-test"
    assert directive["Metrics"] == [{"Name": "dashboard_unpublished", "Unit": "Count"}]
    assert "alert_published" in [r["event"] for r in first]
    [envelope] = received()
    assert envelope["Subject"] == "ainsdale-etl dashboard not published (after run-all)"
    body = json.loads(envelope["Message"])
    assert body["command"] == "run-all" and body["incident"] == DASHBOARD_INCIDENT
    assert "report --publish" in body["retry"]

    for _ in range(2):  # still broken: the metric each time, no second page
        again = load_something()
        assert [r["dashboard_unpublished"] for r in again if "dashboard_unpublished" in r] == [1]
        [suppressed] = [r for r in again if r["event"] == "alert_suppressed"]
        assert suppressed["incident"] == DASHBOARD_INCIDENT
    assert received() == []

    (processed / "reports").unlink()
    fixed = load_something()
    [published] = [r for r in fixed if r.get("kind") == "report_published"]
    assert published["dashboard_unpublished"] == 0 and "_aws" in published
    [envelope] = received()
    assert envelope["Subject"] == "ainsdale-etl dashboard published again"
    [closed] = json.loads(envelope["Message"])["resolved"]
    assert closed["incident"] == DASHBOARD_INCIDENT and closed["failures"] == 3
    assert (processed / "reports" / "latest" / "index.html").is_file()
    load_something()  # published and nothing open: nothing more to say
    assert received() == []

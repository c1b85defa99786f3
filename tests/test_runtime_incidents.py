"""One page per incident: repeats suppressed, a new failure paged, a recovery resolved once,
the state kept in the processed bucket (moto's S3 in-process) and never in the way of the
failure it is about."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import typer
from typer.testing import CliRunner

from ainsdale_etl.core.errors import (
    BadInputError,
    DatabaseError,
    LockedError,
    Place,
    failing_in,
    mark_place,
)
from ainsdale_etl.runtime.incidents import (
    IncidentStore,
    OpenIncidents,
    decide,
    incident_key,
    resolve,
)
from ainsdale_etl.runtime.shutdown import StopRequestedError

NOW = datetime(2026, 11, 25, 17, 48, 12, tzinfo=UTC)
HOUR = 3600.0
BATCH = "20261125T174812123456Z"


def fail_at(state, key, now, code=1, repeat=4 * HOUR, after=3):
    return decide(state, key, code, "boom", now, repeat_seconds=repeat, after_repeats=after)


# --- the decision (pure) ---------------------------------------------------------------------


def test_the_key_is_command_step_batch_and_error_class_never_the_message():
    assert incident_key("run-all", "transform", BATCH, "BadInputError") == (
        f"run-all|transform|{BATCH}|BadInputError"
    )
    assert incident_key("extract", None, None, "DatabaseError") == "extract|extract|-|DatabaseError"


def test_a_repeat_within_the_window_is_suppressed_and_reminds_after_it():
    key = incident_key("run-all", "transform", BATCH, "BadInputError")
    paged, state = fail_at(OpenIncidents(), key, NOW)
    assert paged
    for minutes in (30, 60, 230):
        paged, state = fail_at(state, key, NOW + timedelta(minutes=minutes))
        assert not paged
    paged, state = fail_at(state, key, NOW + timedelta(hours=4))
    assert paged and state.incidents[key].failures == 5
    assert state.incidents[key].opened_at == NOW


def test_a_new_key_pages_at_once():
    _, state = fail_at(OpenIncidents(), incident_key("load", "load", BATCH, "BadInputError"), NOW)
    other = incident_key("load", "load", BATCH, "DatabaseError")
    paged, state = fail_at(state, other, NOW + timedelta(minutes=1))
    assert paged and len(state.incidents) == 2


@pytest.mark.parametrize("code", [130, 75])
def test_a_stop_or_a_transient_fault_pages_only_when_it_repeats(code):
    key = incident_key("load", "load", None, "StopRequestedError")
    state, pages = OpenIncidents(), []
    for run in range(5):
        paged, state = fail_at(state, key, NOW + timedelta(minutes=30 * run), code=code)
        pages.append(paged)
    assert pages == [False, False, True, False, False]


def test_only_paged_incidents_are_owed_a_resolved_message():
    _, state = fail_at(OpenIncidents(), "a", NOW)
    _, state = fail_at(state, "b", NOW, code=130)
    assert [i.key for i in resolve(state)] == ["a"]


# --- through the CLI's error handling, with SNS and S3 (moto) --------------------------------


@pytest.fixture
def alerting(fake_aws, monkeypatch):
    """A topic with a queue subscribed, and the processed bucket the state is kept in."""
    sns, sqs, s3 = boto3.client("sns"), boto3.client("sqs"), boto3.client("s3")
    arn = sns.create_topic(Name="etl-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="etl-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    s3.create_bucket(
        Bucket="etl-processed", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    monkeypatch.setenv("AINSDALE_ALERT_TOPIC_ARN", arn)
    monkeypatch.setenv("AINSDALE_PROCESSED_URI", "s3://etl-processed")

    def received() -> list[tuple[str, dict[str, object]]]:
        found = []
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for m in messages:
                envelope = json.loads(m["Body"])
                found.append((envelope["Subject"], json.loads(envelope["Message"])))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return found

    return received


EARLIER = "20261125T170000000000Z"


def _outcomes(outcome: str) -> None:
    from ainsdale_etl.cli.session import reporter

    if outcome == "ok":
        return
    reporter().event("batch_started", step="transform", batch_id=BATCH)
    failure = {
        "bad": BadInputError(f"batch {BATCH}: bad row id 7 at {datetime.now(UTC)}"),
        "bad-first": BadInputError(f"batch {BATCH}: bad row id 7 at {datetime.now(UTC)}"),
        "other": RuntimeError("bug"),
        "stopped": StopRequestedError("stopped by SIGTERM"),
        "down": DatabaseError("cannot connect: connection refused", transient=True),
        "locked": LockedError("another run holds the pipeline lock"),
    }[outcome]
    if outcome.startswith("bad"):
        # As run-all does: the batch is quarantined, then the batches before it are loaded,
        # the first time only (a later run finds them loaded), and the run stops.
        mark_place(failure, Place("transform", BATCH, quarantined=True))
        reporter().event("step_started", step="load")
        if outcome == "bad-first":
            reporter().event("batch_started", step="load", batch_id=EARLIER)
        raise failure
    with failing_in("transform", BATCH):
        raise failure


@pytest.fixture
def run(monkeypatch):
    """``run(outcome)``: one scheduled run of a command `run-all` that ends as told."""
    from ainsdale_etl.cli.exits import handle_errors
    from ainsdale_etl.cli.session import state

    app = typer.Typer()

    @app.command()
    @handle_errors
    def run_all(outcome: str) -> None:
        _outcomes(outcome)

    def invoke(outcome: str) -> list[dict[str, object]]:
        monkeypatch.setattr(state, "reporter", None)  # the real app's callback does this
        result = CliRunner().invoke(app, [outcome])
        assert ("Traceback" in result.output) is False
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    return invoke


def test_a_quarantined_batch_pages_once_however_often_the_schedule_runs(alerting, run):
    run("bad-first")
    for _ in range(3):
        events = run("bad")  # the message's numbers change; the incident does not
    [(subject, body)] = alerting()
    assert subject == "ainsdale-etl run-all failed (exit 1)"
    assert body["incident"] == f"run-all|transform|{BATCH}|quarantined"
    assert [e["event"] for e in events][-1] == "alert_suppressed"
    run("other")
    [(subject, body)] = alerting()  # a different failure is a new incident
    assert body["incident"].endswith("|RuntimeError")


def test_a_success_resolves_once_and_the_state_outlives_the_process(alerting, run):
    run("bad")
    alerting()
    stored = IncidentStore.key("run-all")
    assert stored.startswith("state/alerts/")
    # A new process reads the same state: it is in the bucket, not in memory.
    body = boto3.client("s3").get_object(Bucket="etl-processed", Key=stored)["Body"].read()
    assert list(OpenIncidents.model_validate_json(body).incidents) == [
        f"run-all|transform|{BATCH}|quarantined"
    ]
    run("ok")
    [(subject, resolved)] = alerting()
    assert subject == "ainsdale-etl run-all resolved"
    assert resolved["resolved"][0]["failures"] == 1
    run("ok")
    assert alerting() == []
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket="etl-processed")


def test_a_stopped_run_pages_on_its_third_time_and_the_lock_never(alerting, run):
    for _ in range(5):
        run("locked")
    assert alerting() == []
    run("stopped")
    run("stopped")
    assert alerting() == []
    run("stopped")
    [(subject, _)] = alerting()
    assert subject == "ainsdale-etl run-all failed (exit 130)"
    run("ok")
    [(subject, _)] = alerting()
    assert subject.endswith("resolved")


def test_without_its_state_a_failure_still_pages_and_keeps_its_exit_code(
    alerting, run, monkeypatch
):
    monkeypatch.setenv("AINSDALE_PROCESSED_URI", "s3://no-such-bucket-here")
    events = run("bad")
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("cannot read the alert state" in w for w in warnings), warnings
    [(subject, _)] = alerting()
    assert subject == "ainsdale-etl run-all failed (exit 1)"
    [failed] = [e for e in events if e["event"] == "failed"]
    assert failed["exit_code"] == 1 and failed["message"].startswith(f"batch {BATCH}: bad row")
    assert "alert_published" in [e["event"] for e in events]
    assert events[-1]["message"].startswith("cannot write the alert state")  # said, not raised
    assert run("ok")[-1]["event"] == "warning"  # resolving cannot read it either: said, not raised


def test_a_batch_quarantined_by_a_bad_row_pages_once_through_the_real_pipeline(
    alerting, cli, etl_env, monkeypatch
):
    """The first run fails with the row's own error, every later one with "quarantined":
    one incident all the same."""
    from helpers.databases import query

    monkeypatch.setenv("AINSDALE_PROCESSED_URI", "s3://etl-processed")
    src = etl_env["AINSDALE_SOURCE_URL"]
    cli("run-all")
    alerting()
    order = query(src, "SELECT min(sales_order_id) FROM sales_order")[0][0]
    # totesys keeps dates as text: an impossible one gets in
    query(src, "UPDATE sales_order SET agreed_delivery_date = '2024-02-30', "
               "last_updated = localtimestamp(3) WHERE sales_order_id = $1", [order])  # fmt: skip
    for _ in range(3):
        cli("run-all", expect=1)
    [(subject, body)] = alerting()
    assert subject == "ainsdale-etl run-all failed (exit 1)" and body["incident"].endswith(
        "|quarantined"
    )
    query(src, "UPDATE sales_order SET agreed_delivery_date = '2024-02-28', "
               "last_updated = localtimestamp(3) WHERE sales_order_id = $1", [order])  # fmt: skip
    cli("run-all")  # the fix supersedes the bad version: the schedule carries on by itself
    [(subject, _)] = alerting()
    assert subject == "ainsdale-etl run-all resolved"

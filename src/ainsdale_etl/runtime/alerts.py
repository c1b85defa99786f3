"""Failure alerts: one SNS message per failed command, saying what failed and how to retry.

The message is built by pure functions from a :class:`Failure`; only :func:`publish_alert`
talks to AWS. The error text is the one line the CLI printed, already scrubbed of secrets.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# SNS subjects: ASCII, no line breaks, at most 100 characters.
SUBJECT_LIMIT = 100
ERROR_LIMIT = 2000  # an alert is read by a person; the full story is in the logs
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]+")
# Commands that take --batch-id, and so can redo exactly the batch that failed.
_BATCH_COMMANDS = {"run-all", "transform", "load"}


@dataclass(frozen=True)
class Failure:
    """A failed command: what ran, how it ended, and where it was when it stopped."""

    command: str
    exit_code: int
    error: str
    step: str | None = None
    batch_id: str | None = None


def alert_subject(failure: Failure) -> str:
    subject = f"ainsdale-etl {failure.command} failed (exit {failure.exit_code})"
    return _NOT_PRINTABLE_ASCII.sub(" ", subject)[:SUBJECT_LIMIT]


def retry_hint(failure: Failure) -> str:
    """What the person paged should run once the cause is fixed."""
    rerun = f"ainsdale-etl {failure.command}"
    if failure.exit_code == 2:
        return f"fix the configuration the error names, then rerun `{rerun}`"
    redo = failure.step in {"transform", "load"} and failure.command in _BATCH_COMMANDS
    if failure.batch_id and redo:
        return (
            f"rerun `{rerun}`: pending batches are picked up where they stopped; "
            f"to redo only this batch: `ainsdale-etl run-all --batch-id {failure.batch_id}`"
        )
    return f"rerun `{rerun}`: it carries on from the last committed batch"


def alert_body(failure: Failure, now: datetime) -> dict[str, Any]:
    """The alert's JSON body: enough to act on without opening the logs first."""
    return {
        "command": failure.command,
        "step": failure.step or failure.command,
        "batch_id": failure.batch_id,
        "exit_code": failure.exit_code,
        "error": failure.error[:ERROR_LIMIT],
        "retry": retry_hint(failure),
        "timestamp": now.astimezone(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


def publish_alert(topic_arn: str, failure: Failure, now: datetime | None = None) -> str:
    """Publish the alert for ``failure``; returns the SNS message id."""
    from ainsdale_etl.adapters.aws import aws_client

    # Few, short attempts: the run has already failed, and its exit must not wait on SNS.
    sns = aws_client("sns", arn=topic_arn, max_attempts=3, timeout=10)
    body = alert_body(failure, now or datetime.now(UTC))
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=alert_subject(failure),
        Message=json.dumps(body, indent=2),
    )
    return str(response["MessageId"])


def page(reporter: Any, command: str, message: str, code: int) -> None:
    """Page through SNS if a topic is set, unless the scheduler will simply retry (exit 75).

    ``reporter`` knows the step and batch the run was in. A failure to page is logged, never
    raised, so the original failure and its exit code stand.
    """
    from ainsdale_etl.adapters.postgres import scrub
    from ainsdale_etl.core.errors import ExitCode
    from ainsdale_etl.core.settings import alert_topic_arn

    topic = alert_topic_arn()
    if not topic or code in (ExitCode.OK, ExitCode.TRY_LATER):
        return
    failure = Failure(
        command=command,
        exit_code=code,
        error=scrub(message),
        step=reporter.step,
        batch_id=reporter.batch_id,
    )
    try:
        message_id = publish_alert(topic, failure)
    except Exception as exc:
        from ainsdale_etl.adapters.aws import describe_aws_error

        reporter.warning(
            scrub(f"could not publish the failure alert to {topic}: {describe_aws_error(exc)}")
        )
        return
    reporter.event("alert_published", topic=topic, message_id=message_id)

"""Failure alerts: one SNS message per incident, saying what failed and how to retry, and one
more when it is resolved.

The message is built by pure functions from a :class:`Failure`; only :func:`_publish`
talks to AWS. The error text is the one line the CLI printed, already scrubbed of secrets.
Which failures page, and which successes resolve, is :mod:`.incidents`' to decide.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ainsdale_etl.core.errors import ExitCode, Place
from ainsdale_etl.runtime.incidents import (
    PAGE_AFTER_REPEATS,
    PAGE_WHEN_REPEATED,
    REPEAT_SECONDS,
    Incident,
    IncidentStore,
    OpenIncidents,
    decide,
    incident_key,
    incident_store,
    resolve,
)

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
    incident: str | None = None  # the stable key (see runtime/incidents.py)


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
        "incident": failure.incident,
        "timestamp": now.astimezone(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


def resolved_body(command: str, incidents: list[Incident], now: datetime) -> dict[str, Any]:
    """The message that closes ``incidents``: a run of the same command succeeded."""
    return {
        "command": command,
        "resolved": [
            {
                "incident": i.key,
                "exit_code": i.exit_code,
                "failures": i.failures,
                "since": i.opened_at.astimezone(UTC).isoformat(timespec="seconds"),
                "last_error": i.error[:ERROR_LIMIT],
            }
            for i in incidents
        ],
        "timestamp": now.astimezone(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


def _publish(topic_arn: str, subject: str, body: dict[str, Any]) -> str:
    from ainsdale_etl.adapters.aws import aws_client

    # Few, short attempts: the run has already ended, and its exit must not wait on SNS.
    sns = aws_client("sns", arn=topic_arn, max_attempts=3, timeout=10)
    subject = _NOT_PRINTABLE_ASCII.sub(" ", subject)[:SUBJECT_LIMIT]
    response = sns.publish(TopicArn=topic_arn, Subject=subject, Message=json.dumps(body, indent=2))
    return str(response["MessageId"])


def _store_or_warn(reporter: Any, doing: str) -> IncidentStore | None:
    try:
        return incident_store()
    except Exception as exc:
        _warn(reporter, f"cannot open the alert state to {doing}", exc)
        return None


def _warn(reporter: Any, what: str, exc: Exception) -> None:
    from ainsdale_etl.adapters.aws import describe_aws_error
    from ainsdale_etl.adapters.postgres import scrub

    reporter.warning(scrub(f"{what}: {describe_aws_error(exc)}"))


def page(
    reporter: Any,
    command: str,
    message: str,
    code: int,
    error_class: str = "",
    place: Place | None = None,
) -> None:
    """Page through SNS if a topic is set and this failure opens an incident (or reminds of
    one): see :mod:`.incidents`. Another run holding the lock never pages (the freshness
    alarm notices a lock held for too long).

    ``place`` is the step and batch the failure was raised in, carried by the exception (or
    the quarantined batch that stopped the run); None before any step. A failure to page, or
    to read or write the incident state, is logged, never raised, so the original failure and
    its exit code stand; without its state, a failure pages as if new.
    """
    from ainsdale_etl.adapters.postgres import scrub
    from ainsdale_etl.core.settings import alert_settings

    topic = alert_settings().alert_topic_arn
    if not topic or code == ExitCode.OK or error_class == "LockedError":
        return
    step, batch_id = (place.step, place.batch_id) if place else (None, None)
    if place and place.quarantined:
        # Its first run fails with the row's error, every later one with "quarantined": one
        # incident, whichever class said it.
        error_class = "quarantined"
    key = incident_key(command, step, batch_id, error_class or f"exit {code}")
    if code in PAGE_WHEN_REPEATED:
        # A stop or a fault of the moment lands wherever the run was: only its repetition
        # matters, so every one counts towards the same incident.
        key = incident_key(command, None, None, f"exit {code}")
    failure = Failure(command, code, scrub(message), step, batch_id, incident=key)
    _page_once(
        reporter,
        topic,
        command,
        key,
        failure,
        alert_subject(failure),
        lambda now: alert_body(failure, now),
    )


def _page_once(
    reporter: Any,
    topic: str,
    command: str,
    key: str,
    failure: Failure,
    subject: str,
    body_of: Callable[[datetime], dict[str, Any]],
) -> None:
    """Publish ``subject`` and ``body_of(now)`` if incident ``key`` of ``command``'s state is
    due a page (see :func:`.incidents.decide`), and keep the state. Never raises."""
    store = _store_or_warn(reporter, "suppress repeated alerts")
    now = datetime.now(UTC)
    state = OpenIncidents()
    if store is not None:
        try:
            state = store.read(command)
        except Exception as exc:
            # Rewritten below: a state that cannot be read must not wedge every later page.
            _warn(reporter, "cannot read the alert state; alerting as if new", exc)
    previous = state.incidents.get(key)
    due, state = decide(
        state,
        key,
        failure.exit_code,
        failure.error,
        now,
        repeat_seconds=REPEAT_SECONDS,
        after_repeats=PAGE_AFTER_REPEATS,
    )
    if due:
        try:
            message_id = _publish(topic, subject, body_of(now))
        except Exception as exc:
            _warn(reporter, f"could not publish the failure alert to {topic}", exc)
            # Unsent: the next failure tries again, and an earlier page still counts for the
            # "resolved" message.
            state.incidents[key].paged_at = previous.paged_at if previous else None
        else:
            reporter.event("alert_published", topic=topic, message_id=message_id, incident=key)
    else:
        reporter.event("alert_suppressed", incident=key, failures=state.incidents[key].failures)
    if store is not None:
        try:
            store.write(command, state)
        except Exception as exc:
            _warn(reporter, "cannot write the alert state", exc)


def resolve_incidents(reporter: Any, command: str, subject: str = "") -> None:
    """After a success: close the command's open incidents, with one "resolved" message
    (``subject``, by default "ainsdale-etl <command> resolved") for those that paged. Never
    raises."""
    from ainsdale_etl.core.settings import alert_settings

    topic = alert_settings().alert_topic_arn
    if not topic:
        return
    store = _store_or_warn(reporter, "resolve open alerts")
    if store is None:
        return
    try:
        state = store.read(command)
        if not state.incidents:
            return
        paged = resolve(state)
        if paged:
            subject = subject or f"ainsdale-etl {command} resolved"
            message_id = _publish(topic, subject, resolved_body(command, paged, datetime.now(UTC)))
            reporter.event(
                "alert_resolved", topic=topic, message_id=message_id, incidents=len(paged)
            )
        store.write(command, OpenIncidents())
    except Exception as exc:
        _warn(reporter, "could not resolve the open alerts", exc)


# The published dashboard has incidents of its own (state/alerts/dashboard.json): a page left
# stale is one incident whatever the cause and whichever command loaded, closed by the next
# publish. The load stands, so the command's exit and its own incidents are left alone.
DASHBOARD = "dashboard"
DASHBOARD_INCIDENT = incident_key(DASHBOARD, "publish", None, "not published")


def dashboard_subject(command: str) -> str:
    return f"ainsdale-etl dashboard not published (after {command})"


def dashboard_body(failure: Failure, now: datetime) -> dict[str, Any]:
    """The alert's body when a load's dashboard was not published."""
    return {
        "dashboard": "not published: reports/latest/ still shows an earlier load",
        "command": failure.command,
        "error": failure.error[:ERROR_LIMIT],
        "retry": f"nothing to redo: `ainsdale-etl {failure.command}` loaded and exited 0; fix "
        "the cause, then run `ainsdale-etl report --publish` (or let the next load publish it)",
        "incident": failure.incident,
        "timestamp": now.astimezone(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


def page_dashboard_not_published(reporter: Any, command: str, message: str, code: int) -> None:
    """After a load whose dashboard could not be published: page once while it stays so (a
    reminder after :data:`.incidents.REPEAT_SECONDS`; a fault of the moment, 75, only when it
    repeats). Never raises."""
    from ainsdale_etl.adapters.postgres import scrub
    from ainsdale_etl.core.settings import alert_settings

    topic = alert_settings().alert_topic_arn
    if not topic:
        return
    failure = Failure(command, code, scrub(message), "report", incident=DASHBOARD_INCIDENT)
    _page_once(
        reporter,
        topic,
        DASHBOARD,
        DASHBOARD_INCIDENT,
        failure,
        dashboard_subject(command),
        lambda now: dashboard_body(failure, now),
    )


def dashboard_published(reporter: Any) -> None:
    """The dashboard was published: close its incident, "published again" if it paged."""
    resolve_incidents(reporter, DASHBOARD, subject="ainsdale-etl dashboard published again")

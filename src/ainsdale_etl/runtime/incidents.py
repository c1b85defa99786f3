"""One page per incident: which failures page, which are repeats, and when one is resolved.

An incident is a failure with a stable key: the command, the step and batch it stopped in and
the error's class, never the message, whose numbers change from run to run. Its first failure
pages; the same key again within :data:`REPEAT_SECONDS` (4 h) does not (a reminder pages
once the window has passed); a new key pages at once. A stopped run (130) and a transient fault
that outlived its retries (75) page only when they repeat :data:`PAGE_AFTER_REPEATS` (3)
times before a success. When a command of the same kind succeeds, the incidents it had open
are closed, and those that paged send one "resolved" message.

The state is one small JSON object per command, ``state/alerts/<command>.json`` in the
processed bucket, next to the quarantine marks: it survives the process, and every run of the
schedule reads the same one. :func:`decide` and :func:`resolve` are pure; only
:class:`IncidentStore` touches the bucket.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ainsdale_etl.core.errors import ExitCode

if TYPE_CHECKING:
    from ainsdale_etl.core.storage import Storage

ALERT_STATE_PREFIX = "state/alerts/"
# Exits that are not an incident on their own: a stop (a deployment, a scale-in) and a fault
# of the moment. Only their repetition is.
PAGE_WHEN_REPEATED = {int(ExitCode.INTERRUPTED), int(ExitCode.TRY_LATER)}
MAX_OPEN = 20  # incidents kept per command; the oldest go first
# Constants, not settings (issue #32): a quarantined batch pages once, then a reminder every
# 4 h; a stop or a fault of the moment pages on its 3rd time before a success.
REPEAT_SECONDS = 4 * 3600
PAGE_AFTER_REPEATS = 3
_UNSAFE_KEY = re.compile(r"[^a-z0-9-]+")


class Incident(BaseModel):
    key: str
    exit_code: int
    error: str  # the latest failure's line
    opened_at: datetime
    last_at: datetime
    failures: int = 1  # since it opened
    paged_at: datetime | None = None


class OpenIncidents(BaseModel):
    """What one command has open: incidents by key."""

    incidents: dict[str, Incident] = {}


def incident_key(command: str, step: str | None, batch_id: str | None, error_class: str) -> str:
    """``command|step|batch|error class``: the same for every run that fails the same way."""
    return "|".join((command, step or command, batch_id or "-", error_class))


def decide(
    state: OpenIncidents,
    key: str,
    exit_code: int,
    error: str,
    now: datetime,
    *,
    repeat_seconds: float,
    after_repeats: int,
) -> tuple[bool, OpenIncidents]:
    """Whether this failure pages, and the state to keep (with ``paged_at`` set if it does)."""
    seen = state.incidents.get(key)
    incident = (
        seen.model_copy(update={"failures": seen.failures + 1, "last_at": now, "error": error})
        if seen is not None
        else Incident(key=key, exit_code=exit_code, error=error, opened_at=now, last_at=now)
    )
    due = incident.paged_at is None or now - incident.paged_at >= timedelta(seconds=repeat_seconds)
    if exit_code in PAGE_WHEN_REPEATED and incident.failures < after_repeats:
        due = False
    if due:
        incident = incident.model_copy(update={"paged_at": now})
    kept = {k: v for k, v in state.incidents.items() if k != key} | {key: incident}
    newest = sorted(kept.values(), key=lambda i: i.last_at)[-MAX_OPEN:]
    return due, OpenIncidents(incidents={i.key: i for i in newest})


def resolve(state: OpenIncidents) -> list[Incident]:
    """The incidents a success closes that paged, and so are owed a "resolved" message."""
    return [i for i in state.incidents.values() if i.paged_at is not None]


class IncidentStore:
    """The open incidents of each command, in the processed bucket."""

    def __init__(self, bucket: Storage) -> None:
        self.bucket = bucket

    @staticmethod
    def key(command: str) -> str:
        return f"{ALERT_STATE_PREFIX}{_UNSAFE_KEY.sub('-', command.lower()) or 'command'}.json"

    def read(self, command: str) -> OpenIncidents:
        from ainsdale_etl.core.storage import ObjectNotFoundError

        try:
            data = self.bucket.get_bytes(self.key(command))
        except ObjectNotFoundError:
            return OpenIncidents()
        return OpenIncidents.model_validate_json(data)

    def write(self, command: str, state: OpenIncidents) -> None:
        if state.incidents:
            self.bucket.put_bytes(self.key(command), state.model_dump_json(indent=2).encode())
        else:
            self.bucket.delete(self.key(command))


def incident_store() -> IncidentStore:
    """The store in the processed bucket the settings name, with short AWS timeouts: it is
    read as a failed run exits, which must not wait on S3. Raises if it cannot be opened."""
    import os
    from pathlib import Path

    from ainsdale_etl.core.errors import ConfigError
    from ainsdale_etl.core.settings import load_settings
    from ainsdale_etl.core.storage import parse_bucket_uri

    encryption: dict[str, str] = {}
    try:
        settings = load_settings()
        uri = settings.processed_uri or str(settings.home / "processed")
        from ainsdale_etl.adapters.storage.s3 import encryption_args

        encryption = encryption_args(settings.s3_sse, settings.s3_kms_key_id)
    except ConfigError:
        # Some other setting is broken (that is what this run reports): the bucket may still
        # be named well enough to keep the incident, so that the failure pages once.
        home = Path(os.environ.get("AINSDALE_HOME", ".ainsdale"))
        uri = os.environ.get("AINSDALE_PROCESSED_URI") or str(home / "processed")
    where = parse_bucket_uri(uri)
    if where.bucket:
        from ainsdale_etl.adapters.aws import aws_client
        from ainsdale_etl.adapters.storage.s3 import S3Storage

        client = aws_client("s3", max_attempts=3, timeout=10)
        return IncidentStore(S3Storage(where.bucket, where.prefix, client, encryption))
    from ainsdale_etl.adapters.storage.local import LocalStorage

    return IncidentStore(LocalStorage(Path(where.folder).expanduser()))

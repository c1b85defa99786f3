"""Publishing the report to a bucket, where stakeholders open it: every file of a built report
under ``reports/<batch_id>/`` (kept: the report as of each batch) and ``reports/latest/``
(replaced: what the presigned URL of ``report --url`` opens).

Each object is written with the content type a browser needs to show it (an S3 object without
one downloads instead of opening) and the bucket's server-side encryption settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import ConfigError
from ainsdale_etl.ops.report.data import INDEX, STATE

if TYPE_CHECKING:
    from ainsdale_etl.core.storage import Storage

PREFIX = "reports"
LATEST = f"{PREFIX}/latest"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".json": "application/json",
}
URL_EXPIRES_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


@dataclass(frozen=True)
class Published:
    batch_prefix: str
    latest_prefix: str
    keys: list[str]


def latest_state(storage: Storage) -> bytes | None:
    """The state of the report last published (to compare the next one with), if any."""
    key = f"{LATEST}/{STATE}"
    return storage.get_bytes(key) if storage.exists(key) else None


def publish_report(storage: Storage, folder: Path, batch_id: str) -> Published:
    """Upload the report in ``folder`` under both prefixes. ``index.html`` goes last into each,
    so a reader of ``latest`` never meets a page whose images are not there yet; files the new
    report no longer has are removed from ``latest``."""
    files = sorted(
        (p for p in folder.iterdir() if p.suffix in CONTENT_TYPES),
        key=lambda p: (p.name == INDEX, p.name),
    )
    keys = []
    for prefix in (f"{PREFIX}/{batch_id}", LATEST):
        for path in files:
            key = f"{prefix}/{path.name}"
            storage.put_bytes(key, path.read_bytes(), content_type=CONTENT_TYPES[path.suffix])
            keys.append(key)
    names = {p.name for p in files}
    for key in storage.list(f"{LATEST}/"):
        if key.removeprefix(f"{LATEST}/") not in names:
            storage.delete(key)
    return Published(f"{PREFIX}/{batch_id}/", f"{LATEST}/", keys)


def latest_url(storage: Storage, expires_in: int = URL_EXPIRES_SECONDS) -> str:
    """An address to open the latest published report at (see :meth:`Storage.url`)."""
    key = f"{LATEST}/{INDEX}"
    if not storage.exists(key):
        raise ConfigError(
            f"no report is published in {storage.uri}: run 'ainsdale-etl report --publish'"
        )
    return storage.url(key, expires_in)

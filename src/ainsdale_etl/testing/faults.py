"""Fault points: named places where a test can make a run die, stop or stall on purpose.

The crash-safety tests run the real CLI as a subprocess and kill it at many points; they need
the process to hurt itself at an exact place (after the 3rd object written, inside the load
transaction), which no outside timer can hit reliably. Like the fail points of TiKV or FreeBSD,
they cost nothing unless ``AINSDALE_FAULTS`` is set, e.g.::

    AINSDALE_FAULTS="object_written:kill:3"           # SIGKILL when the 3rd object is written
    AINSDALE_FAULTS="table_merged:kill:2"             # inside the load transaction, 2nd table
    AINSDALE_FAULTS="object_written:term:1"           # SIGTERM, as ECS sends before stopping
    AINSDALE_FAULTS="lock_acquired:sleep=3"           # hold the run lock for 3 s

A spec is ``point:action[:nth]`` (nth defaults to 1); several are separated by commas.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ainsdale_etl.core.errors import ConfigError

if TYPE_CHECKING:
    from ainsdale_etl.core.storage import Storage

ENV = "AINSDALE_FAULTS"
POINTS = frozenset(
    {
        "object_written",  # an object was written to a bucket (CSV, Parquet, state, manifest)
        "table_merged",  # a table was merged inside a batch's load transaction
        "foreign_keys_dropped",  # a bulk load dropped foreign keys (in its transaction)
        "batch_loaded",  # a batch's load transaction committed
        "lock_acquired",  # the run lock was taken
        "lake_table_written",  # a batch was committed to one lake table
        "extract_committing",  # every table of a batch extracted, its manifest not yet written
    }
)


@dataclass(frozen=True)
class Fault:
    point: str
    action: str  # kill | term | sleep=SECONDS
    nth: int

    def fire(self) -> None:
        if self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.action == "term":
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            time.sleep(float(self.action.removeprefix("sleep=")))


def parse_faults(spec: str) -> list[Fault]:
    faults = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        point, _, rest = part.partition(":")
        action, _, nth = rest.partition(":")
        valid_action = action in ("kill", "term") or (
            action.startswith("sleep=") and action[6:].replace(".", "", 1).isdigit()
        )
        if point not in POINTS or not valid_action or (nth and not nth.isdigit()):
            raise ConfigError(
                f"{ENV}: {part!r} is not point:kill|term|sleep=S[:nth] with point one of "
                f"{', '.join(sorted(POINTS))}"
            )
        faults.append(Fault(point, action, int(nth or 1)))
    return faults


@cache
def _armed() -> tuple[Fault, ...]:
    return tuple(parse_faults(os.environ.get(ENV, "")))


_passed: Counter[str] = Counter()
_counting = threading.Lock()  # objects are written from several threads at once


def fault_point(point: str) -> None:
    """Mark that the run passed ``point``; fires any fault armed for this passing."""
    faults = _armed()
    if not faults:
        return
    with _counting:
        _passed[point] += 1
        passing = _passed[point]
    for fault in faults:
        if fault.point == point and fault.nth == passing:
            fault.fire()


def faults_armed() -> bool:
    return bool(_armed())


class FaultyStorage:
    """A bucket that passes the ``object_written`` point after each write it completes."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.uri = inner.uri

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        self.inner.put_bytes(key, data, content_type=content_type)
        fault_point("object_written")

    def put_file(self, key: str, path: Path) -> None:
        self.inner.put_file(key, path)
        fault_point("object_written")

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def get_file(self, key: str, path: Path) -> None:
        self.inner.get_file(key, path)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "", *, after: str | None = None) -> list[str]:
        return self.inner.list(prefix, after=after)

    def url(self, key: str, expires_in: int) -> str:
        return self.inner.url(key, expires_in)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # anything else the bucket offers, unchanged

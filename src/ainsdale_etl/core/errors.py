"""Expected failures, each carrying the exit code the CLI returns for it.

Anything raised as an :class:`EtlError` is a failure a user can act on: the CLI prints its
message as one line (no traceback unless ``--debug``) and exits with its code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the run failed: bad input, a database error, a failed check
    USAGE = 2  # bad configuration or usage: fix the settings or the command line
    # EX_TEMPFAIL: nothing is wrong with the input or the configuration, and nothing was
    # committed halfway: another run holds the lock, or a database or AWS fault outlived the
    # in-process retries. The same command later may well succeed; a scheduler retries it.
    TRY_LATER = 75
    INTERRUPTED = 130  # stopped by SIGINT/SIGTERM at a safe point; rerun to carry on


class EtlError(Exception):
    """A failure the user can act on; the message says what is wrong and what to do."""

    exit_code: ExitCode = ExitCode.FAILED


class ConfigError(EtlError):
    exit_code = ExitCode.USAGE


class RefusedError(EtlError):
    """A command that would harm data it did not create (rerun with --force)."""

    exit_code = ExitCode.USAGE


class BadInputError(EtlError):
    """A batch or object that cannot be processed as it is."""


class BadRowError(BadInputError):
    """Bad input traced to one row of a source table: a later version of that row (the value
    fixed in totesys) supersedes it."""

    def __init__(self, message: str, *, table: str, row_id: object) -> None:
        super().__init__(message)
        self.table = table
        self.row_id = row_id


class TryLaterError(EtlError):
    """A failure of the moment, not of the input or the configuration: the same command, run
    again later, may succeed (exit 75; Step Functions waits and retries it)."""

    exit_code = ExitCode.TRY_LATER


class LockedError(TryLaterError):
    """Another run holds the pipeline lock; nothing was done, so retrying later is safe."""


class LockLostError(LockedError):
    """The run's lock went with its connection: it stopped before committing anything more.
    Unlike another run holding the lock, a fault worth paging about when it repeats."""


class DatabaseError(EtlError):
    """A database could not be reached or refused a statement (message scrubbed of secrets).

    ``transient`` says whether trying again may succeed (a dropped connection, a restart),
    as opposed to a refusal that will not change (a bad password, a missing table).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.retries_exhausted = False
        # A transient fault that reaches the CLI has outlived every in-process retry
        # (core/retry.py): only a later run can cure it, so it is "try later".
        self.exit_code = ExitCode.TRY_LATER if transient else ExitCode.FAILED


@dataclass(frozen=True)
class Place:
    """Where a run stopped: the step, the batch (if it had reached one), and whether a
    quarantined batch stopped it (its incident is the batch's, whatever the error)."""

    step: str
    batch_id: str | None = None
    quarantined: bool = False


_PLACE = "ainsdale_place"


def place_of(exc: BaseException) -> Place | None:
    """The place ``exc`` was raised in, set by :func:`failing_in` (None: before any step)."""
    place = getattr(exc, _PLACE, None)
    return place if isinstance(place, Place) else None


def mark_place(exc: BaseException, place: Place) -> BaseException:
    """``exc`` carrying ``place``, unless it already carries an inner one; returns ``exc``."""
    if place_of(exc) is None:
        setattr(exc, _PLACE, place)
    return exc


@contextmanager
def failing_in(step: str, batch_id: str | None = None) -> Iterator[None]:
    """A failure inside carries this step and batch, unless an inner one set its own: the
    place travels on the exception, and nothing reconstructs it from the log."""
    try:
        yield
    except BaseException as exc:
        mark_place(exc, Place(step, batch_id))
        raise

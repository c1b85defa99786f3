"""Graceful stop: SIGTERM (what ECS sends before it kills a task) ends the run at a safe point.

The handler only raises a flag; the pipeline calls :func:`checkpoint` between tables and
batches, where stopping leaves nothing half-done (an uncommitted batch is invisible, an open
load transaction rolls back). The run then exits 130 and the next run carries on.

The flag is a plain assignment, not a ``threading.Event``: a handler runs in the main thread
between two bytecodes, and ``Event.set`` takes a lock the main thread may hold just then
(inside its own ``Event.wait``), which would hang the process for good. So waits that must
end on a stop poll the flag every ``_TICK`` instead of waiting on it.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ainsdale_etl.core.errors import EtlError, ExitCode


class StopRequestedError(EtlError):
    exit_code = ExitCode.INTERRUPTED


_TICK = 0.1  # how often a wait looks at the flag: a stop ends it within this
_stopped_by: str | None = None  # the signal's name, once one asked us to stop


def _request_stop(signum: int, _frame: FrameType | None) -> None:
    global _stopped_by
    _stopped_by = signal.Signals(signum).name


def stop_requested() -> bool:
    return _stopped_by is not None


def catch_sigterm_from_start() -> None:
    """Catch SIGTERM from the process's first line, before the command line's imports: a task
    stopped while it starts exits 130 like one stopped later (the default would be 143)."""
    signal.signal(signal.SIGTERM, _request_stop)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into a stop request for the duration of a command (main thread only)."""
    global _stopped_by
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _request_stop)
    try:
        checkpoint("before it started")  # a SIGTERM while the process was starting
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stopped_by = None


def checkpoint(where: str) -> None:
    """Stop here if a stop was requested; ``where`` says what is left undone, for the message."""
    if _stopped_by is not None:
        raise StopRequestedError(
            f"stopped by {_stopped_by} {where}; nothing partial was committed, "
            "rerun the same command to carry on"
        )


def run_child(command: list[str], what: str, grace: float = 2.0) -> int:
    """Run ``command`` and return its exit code (128 + the signal's number if a signal ended
    it, as a shell says). Ctrl-C is the child's meanwhile: psql cancels its query on it, and
    it must neither end this process nor leave psql orphaned on the terminal. On a stop
    request the child is asked the same way, then sent SIGTERM, then SIGKILL, ``grace``
    seconds apart, and this stops (exit 130): a child must not keep us past our deadline."""
    in_main = threading.current_thread() is threading.main_thread()
    # Ignored before the child starts (it sets its own handler: psql does), so no Ctrl-C
    # falls between its start and ours.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        child = subprocess.Popen(command)  # noqa: S603 - our own binaries, no shell
        while not stop_requested():
            try:
                return _exit_code(child.wait(_TICK))
            except subprocess.TimeoutExpired:
                pass
        for ask in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            child.send_signal(ask)
            try:
                child.wait(grace)
                break
            except subprocess.TimeoutExpired:
                pass
        checkpoint(f"while {what} ran")  # raises: a stop was requested
        return _exit_code(child.wait())
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def pause(seconds: float) -> None:
    """Sleep ``seconds`` (a retry's backoff), ending at once if a stop is requested."""
    deadline = time.monotonic() + seconds
    while not stop_requested() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, _TICK))
    checkpoint("while waiting to retry")


def check_stop() -> None:
    """Stop if a stop was requested while a connection was being made."""
    checkpoint("while connecting to a database")

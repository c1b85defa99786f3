"""Graceful stop: SIGTERM (what ECS sends before it kills a task) ends the run at a safe point.

The handler only raises a flag; the pipeline calls :func:`checkpoint` between tables and
batches, where stopping leaves nothing half-done (an uncommitted batch is invisible, an open
load transaction rolls back). The run then exits 130 and the next run carries on.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ainsdale_etl.core.errors import EtlError, ExitCode


class StopRequestedError(EtlError):
    exit_code = ExitCode.INTERRUPTED


_stop = threading.Event()
_signal_name = ""


def _request_stop(signum: int, _frame: FrameType | None) -> None:
    global _signal_name
    _signal_name = signal.Signals(signum).name
    _stop.set()


def catch_sigterm_from_start() -> None:
    """Catch SIGTERM from the process's first line, before the command line's imports: a task
    stopped while it starts exits 130 like one stopped later (the default would be 143)."""
    signal.signal(signal.SIGTERM, _request_stop)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into a stop request for the duration of a command (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _request_stop)
    try:
        checkpoint("before it started")  # a SIGTERM while the process was starting
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop.clear()


def checkpoint(where: str) -> None:
    """Stop here if a stop was requested; ``where`` says what is left undone, for the message."""
    if _stop.is_set():
        raise StopRequestedError(
            f"stopped by {_signal_name or 'request'} {where}; nothing partial was committed, "
            "rerun the same command to carry on"
        )


def wait_for_child(child: subprocess.Popen[bytes], what: str, grace: float = 2.0) -> int:
    """``child``'s exit code once it ends by itself. Ctrl-C is the child's meanwhile (psql
    cancels its query on it; it must not end this process and orphan psql). On a stop request
    the child is asked the same way, then sent SIGTERM, then SIGKILL, ``grace`` seconds apart,
    and this stops (exit 130): a child must not keep us past our own deadline, nor leave its
    query running on the server."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while child.poll() is None and not _stop.wait(0.2):
            pass
        if child.returncode is not None:
            return child.returncode
        for ask in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            child.send_signal(ask)
            try:
                child.wait(grace)
                break
            except subprocess.TimeoutExpired:
                pass
        checkpoint(f"while {what} ran")  # raises: a stop was requested
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def pause(seconds: float) -> None:
    """Sleep ``seconds`` (a retry's backoff), ending at once if a stop is requested."""
    _stop.wait(seconds)
    checkpoint("while waiting to retry")


def check_stop() -> None:
    """Stop if a stop was requested while a connection was being made."""
    checkpoint("while connecting to a database")

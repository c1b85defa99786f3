"""Measuring one stage: a subprocess timed on the wall clock, its peak memory taken two ways.

Every stage runs as its own process so that its peak RSS is its own: ``os.wait4`` gives the
kernel's high-water mark of the child (``ru_maxrss``), and a poller sums the RSS of the whole
process tree every few milliseconds (a stage that forks, or a tool's wrapper process, is
counted whole). The larger of the two is reported. Database server memory is not counted: the
server is shared by every stage and by the COPY limit alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

_POLL_SECONDS = 0.01


@dataclass
class Measurement:
    """One measured stage: wall time, rows moved, peak RSS, and what the stage reported."""

    name: str
    seconds: float
    rows: int
    peak_rss_bytes: int
    detail: dict[str, Any] = field(default_factory=dict)
    cpu_seconds: float = 0.0  # user + system time of the stage's processes (not the server's)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / 2**20

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rows_per_s": round(self.rows_per_s),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


class StageFailedError(RuntimeError):
    pass


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in processes:
        with contextlib.suppress(psutil.Error):  # it may have exited meanwhile
            total += proc.memory_info().rss
    return total


def run_stage(
    name: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
) -> tuple[float, int, float, str]:
    """Run ``command`` to completion; return wall seconds, peak RSS bytes, CPU seconds, stdout.

    Its stderr goes to ``log`` (or is kept and shown if the stage fails).
    """
    stderr_path = log or Path(os.devnull)
    with stderr_path.open("ab") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(command),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        peak = 0
        stop = threading.Event()

        def poll() -> None:
            nonlocal peak
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not stop.is_set():
                peak = max(peak, _tree_rss(root))
                stop.wait(_POLL_SECONDS)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        assert proc.stdout is not None
        out = proc.stdout.read()  # until the child closes stdout, i.e. exits
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        stop.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux.
    peak = max(peak, usage.ru_maxrss * 1024)
    text = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        raise StageFailedError(
            f"{name} exited {proc.returncode}: {' '.join(command)}\n{text[-3000:]}\n{tail}"
        )
    return seconds, peak, usage.ru_utime + usage.ru_stime, text


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among a process's output lines (other lines are ignored)."""
    events = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def python_command(module: str, *args: str) -> list[str]:
    """This interpreter running one of the bench's own modules."""
    return [sys.executable, "-m", module, *args]

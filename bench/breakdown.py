"""Where a run-all's wall time went, from the timestamps of the events it logged.

The phases follow each other (the transform and the load share one line, with each one's own
seconds beside it): start-up is from the process's spawn to the
extract's first event (the interpreter, imports, settings, the lock); the lake is its step's
own seconds; the finish is from the last event to the exit (the report of freshness, the
summary). Connections are the seconds every connect took, whichever phase it was in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def _first(events: list[dict[str, Any]], name: str, step: str | None = None) -> dict | None:
    for e in events:
        if e.get("event") == name and (step is None or e.get("step") == step):
            return e
    return None


def breakdown(events: list[dict[str, Any]], spawned_at: float, seconds: float) -> dict[str, float]:
    """Phase -> seconds of one run-all (those it went through)."""
    phases: dict[str, float] = {}
    started = _first(events, "step_started", "extract")
    committed = _first(events, "batch_committed") or _first(events, "no_changes")
    lake = _first(events, "lake_synced")
    if not events or started is None:
        return phases
    phases["start-up (interpreter, imports, lock)"] = _at(started) - spawned_at
    if committed is not None:
        phases["extract (scan and copy)"] = _at(committed) - _at(started)
        after = [e for e in events if e.get("step") in ("transform", "load")]
        if after:
            transform = _first(events, "batch_transformed")
            loaded = _first(events, "batch_loaded")
            own = ", ".join(
                f"{name} {e['seconds']:.2f} s"
                for name, e in (("transform", transform), ("load", loaded))
                if e is not None
            )
            phases[f"transform and load ({own})"] = max(_at(e) for e in after) - _at(committed)
    if lake is not None:
        phases["lake"] = float(lake["seconds"])
    last = max(_at(e) for e in events)
    phases["finish (freshness, summary, exit)"] = spawned_at + seconds - last
    connect = _first(events, "connect_time")
    if connect is not None:
        phases[f"of all these, connecting ({connect['sessions']} sessions)"] = connect["seconds"]
    return {k: round(v, 3) for k, v in phases.items()}

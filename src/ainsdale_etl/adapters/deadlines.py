"""Deadlines on database connections: each attempt bounded, and a stop request honoured
while one is made (libpq's wait inside a C driver does not give way to a signal handler)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Protocol, TypeVar


class _Connection(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Connection)

# libpq parameters every connection gets unless its URI sets them: an attempt ends after
# connect_timeout seconds (a host that accepts TCP and never answers waited ~130 s), and TCP
# keepalives find a peer that died mid-query (a probe after 30 s of silence, every 10 s, dead
# after 3 unanswered); tcp_user_timeout bounds a write the peer never acknowledges.
CONNECT_TIMEOUT = 10
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}
_TICK = 0.1  # seconds between looks at a stop request while a connection is made


def with_connection_defaults(uri: str, connect_timeout: int = CONNECT_TIMEOUT) -> str:
    """``uri`` with ``connect_timeout`` and TCP keepalives added where it sets none. Appended
    as they are: re-encoding the URI's own query could change it (libpq reads no '+')."""
    from urllib.parse import parse_qs, urlencode, urlsplit

    try:
        present = parse_qs(urlsplit(uri).query, keep_blank_values=True)
    except ValueError:
        return uri  # malformed: refused with the settings (core/settings.py)
    wanted = {"connect_timeout": str(connect_timeout), **KEEPALIVES}
    missing = {k: v for k, v in wanted.items() if k not in present}
    if not missing:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(missing)}"


def interruptible(call: Callable[[], C], check: Callable[[], None]) -> C:
    """``call()`` on a thread of its own, while this one runs ``check`` every ``_TICK``
    seconds: a stop request (``check`` raising) ends the wait at once, even inside a C
    library that does not give way to signals; the abandoned result is closed when it comes."""
    outcome: list[Any] = []
    done = threading.Event()
    abandoned = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append((False, exc))
        done.set()
        if abandoned.is_set() and outcome[0][0]:
            with suppress(Exception):
                outcome[0][1].close()

    threading.Thread(target=run, name="connect", daemon=True).start()
    while not done.wait(_TICK):
        try:
            check()
        except BaseException:
            abandoned.set()
            if done.is_set() and outcome[0][0]:  # it came just now: close it here
                with suppress(Exception):
                    outcome[0][1].close()
            raise
    ok, value = outcome[0]
    if not ok:
        raise value
    return value

"""Transient faults retried with bounded exponential backoff and jitter; permanent ones not.

A dropped connection, a database restarting or out of connection slots, a serialization
failure: each is worth another try, because every step is safe to repeat (nothing is visible
until a manifest or a load transaction commits). A wrong password or a missing table is not:
retrying would only delay the one clear line the user needs. S3 has its own retries (botocore's
adaptive mode, see adapters/aws.py).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ainsdale_etl.core.errors import DatabaseError

T = TypeVar("T")

# SQLSTATE classes and codes that say "try again": connection exceptions, serialization
# failures and deadlocks, too many connections, a lock not granted in time (55P03), a
# statement that ran past its deadline or was cancelled (57014), the server shutting down or
# starting up.
_TRANSIENT_SQLSTATE = re.compile(r"^(08...|40001|40P01|53300|55P03|57014|57P0[1-3])$")
# Connection failures carry no SQLSTATE; libpq's wording tells a network or restart problem
# from a refusal (bad password, unknown role or database), which must fail fast.
_TRANSIENT_MESSAGE = re.compile(
    r"connection refused|timeout expired|timed out|server closed the connection"
    r"|terminating connection"
    r"|the database system is (starting up|shutting down|in recovery|not (yet )?accepting)"
    r"|SSL SYSCALL error|SSL connection has been closed|SSL error: unexpected eof"
    r"|too many connections|remaining connection slots|connection reset|could not receive data"
    r"|could not send data|no connection to the server|temporary failure in name resolution",
    re.IGNORECASE,
)


def is_transient(message: str, sqlstate: str | None = None) -> bool:
    if sqlstate:
        # A SQLSTATE decides on its own: the message may quote data that merely looks alike.
        return bool(_TRANSIENT_SQLSTATE.match(sqlstate))
    return bool(_TRANSIENT_MESSAGE.search(message))


# Tries in all for a database step that fails transiently, the first included: with the
# backoff below, 2 to 3.5 s of waiting in all; a fault that outlasts it is exit 75, and the
# schedule's next run (or the state machine's retry) tries again.
DB_ATTEMPTS = 4


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # tries in all, the first included
    base_delay: float = 0.5  # seconds before the first retry; doubled each time
    max_delay: float = 8.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): capped exponential with
        "equal jitter", so runs that failed together do not retry in lockstep."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not crypto)


NO_RETRY = RetryPolicy(attempts=1)


def database_policy() -> RetryPolicy:
    """How a database step is retried (read at each use, so a test may change DB_ATTEMPTS)."""
    return RetryPolicy(attempts=DB_ATTEMPTS)


def retrying(
    operation: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    on_retry: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``operation()``, tried again after a transient :class:`DatabaseError`."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return operation()
        except DatabaseError as exc:
            if not exc.transient or exc.retries_exhausted:
                raise
            if attempt == policy.attempts:
                exc.retries_exhausted = True  # an outer retrying() must not multiply the tries
                raise
            delay = policy.delay(attempt)
            on_retry(f"{what}: {exc}; retry {attempt} of {policy.attempts - 1} in {delay:.1f} s")
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")

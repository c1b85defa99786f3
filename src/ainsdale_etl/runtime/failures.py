"""What any failure says to the person or scheduler that ran the command: one line, one code.

An expected failure (:class:`~ainsdale_etl.core.errors.EtlError`) speaks for itself; an AWS
error is said in AWS's words; anything else is unexpected, and says how to see more.
"""

from __future__ import annotations

import errno
import re
import socket

from ainsdale_etl.adapters.aws import aws_failure, is_aws_error
from ainsdale_etl.core.errors import EtlError, ExitCode

# A local folder the run cannot write to: the configuration, not the data, is wrong.
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR}
# A network fault of the moment, in the words of the libraries that meet one outside our
# adapters' own retries: pyarrow's S3 file system (the lake's writes: AWS SDK and curl
# wording), SQLAlchemy or requests under a pyiceberg catalog, a resolver.
_NETWORK_WORDS = re.compile(
    r"timed? ?out|timeout was reached|NETWORK_CONNECTION|curlCode: (6|7|28|35|52|56)\b"
    r"|could not resolve|name resolution|name or service not known|nodename nor servname"
    r"|connection (refused|reset|aborted)|broken pipe"
    r"|temporarily unavailable|HTTP status 5\d\d|SLOW_DOWN|ServiceUnavailable|RequestTimeout"
    r"|server closed the connection|could not connect to server|max retries exceeded",
    re.IGNORECASE,
)
# Exception types that are a network or server fault by kind, named by module and class so
# that no heavy library is imported to recognise its errors.
_NETWORK_TYPES = {
    ("sqlalchemy.exc", "OperationalError"),
    ("sqlalchemy.exc", "TimeoutError"),
    ("requests.exceptions", "ConnectionError"),
    ("requests.exceptions", "Timeout"),
    ("requests.exceptions", "ConnectTimeout"),
    ("requests.exceptions", "ReadTimeout"),
    ("urllib3.exceptions", "NewConnectionError"),
    ("urllib3.exceptions", "MaxRetryError"),
}


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, innermost last."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_network_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault of the network or a remote service of the moment (a time-
    out, a DNS failure, a refused or reset connection): the same command later may succeed."""
    for link in _chain(exc):
        if isinstance(link, (socket.gaierror, TimeoutError, ConnectionError)):
            return True
        if (type(link).__module__, type(link).__name__) in _NETWORK_TYPES:
            return True
        if isinstance(link, OSError) and link.errno is None and _NETWORK_WORDS.search(str(link)):
            return True  # pyarrow's S3 errors carry no errno, only words
    return False


def describe_failure(exc: Exception) -> tuple[str, ExitCode]:
    """The one line and the exit code that report ``exc``, expected or not."""
    if isinstance(exc, EtlError):
        return str(exc), exc.exit_code
    if isinstance(exc, OSError) and exc.errno in _UNWRITABLE and exc.filename:
        return (
            f"cannot write {exc.filename}: {exc.strerror}; free or fix that folder, "
            "or point the setting at another",
            ExitCode.USAGE,
        )
    if is_aws_error(exc):
        failure = aws_failure(exc, "AWS request failed")
        return str(failure), failure.exit_code
    if is_network_fault(exc):
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (
            f"network fault ({type(exc).__name__}: {first_line}); nothing was committed "
            "halfway: run the same command again later",
            ExitCode.TRY_LATER,
        )
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"unexpected {type(exc).__name__}: {first_line} (rerun with --debug for the traceback)",
        ExitCode.FAILED,
    )

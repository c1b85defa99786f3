"""What any failure says to the person or scheduler that ran the command: one line, one code.

An expected failure (:class:`~ainsdale_etl.core.errors.EtlError`) speaks for itself; an AWS
error is said in AWS's words; anything else is unexpected, and says how to see more.
"""

from __future__ import annotations

import errno

from ainsdale_etl.adapters.aws import aws_failure, is_aws_error
from ainsdale_etl.core.errors import EtlError, ExitCode

# A local folder the run cannot write to: the configuration, not the data, is wrong.
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR}


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
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"unexpected {type(exc).__name__}: {first_line} (rerun with --debug for the traceback)",
        ExitCode.FAILED,
    )

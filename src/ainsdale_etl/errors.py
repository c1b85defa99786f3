"""Expected failures, each carrying the exit code the CLI returns for it.

Anything raised as an :class:`EtlError` is a failure a user can act on: the CLI prints its
message as one line (no traceback unless ``--debug``) and exits with its code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the run failed: bad input, a database error, a failed check
    USAGE = 2  # bad configuration or usage: fix the settings or the command line
    # 75 (EX_TEMPFAIL, "another run holds the lock; retry later") is reserved for the run lock;
    # the Step Functions retry policy already treats it as retryable.


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


class DatabaseError(EtlError):
    """A database could not be reached or refused a statement (message scrubbed of secrets)."""

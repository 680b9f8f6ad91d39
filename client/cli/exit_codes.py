"""The exit codes scripts rely on, and which outcome gets which: one table, decided here."""

from __future__ import annotations

import enum

from client import errors
from client.models import CANCELLED, EXPIRED, FAILED


class ExitCode(enum.IntEnum):
    DONE = 0
    FAILED = 1
    USAGE = 2
    CANCELLED_OR_EXPIRED = 3
    AUTH_REFUSED = 4
    VALIDATION_REFUSED = 5
    TIMED_OUT = 6
    UNAVAILABLE = 7
    OTHER_ERROR = 8
    INTERRUPTED = 130


# Shown by `reportbox --help` and copied into docs/client.md.
EXIT_CODES_HELP = """\
exit codes:
  0    done (the report Completed; or the command did what it was asked)
  1    the report Failed
  2    usage error (bad option, missing URL or token)
  3    the report was Cancelled or has Expired
  4    authentication refused (HTTP 401 or 403)
  5    validation refused (HTTP 422)
  6    timed out waiting (--timeout)
  7    the server or network is unavailable after the retries (connection errors,
       429, 5xx)
  8    any other refusal (404 no such report or type, 409 conflict), a checksum
       mismatch, or a local file error
  130  interrupted by Ctrl-C
"""


class UsageError(Exception):
    """A command line that cannot be carried out as given."""


def for_status(status: str) -> ExitCode:
    """The exit code of a command that ends by reporting a report's status."""
    if status == FAILED:
        return ExitCode.FAILED
    if status in (CANCELLED, EXPIRED):
        return ExitCode.CANCELLED_OR_EXPIRED
    return ExitCode.DONE


def for_error(error: BaseException) -> ExitCode:
    """The exit code for an error that ended a command."""
    if isinstance(error, UsageError):
        return ExitCode.USAGE
    if isinstance(error, errors.ReportFailed):
        return ExitCode.FAILED
    if isinstance(error, errors.NotDownloadable):
        # Cancelled or Expired say so; a report still running has no file yet.
        if error.report.status in (CANCELLED, EXPIRED):
            return ExitCode.CANCELLED_OR_EXPIRED
        return ExitCode.OTHER_ERROR
    if isinstance(error, errors.Gone):
        return ExitCode.CANCELLED_OR_EXPIRED
    if isinstance(error, errors.AuthenticationError | errors.PermissionDenied):
        return ExitCode.AUTH_REFUSED
    if isinstance(error, errors.ValidationError):
        return ExitCode.VALIDATION_REFUSED
    if isinstance(error, errors.WaitTimeout):
        return ExitCode.TIMED_OUT
    if isinstance(error, errors.Unavailable | errors.ServerError | errors.RateLimited):
        return ExitCode.UNAVAILABLE
    return ExitCode.OTHER_ERROR

"""The errors the client raises: one type per answer a caller may want to handle.

Every refusal from the API arrives as RFC 9457 problem details; `ApiError` carries them
(`status`, `title`, `detail`, `errors`, `existing_report_id`) so a caller never has to parse
a response body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.models import Report


class ReportboxError(Exception):
    """Base of everything this package raises."""


class Unavailable(ReportboxError):
    """The server could not be reached, or kept answering 429/502/503/504, after the retries."""


class ApiError(ReportboxError):
    """The API refused the request; the problem details it sent are attributes."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: Mapping[str, list[str]] | None = None,
        existing_report_id: str | None = None,
        retry_after: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = dict(errors or {})
        self.existing_report_id = existing_report_id
        self.retry_after = retry_after
        self.body = dict(body or {})
        super().__init__(self.summary())

    def summary(self) -> str:
        """One line: each field's messages if there are any, else the detail or title."""
        if self.errors:
            text = "; ".join(
                f"{field}: {', '.join(messages)}" if field else ", ".join(messages)
                for field, messages in self.errors.items()
            )
        else:
            text = self.detail or self.title
        if self.existing_report_id:
            text = f"{text} (existing report {self.existing_report_id})"
        return f"{text} (HTTP {self.status})"


class ValidationError(ApiError):
    """422: the parameters, the format or the Idempotency-Key were refused."""


class AuthenticationError(ApiError):
    """401: no token, or one the server does not accept."""


class PermissionDenied(ApiError):
    """403: the token is good but may not request this report type."""


class NotFound(ApiError):
    """404: no such report type, or a report the caller may not see."""


class Conflict(ApiError):
    """409: an identical request is already active, or the report is finished."""


class Gone(ApiError):
    """410: the report has expired and its file was deleted."""


class RateLimited(ApiError):
    """429: too many active reports; `retry_after` says when to try again."""


class ServerError(ApiError):
    """5xx: the server failed or is unavailable."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: ValidationError,
    429: RateLimited,
}


def error_type_for(status: int) -> type[ApiError]:
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)


class ReportError(ReportboxError):
    """A report that cannot give what was asked of it; `report` is how it was last seen."""

    def __init__(self, report: Report, message: str) -> None:
        self.report = report
        super().__init__(message)


class ReportFailed(ReportError):
    """The report ended Failed; `code` and `message` are the report's error."""

    def __init__(self, report: Report) -> None:
        self.code = report.error.code if report.error else None
        self.message = report.error.message if report.error else None
        super().__init__(report, f"report {report.report_id} failed: {self.message or self.code}")


class NotDownloadable(ReportError):
    """The report has no file to download (still running, cancelled or expired)."""


class WaitTimeout(ReportError):
    """The report was not finished when the wait's timeout ran out."""


class ChecksumMismatch(ReportboxError):
    """The downloaded bytes are not the file the API describes; nothing was kept."""

"""Reportbox's Python client: request a report, wait for it, download it with its checksum.

    from client import Client

    with Client("http://127.0.0.1:8000", token) as reportbox:
        accepted = reportbox.request_report(
            "sessions", "csv", fromDate="2026-01-01", toDate="2026-01-31"
        )
        report = reportbox.wait(accepted, timeout=600)
        reportbox.download(report, "sessions.csv")

Only httpx is needed; the `reportbox` command line (client.cli) is built on this.
"""

from client.api_client import Client
from client.definitions import (
    Definition,
    DefinitionPage,
    LastRun,
    Schedule,
    SchedulePreview,
)
from client.errors import (
    ApiError,
    AuthenticationError,
    ChecksumMismatch,
    Conflict,
    Gone,
    NotDownloadable,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReportboxError,
    ReportError,
    ReportFailed,
    ServerError,
    Unavailable,
    ValidationError,
    WaitTimeout,
)
from client.models import (
    TERMINAL_STATUSES,
    Accepted,
    Delivery,
    ErrorInfo,
    Progress,
    Report,
    ReportFile,
    ReportPage,
    ReportType,
    Status,
)
from client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "TERMINAL_STATUSES",
    "Accepted",
    "ApiError",
    "AuthenticationError",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "Definition",
    "DefinitionPage",
    "Delivery",
    "ErrorInfo",
    "Gone",
    "LastRun",
    "NotDownloadable",
    "NotFound",
    "PermissionDenied",
    "Progress",
    "RateLimited",
    "Report",
    "ReportError",
    "ReportFailed",
    "ReportFile",
    "ReportPage",
    "ReportType",
    "ReportboxError",
    "Schedule",
    "SchedulePreview",
    "ServerError",
    "Status",
    "Unavailable",
    "ValidationError",
    "WaitTimeout",
    "WebhookVerificationError",
    "verify_webhook",
]

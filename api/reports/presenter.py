"""How a report looks to a client: progress, file, and a freshly presigned download link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import Gone, NotFinished
from shared.models import Report
from shared.statuses import ReportStatus
from shared.storage import Storage


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime


def download_link(
    storage: Storage, report: Report, ttl_seconds: int, now: datetime | None = None
) -> DownloadLink | None:
    """A fresh presigned URL that never outlives the report's retention."""
    if report.status != ReportStatus.COMPLETED or not report.object_key:
        return None
    now = now or datetime.now(UTC)
    ttl = ttl_seconds
    if report.expires_at is not None:
        ttl = min(ttl, int((report.expires_at - now).total_seconds()))
    if ttl <= 0:
        return None
    url = storage.presign_download(
        report.object_key,
        report.file_name or "report",
        report.content_type or "application/octet-stream",
        ttl,
    )
    return DownloadLink(url, now + timedelta(seconds=ttl))


def require_download_link(storage: Storage, report: Report, ttl_seconds: int) -> DownloadLink:
    """The link, or 410 once the file is gone and 409 while there is none yet."""
    if report.status == ReportStatus.EXPIRED:
        raise Gone("The report has expired and its file was deleted.")
    if report.status != ReportStatus.COMPLETED:
        raise NotFinished(report.status)
    link = download_link(storage, report, ttl_seconds)
    if link is None:
        raise Gone("The report's retention period has ended.")
    return link


def progress(report: Report, now: datetime | None = None) -> dict[str, Any]:
    """Rows done, the (estimated) total, and when it should finish at the present pace."""
    total = report.rows_total
    done = report.rows_processed
    if report.status == ReportStatus.COMPLETED:
        return {
            "rows_processed": done,
            "rows_total": total,
            "percent": 100.0,
            "estimated_completion_at": report.completed_at,
        }
    # The total may be the planner's estimate: never claim 100 % before the end.
    percent = min(round(100.0 * done / total, 1), 99.9) if total else None
    eta = None
    if report.status == ReportStatus.PROCESSING and report.started_at and total and done:
        now = now or datetime.now(UTC)
        elapsed = (now - report.started_at).total_seconds()
        eta = now + timedelta(seconds=max(elapsed * (total - done) / done, 0.0))
    return {
        "rows_processed": done,
        "rows_total": total,
        "percent": percent,
        "estimated_completion_at": eta,
    }


def present(report: Report, link: DownloadLink | None) -> dict[str, Any]:
    completed = report.status == ReportStatus.COMPLETED
    return {
        "report_id": report.id,
        "report_type": report.report_type,
        "format": report.format,
        "parameters": report.parameters,
        "status": report.status,
        "cancel_requested": report.cancel_requested,
        "attempts": report.attempts,
        "created_at": report.created_at,
        "started_at": report.started_at,
        "completed_at": report.completed_at,
        "expires_at": report.expires_at,
        "progress": progress(report),
        "error": {"code": report.error_code, "message": report.error_message}
        if report.error_code
        else None,
        "file": {
            "name": report.file_name,
            "content_type": report.content_type,
            "size_bytes": report.size_bytes,
            "rows": report.row_count,
            "sha256": report.sha256,
        }
        if completed
        else None,
        "download_url": link.url if link else None,
        "download_url_expires_at": link.expires_at if link else None,
        "definition_id": report.definition_id,
        "trigger": report.trigger,
        "scheduled_for": report.scheduled_for,
    }

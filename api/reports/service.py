"""What the report views do, without HTTP: accept a request, look a report up, present it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal
from api.errors import ApiError, flatten_messages
from shared.catalog import ReportType, get_report_type
from shared.db import translate_errors
from shared.messages import ReportRequested
from shared.models import Report
from shared.outbox import outbox_row
from shared.statuses import ReportStatus
from shared.storage import Storage


def find_report_type(name: str) -> ReportType:
    report_type = get_report_type(name)
    if report_type is None:
        raise ApiError(404, "Not Found", f"There is no report type {name!r}.")
    return report_type


def check_may_request(principal: Principal, report_type: ReportType) -> None:
    if not principal.roles & report_type.roles:
        raise ApiError(
            403,
            "Forbidden",
            f"Requesting {report_type.name!r} reports needs one "
            f"of the roles {sorted(report_type.roles)}.",
        )


def validate_request(
    report_type: ReportType, report_format: str, raw_parameters: dict[str, Any]
) -> dict[str, Any]:
    """The parameters in their canonical stored form, or a 422 naming every bad field."""
    errors: dict[str, list[str]] = {}
    if report_format not in report_type.formats:
        errors["format"] = [f"must be one of {list(report_type.formats)}"]
    try:
        parameters = report_type.load_parameters(raw_parameters)
    except ValidationError as exc:
        errors.update(flatten_messages(exc.messages, "parameters"))
    if errors:
        raise ApiError(
            422, "Unprocessable Content", "The request has invalid fields.", errors=errors
        )
    return report_type.dump_parameters(parameters)


def request_report(
    sessions: sessionmaker[Session],
    principal: Principal,
    report_type: ReportType,
    report_format: str,
    parameters: dict[str, Any],
) -> Report:
    """Write the report and its outbox message in one transaction: both or neither.

    From the commit on, the request survives any crash; the relay publishes it even if
    RabbitMQ is down right now.
    """
    report = Report(
        id=uuid.uuid4(),
        org=principal.org,
        owner_id=principal.user_id,
        report_type=report_type.name,
        format=report_format,
        parameters=parameters,
        status=ReportStatus.PENDING.value,
    )
    message = ReportRequested.new(report.id)
    with translate_errors(), sessions.begin() as session:
        session.add(report)
        session.flush()
        session.add(outbox_row(message))
    return report


def get_visible_report(
    sessions: sessionmaker[Session], principal: Principal, report_id: uuid.UUID
) -> Report:
    """The report if the caller may see it; otherwise 404, whether or not it exists."""
    query = select(Report).where(Report.id == report_id, Report.org == principal.org)
    if not principal.is_admin:
        query = query.where(Report.owner_id == principal.user_id)
    with translate_errors(), sessions() as session:
        report = session.scalars(query).first()
    if report is None:
        raise ApiError(404, "Not Found", "There is no such report.")
    return report


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


def present(report: Report, link: DownloadLink | None) -> dict[str, Any]:
    completed = report.status == ReportStatus.COMPLETED
    total = report.rows_total
    percent = (
        100.0 if completed else (round(100.0 * report.rows_processed / total, 1) if total else None)
    )
    return {
        "report_id": report.id,
        "report_type": report.report_type,
        "format": report.format,
        "parameters": report.parameters,
        "status": report.status,
        "attempts": report.attempts,
        "created_at": report.created_at,
        "started_at": report.started_at,
        "completed_at": report.completed_at,
        "expires_at": report.expires_at,
        "progress": {
            "rows_processed": report.rows_processed,
            "rows_total": total,
            "percent": percent,
        },
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
    }

"""What the report views do, without HTTP: accept a request, look a report up, present it."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc
from marshmallow import ValidationError
from sqlalchemy import Select, case, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal
from api.errors import ApiError, flatten_messages
from shared.catalog import ReportType, get_report_type
from shared.db import translate_errors
from shared.messages import ReportRequested
from shared.models import Report
from shared.outbox import outbox_row
from shared.statuses import ReportStatus


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


def request_hash(report_type: ReportType, report_format: str, parameters: dict[str, Any]) -> str:
    """Identifies "the same request": type, format and canonical parameters."""
    canonical = json.dumps(
        {"reportType": report_type.name, "format": report_format, "parameters": parameters},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


ADMISSION_INDEXES = frozenset({"reports_active_request", "reports_idempotency_key"})


@dataclass(frozen=True)
class Accepted:
    report: Report
    replayed: bool  # the answer to an earlier request with the same Idempotency-Key


# One user's admissions queue behind each other, so the count of active reports cannot be
# outrun by concurrent requests; other users are not held up.
LOCK_USER = text("SELECT pg_advisory_xact_lock(hashtext(:org), hashtext(:owner_id))")


def request_report(
    sessions: sessionmaker[Session],
    principal: Principal,
    report_type: ReportType,
    report_format: str,
    parameters: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    max_active: int | None = None,
) -> Accepted:
    """Admit a request: write the report and its outbox message in one transaction.

    From the commit on, the request survives any crash; the relay publishes it even if
    RabbitMQ is down right now. A retry with the same Idempotency-Key gets the first
    answer; an identical request while the first is active is a 409; past `max_active`
    active reports, a 429. The unique indexes enforce the first two under any concurrency.
    """
    fingerprint = request_hash(report_type, report_format, parameters)
    report = Report(
        id=uuid.uuid4(),
        org=principal.org,
        owner_id=principal.user_id,
        report_type=report_type.name,
        format=report_format,
        parameters=parameters,
        status=ReportStatus.PENDING.value,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
    )
    message = ReportRequested.new(report.id)
    try:
        with translate_errors(), sessions.begin() as session:
            session.execute(LOCK_USER, {"org": principal.org, "owner_id": principal.user_id})
            earlier = _admission_conflict(
                session, principal, idempotency_key, fingerprint, max_active
            )
            if earlier is not None:
                return Accepted(earlier, replayed=True)
            session.add(report)
            session.flush()
            session.add(outbox_row(message))
    except sqlalchemy.exc.IntegrityError as exc:
        # The lock makes these unreachable from this function; a writer that bypasses it
        # still cannot create a duplicate, and its loser hears why.
        if getattr(exc.orig.diag, "constraint_name", None) in ADMISSION_INDEXES:
            raise ApiError(409, "Conflict", "An identical request was accepted just now.") from exc
        raise
    return Accepted(report, replayed=False)


def _admission_conflict(
    session: Session,
    principal: Principal,
    idempotency_key: str | None,
    fingerprint: str,
    max_active: int | None,
) -> Report | None:
    """The report to replay, or raise the reason this request is refused; None to admit."""
    mine = (Report.org == principal.org, Report.owner_id == principal.user_id)
    if idempotency_key is not None:
        earlier = session.scalars(
            select(Report).where(*mine, Report.idempotency_key == idempotency_key)
        ).first()
        if earlier is not None:
            if earlier.request_hash != fingerprint:
                raise ApiError(
                    422,
                    "Unprocessable Content",
                    "This Idempotency-Key was used with a different request.",
                    errors={"Idempotency-Key": ["was used with a different request"]},
                )
            return earlier
    active = Report.status.in_([ReportStatus.PENDING.value, ReportStatus.PROCESSING.value])
    duplicate = session.scalars(
        select(Report.id).where(*mine, active, Report.request_hash == fingerprint)
    ).first()
    if duplicate is not None:
        raise ApiError(
            409,
            "Conflict",
            "An identical report is already Pending or Processing.",
            existingReportId=str(duplicate),
        )
    if max_active is not None:
        count = session.scalar(select(func.count()).select_from(Report).where(*mine, active))
        if count >= max_active:
            raise ApiError(
                429,
                "Too Many Requests",
                f"You have {count} reports Pending or Processing; at most {max_active} may be.",
                headers={"Retry-After": "30"},
            )
    return None


def visible_to(principal: Principal, query: Select) -> Select:
    """Only what the caller may read: their own reports, or their org's for an admin."""
    query = query.where(Report.org == principal.org)
    if not principal.is_admin:
        query = query.where(Report.owner_id == principal.user_id)
    return query


def get_visible_report(
    sessions: sessionmaker[Session], principal: Principal, report_id: uuid.UUID
) -> Report:
    """The report if the caller may see it; otherwise 404, whether or not it exists."""
    query = visible_to(principal, select(Report).where(Report.id == report_id))
    with translate_errors(), sessions() as session:
        report = session.scalars(query).first()
    if report is None:
        raise ApiError(404, "Not Found", "There is no such report.")
    return report


def list_reports(
    sessions: sessionmaker[Session], principal: Principal, filters: dict[str, Any]
) -> tuple[list[Report], int]:
    """One page of the caller's history, newest first, and how many match in all."""
    query = visible_to(principal, select(Report))
    if "status" in filters:
        query = query.where(Report.status == filters["status"])
    if "report_type" in filters:
        query = query.where(Report.report_type == filters["report_type"])
    if "created_from" in filters:
        query = query.where(Report.created_at >= filters["created_from"])
    if "created_to" in filters:
        query = query.where(Report.created_at <= filters["created_to"])
    page, page_size = filters["page"], filters["page_size"]
    with translate_errors(), sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        items = session.scalars(
            query.order_by(Report.created_at.desc(), Report.id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).all()
    return list(items), total or 0


def cancel_report(
    sessions: sessionmaker[Session], principal: Principal, report_id: uuid.UUID
) -> Report:
    """Pending → Cancelled at once; Processing → cancel requested, and the worker stops it.

    One conditional UPDATE decides a race with the worker's completion: the worker's
    COMPLETE refuses once cancel_requested is set, and this matches only unfinished reports.
    """
    report = get_visible_report(sessions, principal, report_id)
    pending = Report.status == ReportStatus.PENDING.value
    statement = (
        update(Report)
        .where(
            Report.id == report.id,
            Report.status.in_([ReportStatus.PENDING.value, ReportStatus.PROCESSING.value]),
        )
        .values(
            cancel_requested=True,
            status=case((pending, ReportStatus.CANCELLED.value), else_=Report.status),
            completed_at=case((pending, func.now()), else_=Report.completed_at),
        )
        .returning(Report)
        .execution_options(synchronize_session=False)
    )
    with translate_errors(), sessions.begin() as session:
        cancelled = session.scalars(statement).first()
    if cancelled is None:
        current = get_visible_report(sessions, principal, report_id)
        raise ApiError(
            409,
            "Conflict",
            f"The report is {current.status}; only Pending or Processing reports can be cancelled.",
        )
    return cancelled

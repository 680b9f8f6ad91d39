"""What the report views do, without HTTP: accept a request, look a report up, present it.

Each view calls one function of the first section with the app's Dependencies; refusals
are raised as the domain errors of shared/errors.py, which api/errors.py answers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Principal
from api.dependencies import Dependencies
from api.errors import flatten_messages
from api.reports import admission, presenter
from shared import report_counters, transitions
from shared.catalog import ReportType, get_report_type
from shared.db import driver_cursor, translate_errors
from shared.deliveries import rows as delivery_rows
from shared.errors import (
    AlreadyFinished,
    DeliveryNotFound,
    InvalidParameters,
    NotAllowed,
    ReportNotFound,
    UnknownReportType,
)
from shared.models import Report
from shared.planner import estimate_rows
from shared.statuses import ReportStatus
from shared.webhooks.events import record_report_events

MAX_IDEMPOTENCY_KEY = 200  # characters

log = logging.getLogger(__name__)


def request_report(
    deps: Dependencies,
    principal: Principal,
    report_type_name: str,
    load_request: Callable[[], dict[str, Any]],
    idempotency_key: str | None,
) -> admission.Accepted:
    """Check, then admit a report request (admission.admit), or replay the first answer.

    The refusals come in a fixed order, part of the API's contract: an unknown type, a
    role that may not ask for it, then the body (load_request, the view's loader: it reads
    the body only once the type and the role have passed), the parameters, a PDF expected
    to be too long, the Idempotency-Key, and last what the admission refuses.
    """
    report_type = find_report_type(report_type_name)
    check_may_request(principal, report_type)
    loaded = load_request()
    report_format = loaded["format"]
    parameters = validate_request(report_type, report_format, loaded["parameters"])
    if report_format == "pdf":
        check_pdf_estimate(
            deps.source, report_type, principal.org, parameters, deps.settings.pdf_max_rows
        )
    accepted = admission.admit(
        deps.engine,
        principal,
        report_type,
        report_format,
        parameters,
        idempotency_key=check_idempotency_key(idempotency_key),
        max_active=deps.settings.max_active_reports_per_user,
        max_per_minute=deps.settings.max_reports_per_user_per_minute,
    )
    log.info(
        "report.accepted report_id=%s message_id=%s type=%s format=%s replayed=%s",
        accepted.report_id,
        accepted.message_id,
        accepted.report_type,
        report_format,
        accepted.replayed,
    )
    if not accepted.replayed:
        report_counters.CREATED.labels(accepted.report_type, report_format).inc()
    return accepted


def report_resource(deps: Dependencies, principal: Principal, report_id: uuid.UUID) -> dict:
    """The report as its resource, if the caller may see it."""
    return _present(deps, get_visible_report(deps.sessions, principal, report_id))


def history_page(deps: Dependencies, principal: Principal, filters: dict[str, Any]) -> dict:
    """One page of the caller's history (list_reports), each report as its resource."""
    reports, total = list_reports(deps.sessions, principal, filters)
    targets = _deliveries(deps, [report.id for report in reports])
    return {
        "items": [_present(deps, report, targets[report.id]) for report in reports],
        "page": filters["page"],
        "page_size": filters["page_size"],
        "total": total,
    }


def cancel(deps: Dependencies, principal: Principal, report_id: uuid.UUID) -> dict:
    """Cancel the report (cancel_report) and return it as its resource."""
    return _present(deps, cancel_report(deps.sessions, principal, report_id))


def download_link(
    deps: Dependencies, principal: Principal, report_id: uuid.UUID
) -> presenter.DownloadLink:
    """A link presigned just now to the report's file, if it has one the caller may see."""
    report = get_visible_report(deps.sessions, principal, report_id)
    return presenter.require_download_link(
        deps.storage, report, deps.settings.download_url_ttl_seconds
    )


def retry_delivery(
    deps: Dependencies, principal: Principal, report_id: uuid.UUID, delivery_id: uuid.UUID
) -> dict:
    """Send that one target of the report again, now (DESIGN.md section 9); the report as
    its resource. A delivery in flight finishes first and is then sent again."""
    report = get_visible_report(deps.sessions, principal, report_id)
    with translate_errors(), deps.engine.begin() as connection:
        retried = connection.execute(
            delivery_rows.RETRY_NOW, {"id": delivery_id, "report_id": report.id}
        ).first()
    if retried is None:
        raise DeliveryNotFound()
    log.info("delivery.retry_requested report_id=%s delivery_id=%s", report_id, delivery_id)
    return _present(deps, report)


def _deliveries(deps: Dependencies, report_ids: list[uuid.UUID]) -> dict[uuid.UUID, list]:
    with translate_errors(), deps.engine.connect() as connection:
        return delivery_rows.list_for_reports(connection, report_ids)


def _present(deps: Dependencies, report: Report, deliveries: list | None = None) -> dict:
    """The report as its resource, with a download link presigned just now and its
    deliveries (read here unless given)."""
    link = presenter.download_link(deps.storage, report, deps.settings.download_url_ttl_seconds)
    if deliveries is None:
        deliveries = _deliveries(deps, [report.id])[report.id]
    return {**presenter.present(report, link), "deliveries": deliveries}


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable() or not key.isascii():
        raise InvalidParameters(
            "The Idempotency-Key header is not valid.",
            {"Idempotency-Key": [f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"]},
        )
    return key


def find_report_type(name: str) -> ReportType:
    report_type = get_report_type(name)
    if report_type is None:
        raise UnknownReportType(name)
    return report_type


def check_may_request(principal: Principal, report_type: ReportType) -> None:
    if not principal.roles & report_type.roles:
        raise NotAllowed(report_type.name, report_type.roles)


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
        raise InvalidParameters("The request has invalid fields.", errors)
    return report_type.dump_parameters(parameters)


def check_pdf_estimate(
    source: Engine, report_type: ReportType, org: str, parameters: dict[str, Any], max_rows: int
) -> None:
    """Refuse at once a PDF that the planner expects to be longer than PDF_MAX_ROWS.

    An estimate can be off either way: a report that passes here and turns out longer
    ends Failed during the export, with the same cap in its message.
    """
    query = report_type.query(org, parameters)
    with driver_cursor(source) as cursor:
        estimate = estimate_rows(cursor, query)
    if estimate > max_rows:
        raise InvalidParameters(
            f"This report is expected to have about {estimate:,} rows; a PDF may hold at most "
            f"{max_rows:,} (PDF_MAX_ROWS). Ask for csv, xlsx or json, or for a smaller range.",
            {"format": [f"pdf holds at most {max_rows:,} rows"]},
        )


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
        raise ReportNotFound()
    return report


def list_reports(
    sessions: sessionmaker[Session], principal: Principal, filters: dict[str, Any]
) -> tuple[list[Report], int]:
    """One page of the caller's history, newest first, and how many match in all.

    The page's ids are found first, from reports_org_history or reports_owner_history
    alone (an index-only scan that holds the order and every filter), and only those rows
    are then read: OFFSET skips index entries, not rows, so a page deep in a million
    reports costs about what the total's count costs.
    """
    matching = _history_filters(visible_to(principal, select(Report.id)), filters)
    newest_first = (Report.created_at.desc(), Report.id.desc())
    page, page_size = filters["page"], filters["page_size"]
    page_ids = (
        matching.order_by(*newest_first).limit(page_size).offset((page - 1) * page_size).subquery()
    )
    with translate_errors(), sessions() as session:
        total = session.scalar(select(func.count()).select_from(matching.subquery()))
        items = session.scalars(
            select(Report).join(page_ids, Report.id == page_ids.c.id).order_by(*newest_first)
        ).all()
    return list(items), total or 0


def _history_filters(query: Select, filters: dict[str, Any]) -> Select:
    if "status" in filters:
        query = query.where(Report.status == filters["status"])
    if "report_type" in filters:
        query = query.where(Report.report_type == filters["report_type"])
    if "format" in filters:
        query = query.where(Report.format == filters["format"])
    if "created_from" in filters:
        query = query.where(Report.created_at >= filters["created_from"])
    if "created_to" in filters:
        query = query.where(Report.created_at <= filters["created_to"])
    if "definition_id" in filters:
        query = query.where(Report.definition_id == filters["definition_id"])
    return query


def cancel_report(
    sessions: sessionmaker[Session], principal: Principal, report_id: uuid.UUID
) -> Report:
    """Pending → Cancelled at once; Processing → cancel requested, and the worker stops it.

    One conditional UPDATE decides a race with the worker's completion: the worker's
    COMPLETE refuses once cancel_requested is set, and this matches only unfinished reports.
    """
    report = get_visible_report(sessions, principal, report_id)
    with translate_errors(), sessions.begin() as session:
        cancelled = session.execute(
            transitions.REQUEST_CANCEL.statement, {"report_id": report.id}
        ).first()
        if cancelled is not None and cancelled.status == ReportStatus.CANCELLED:
            record_report_events(session.connection(), "report.cancelled", [report.id])
    if cancelled is None:
        current = get_visible_report(sessions, principal, report_id)
        raise AlreadyFinished(current.status)
    if cancelled.status == ReportStatus.CANCELLED:
        # A Processing report only has its cancel requested: its worker counts it when it stops.
        report_counters.CANCELLED.labels(cancelled.report_type).inc()
    return get_visible_report(sessions, principal, report_id)

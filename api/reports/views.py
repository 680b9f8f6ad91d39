"""/api/v1/reports: request, read, list, cancel and download reports."""

from __future__ import annotations

import logging
import uuid
from typing import ClassVar

from flask import Blueprint, Response, current_app, g, jsonify, redirect, request, url_for
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

from api.errors import ApiError
from api.openapi.declarations import (
    DOWNLOAD_LOCATION,
    HTML,
    IDEMPOTENT_REPLAYED,
    LOCATION,
    NO_STORE,
    RETRY_AFTER,
    Operation,
    Success,
    documented,
    idempotency_key,
)
from api.reports import admission, presenter, service
from api.reports.schemas import (
    AcceptedSchema,
    HistoryQuerySchema,
    ReportPageSchema,
    ReportRequestSchema,
    ReportSchema,
)
from api.validation import load_or_422
from shared import report_counters
from shared.statuses import ReportStatus

# Built once: marshmallow schemas keep no per-call state, and building one costs more than
# a load or dump with it.
_ACCEPTED_SCHEMA = AcceptedSchema()
_HISTORY_QUERY_SCHEMA = HistoryQuerySchema()
_REPORT_PAGE_SCHEMA = ReportPageSchema()
_REPORT_REQUEST_SCHEMA = ReportRequestSchema()
_REPORT_SCHEMA = ReportSchema()

RETRY_AFTER_SECONDS = 2
MAX_IDEMPOTENCY_KEY = 200

log = logging.getLogger(__name__)

blueprint = Blueprint("reports", __name__, url_prefix="/api/v1/reports")


class ReportIdConverter(BaseConverter):
    """A report id in a path: anything that is not a UUID names no report, so 404.

    werkzeug's uuid converter refuses to match instead, and GET /reports/abc then matched
    only POST /reports/<report_type_name>: a 405 that told the client the wrong thing.
    """

    openapi_schema: ClassVar[dict[str, str]] = {"type": "string", "format": "uuid"}

    def to_python(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise NotFound("There is no such report.") from None

    def to_url(self, value: uuid.UUID) -> str:
        return str(value)


# Runs at registration before the routes below are added, which need the converter.
blueprint.record_once(
    lambda state: state.app.url_map.converters.setdefault("report_id", ReportIdConverter)
)


def _deps():
    return current_app.extensions["reportbox"]


def _present(report) -> dict:
    """The report as its resource, with a download link presigned just now."""
    link = presenter.download_link(
        _deps().storage, report, _deps().settings.download_url_ttl_seconds
    )
    return presenter.present(report, link)


@blueprint.post("/<report_type_name>")
@documented(
    Operation(
        summary="Request a report",
        per_report_type=True,
        request_headers=(idempotency_key(MAX_IDEMPOTENCY_KEY),),
        success=Success(
            202,
            "Accepted and durable: the report is Pending; poll Location.",
            AcceptedSchema,
            headers=(LOCATION, RETRY_AFTER, IDEMPOTENT_REPLAYED),
        ),
        errors={
            403: "The token's roles may not request this report type.",
            409: "An identical report is already Pending or Processing (existingReportId).",
            415: "The body is not application/json.",
            422: "Invalid fields, or an Idempotency-Key reused with another request.",
            429: "Too many of this user's reports are Pending or Processing, or too many "
            "were requested in the last minute (cancelled ones count); see Retry-After.",
            503: "The database is unavailable; nothing was written.",
        },
    )
)
def request_report(report_type_name: str) -> tuple[Response, int, dict[str, str]]:
    report_type = service.find_report_type(report_type_name)
    service.check_may_request(g.principal, report_type)
    body = request.get_json()
    if not isinstance(body, dict):
        raise ApiError(422, "Unprocessable Content", "The body must be a JSON object.")
    loaded = load_or_422(_REPORT_REQUEST_SCHEMA, body)
    parameters = service.validate_request(report_type, loaded["format"], loaded["parameters"])
    if loaded["format"] == "pdf":
        service.check_pdf_estimate(
            _deps().source, report_type, g.principal.org, parameters, _deps().settings.pdf_max_rows
        )
    accepted = admission.admit(
        _deps().engine,
        g.principal,
        report_type,
        loaded["format"],
        parameters,
        idempotency_key=_idempotency_key(),
        max_active=_deps().settings.max_active_reports_per_user,
        max_per_minute=_deps().settings.max_reports_per_user_per_minute,
    )
    log.info(
        "report.accepted report_id=%s message_id=%s type=%s format=%s replayed=%s",
        accepted.report_id,
        accepted.message_id,
        accepted.report_type,
        loaded["format"],
        accepted.replayed,
    )
    if not accepted.replayed:
        report_counters.CREATED.labels(accepted.report_type, loaded["format"]).inc()
    status_url = _status_url(accepted.report_id)
    # A replay repeats the first answer, which always said Pending.
    body = _ACCEPTED_SCHEMA.dump(
        {
            "report_id": accepted.report_id,
            "report_type": accepted.report_type,
            "status": ReportStatus.PENDING.value,
            "status_url": status_url,
            "created_at": accepted.created_at,
        }
    )
    headers = {"Location": status_url, "Retry-After": str(RETRY_AFTER_SECONDS)}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return jsonify(body), 202, headers


@blueprint.get("")
@documented(
    Operation(
        summary="The caller's reports, newest first (an admin's: the org's)",
        query=HistoryQuerySchema,
        success=Success(200, "One page of the history.", ReportPageSchema),
        errors={
            422: "Invalid or unknown query parameters.",
            503: "The database is unavailable.",
        },
    )
)
def list_reports() -> Response:
    filters = load_or_422(_HISTORY_QUERY_SCHEMA, request.args.to_dict())
    reports, total = service.list_reports(_deps().sessions, g.principal, filters)
    page = {
        "items": [_present(report) for report in reports],
        "page": filters["page"],
        "page_size": filters["page_size"],
        "total": total,
    }
    return jsonify(_REPORT_PAGE_SCHEMA.dump(page))


@blueprint.get("/<report_id:report_id>")
@documented(
    Operation(
        summary="A report: status, progress, file and a fresh download URL",
        success=Success(200, "The report.", ReportSchema),
        errors={
            404: "No such report, or not one the caller may see.",
            503: "The database is unavailable.",
        },
    )
)
def get_report(report_id: uuid.UUID) -> Response:
    report = service.get_visible_report(_deps().sessions, g.principal, report_id)
    return jsonify(_REPORT_SCHEMA.dump(_present(report)))


@blueprint.delete("/<report_id:report_id>")
@documented(
    Operation(
        summary="Cancel a report",
        description="Pending → Cancelled at once; Processing → cancelRequested, and the "
        "worker stops it within seconds.",
        success=Success(202, "The report, cancelled or with cancelRequested.", ReportSchema),
        errors={
            404: "No such report, or not one the caller may see.",
            409: "The report is finished already.",
            503: "The database is unavailable; nothing was written.",
        },
    )
)
def cancel_report(report_id: uuid.UUID) -> tuple[Response, int]:
    report = service.cancel_report(_deps().sessions, g.principal, report_id)
    return jsonify(_REPORT_SCHEMA.dump(_present(report))), 202


@blueprint.get("/<report_id:report_id>/download")
@documented(
    Operation(
        summary="Download a Completed report's file",
        success=Success(
            302,
            "A redirect to a URL presigned just now.",
            content_type=HTML,
            headers=(DOWNLOAD_LOCATION, NO_STORE),
        ),
        errors={
            404: "No such report, or not one the caller may see.",
            409: "The report is not Completed: there is no file yet.",
            410: "The report has expired; its file was deleted.",
            503: "The database is unavailable.",
        },
    )
)
def download_report(report_id: uuid.UUID) -> Response:
    report = service.get_visible_report(_deps().sessions, g.principal, report_id)
    link = presenter.require_download_link(
        _deps().storage, report, _deps().settings.download_url_ttl_seconds
    )
    response = redirect(link.url, code=302)
    # Each visit presigns anew; a cached redirect would hand out a URL that has expired.
    response.headers["Cache-Control"] = "no-store"
    return response


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable() or not key.isascii():
        raise ApiError(
            422,
            "Unprocessable Content",
            "The Idempotency-Key header is not valid.",
            errors={
                "Idempotency-Key": [
                    f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
                ]
            },
        )
    return key


def _status_url(report_id: uuid.UUID) -> str:
    return public_url("reports.get_report", report_id=report_id)


def public_url(endpoint: str, **values: object) -> str:
    """The endpoint's fully qualified URL, from PUBLIC_BASE_URL when it is set."""
    base = _deps().settings.public_base_url
    if base:
        return f"{base.rstrip('/')}{url_for(endpoint, **values)}"
    return url_for(endpoint, **values, _external=True)

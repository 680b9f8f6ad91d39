"""/api/v1/reports: request, read, list, cancel and download reports.

The shape every view here keeps, and a new blueprint copies: load the request (a
marshmallow schema; path values arrive converted), call one function of the service
module with dependencies() and g.principal, dump its result with a schema. Nothing else:
no SQL, no storage, no refusal written here. A service raises the domain's errors
(shared/errors.py) and api/errors.py answers each, once, as problem details.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import werkzeug
from flask import Blueprint, Response, g, jsonify, redirect, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

from api.dependencies import dependencies
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
from api.reports import service
from api.reports.schemas import (
    AcceptedSchema,
    HistoryQuerySchema,
    ReportPageSchema,
    ReportRequestSchema,
    ReportSchema,
)
from api.validation import load_or_422
from shared.errors import InvalidParameters
from shared.statuses import ReportStatus

# Built once: marshmallow schemas keep no per-call state, and building one costs more than
# a load or dump with it.
_ACCEPTED_SCHEMA = AcceptedSchema()
_HISTORY_QUERY_SCHEMA = HistoryQuerySchema()
_REPORT_PAGE_SCHEMA = ReportPageSchema()
_REPORT_REQUEST_SCHEMA = ReportRequestSchema()
_REPORT_SCHEMA = ReportSchema()

RETRY_AFTER_SECONDS = 2  # when to poll a report just accepted

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


def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("report_id", ReportIdConverter)


# Runs at registration before the routes below are added, which need the converter.
blueprint.record_once(_register_converter)


@blueprint.post("/<report_type_name>")
@documented(
    Operation(
        summary="Request a report",
        per_report_type=True,
        request_headers=(idempotency_key(service.MAX_IDEMPOTENCY_KEY),),
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
    accepted = service.request_report(
        dependencies(),
        g.principal,
        report_type_name,
        _load_report_request,  # called by the service once the type and role have passed
        request.headers.get("Idempotency-Key"),
    )
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
    page = service.history_page(dependencies(), g.principal, filters)
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
    report = service.report_resource(dependencies(), g.principal, report_id)
    return jsonify(_REPORT_SCHEMA.dump(report))


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
    report = service.cancel(dependencies(), g.principal, report_id)
    return jsonify(_REPORT_SCHEMA.dump(report)), 202


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
def download_report(report_id: uuid.UUID) -> werkzeug.Response:  # redirect()'s own class
    link = service.download_link(dependencies(), g.principal, report_id)
    response = redirect(link.url, code=302)
    # Each visit presigns anew; a cached redirect would hand out a URL that has expired.
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/<report_id:report_id>/deliveries/<report_id:delivery_id>/retry")
@documented(
    Operation(
        summary="Send one delivery of a report again, now",
        description="That target alone (email, s3 or sftp), whatever its status; its retry "
        "schedule starts afresh. One in flight finishes first.",
        success=Success(202, "The report, the delivery Pending again.", ReportSchema),
        errors={
            404: "No such report the caller may see, or no such delivery of it.",
            503: "The database is unavailable; nothing was written.",
        },
    )
)
def retry_delivery(report_id: uuid.UUID, delivery_id: uuid.UUID) -> tuple[Response, int]:
    report = service.retry_delivery(dependencies(), g.principal, report_id, delivery_id)
    return jsonify(_REPORT_SCHEMA.dump(report)), 202


def _load_report_request() -> dict[str, Any]:
    body = request.get_json()  # 415 unless the body is JSON
    if not isinstance(body, dict):
        raise InvalidParameters("The body must be a JSON object.")
    return load_or_422(_REPORT_REQUEST_SCHEMA, body)


def _status_url(report_id: uuid.UUID) -> str:
    return public_url("reports.get_report", report_id=report_id)


def public_url(endpoint: str, **values: Any) -> str:  # url_for's own route values
    """The endpoint's fully qualified URL, from PUBLIC_BASE_URL when it is set."""
    base = dependencies().settings.public_base_url
    if base:
        return f"{base.rstrip('/')}{url_for(endpoint, **values)}"
    return url_for(endpoint, **values, _external=True)

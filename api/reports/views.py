"""/api/v1/reports: request a report, read its status."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from marshmallow import ValidationError

from api.errors import ApiError, flatten_messages
from api.reports import service
from api.reports.schemas import AcceptedSchema, ReportRequestSchema, ReportSchema

RETRY_AFTER_SECONDS = 2

blueprint = Blueprint("reports", __name__, url_prefix="/api/v1/reports")


@blueprint.post("/<report_type_name>")
def request_report(report_type_name: str) -> tuple[Response, int, dict[str, str]]:
    deps = current_app.extensions["reportbox"]
    report_type = service.find_report_type(report_type_name)
    service.check_may_request(g.principal, report_type)
    body = request.get_json()
    try:
        loaded = ReportRequestSchema().load(body if body is not None else {})
    except ValidationError as exc:
        raise ApiError(
            422,
            "Unprocessable Content",
            "The request has invalid fields.",
            errors=flatten_messages(exc.messages),
        ) from exc
    parameters = service.validate_request(report_type, loaded["format"], loaded["parameters"])
    report = service.request_report(
        deps.sessions, g.principal, report_type, loaded["format"], parameters
    )
    status_url = _status_url(report.id)
    accepted = AcceptedSchema().dump(
        {
            "report_id": report.id,
            "report_type": report.report_type,
            "status": report.status,
            "status_url": status_url,
            "created_at": report.created_at,
        }
    )
    return jsonify(accepted), 202, {"Location": status_url, "Retry-After": str(RETRY_AFTER_SECONDS)}


@blueprint.get("/<uuid:report_id>")
def get_report(report_id: uuid.UUID) -> Response:
    deps = current_app.extensions["reportbox"]
    report = service.get_visible_report(deps.sessions, g.principal, report_id)
    link = service.download_link(deps.storage, report, deps.settings.download_url_ttl_seconds)
    return jsonify(ReportSchema().dump(service.present(report, link)))


def _status_url(report_id: uuid.UUID) -> str:
    base = current_app.extensions["reportbox"].settings.public_base_url
    if base:
        return f"{base.rstrip('/')}{url_for('reports.get_report', report_id=report_id)}"
    return url_for("reports.get_report", report_id=report_id, _external=True)

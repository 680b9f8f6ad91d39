"""/api/v1/report-definitions, generate, content, and /api/v1/schedules/preview.

Each view loads the request, calls one service function with dependencies() and
g.principal, and dumps what it returns; what goes wrong is a domain error
(shared/errors.py) that api/errors.py answers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import Blueprint, Response, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import NotFound

from api.definitions import preview, service
from api.definitions.schemas import (
    DefinitionCreateSchema,
    DefinitionFieldsSchema,
    DefinitionPageSchema,
    DefinitionSchema,
    GeneratedSchema,
    PageQuerySchema,
    PreviewQuerySchema,
    PreviewSchema,
)
from api.dependencies import dependencies
from api.openapi.declarations import (
    CONTENT_DISPOSITION,
    IDEMPOTENT_REPLAYED,
    LOCATION,
    RETRY_AFTER,
    Header,
    Operation,
    Success,
    documented,
    idempotency_key,
)
from api.reports.service import MAX_IDEMPOTENCY_KEY
from api.reports.views import RETRY_AFTER_SECONDS, ReportIdConverter, public_url
from api.validation import load_or_422
from shared.errors import InvalidParameters
from shared.statuses import ReportStatus

_CREATE_SCHEMA = DefinitionCreateSchema()
_PATCH_SCHEMA = DefinitionFieldsSchema()
_DEFINITION_SCHEMA = DefinitionSchema()
_PAGE_SCHEMA = DefinitionPageSchema()
_PAGE_QUERY_SCHEMA = PageQuerySchema()
_GENERATED_SCHEMA = GeneratedSchema()
_PREVIEW_QUERY_SCHEMA = PreviewQuerySchema()
_PREVIEW_SCHEMA = PreviewSchema()

DEFINITION_LOCATION = Header(
    "Location", "The new definition's URL.", {"type": "string", "format": "uri"}
)
FILE_TYPES = (
    "text/csv",
    "application/gzip",
    "application/jsonl",
    "application/json",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/pdf",
)

blueprint = Blueprint("definitions", __name__, url_prefix="/api/v1")


class DefinitionIdConverter(ReportIdConverter):
    """A definition id in a path: anything that is not a UUID names no definition, so 404."""

    def to_python(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise NotFound("There is no such report definition.") from None


def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("definition_id", DefinitionIdConverter)


blueprint.record_once(_register_converter)


def _body() -> dict:
    body = request.get_json()
    if not isinstance(body, dict):
        raise InvalidParameters("The body must be a JSON object.", {"_body": ["must be an object"]})
    return body


def _definition_url(definition_id: uuid.UUID) -> str:
    return public_url("definitions.get_definition", definition_id=definition_id)


@blueprint.post("/report-definitions")
@documented(
    Operation(
        summary="Save a report definition",
        tag="definitions",
        body=DefinitionCreateSchema,
        success=Success(201, "Saved.", DefinitionSchema, headers=(DEFINITION_LOCATION,)),
        errors={
            403: "The token's roles may not request this report type.",
            409: "The org already has a definition of this name.",
            415: "The body is not application/json.",
            422: "Invalid fields, each named (schedule.cron, parameters.fromDate, ...).",
            503: "The database is unavailable; nothing was written.",
        },
    )
)
def create_definition() -> tuple[Response, int, dict[str, str]]:
    fields = load_or_422(_CREATE_SCHEMA, _body())
    created = service.create(dependencies(), g.principal, fields)
    location = _definition_url(created["definition_id"])
    return jsonify(_DEFINITION_SCHEMA.dump(created)), 201, {"Location": location}


@blueprint.get("/report-definitions")
@documented(
    Operation(
        summary="The caller's report definitions, newest first (an admin's: the org's)",
        tag="definitions",
        query=PageQuerySchema,
        success=Success(200, "One page.", DefinitionPageSchema),
        errors={
            422: "Invalid or unknown query parameters.",
            503: "The database is unavailable.",
        },
    )
)
def list_definitions() -> Response:
    query = load_or_422(_PAGE_QUERY_SCHEMA, request.args.to_dict())
    page = service.list_page(dependencies(), g.principal, query)
    return jsonify(_PAGE_SCHEMA.dump(page))


@blueprint.get("/report-definitions/<definition_id:definition_id>")
@documented(
    Operation(
        summary="A report definition, its next runs and its last run",
        tag="definitions",
        success=Success(200, "The definition.", DefinitionSchema),
        errors={
            404: "No such definition, or not one the caller may see.",
            503: "The database is unavailable.",
        },
    )
)
def get_definition(definition_id: uuid.UUID) -> Response:
    found = service.get(dependencies(), g.principal, definition_id)
    return jsonify(_DEFINITION_SCHEMA.dump(found))


@blueprint.patch("/report-definitions/<definition_id:definition_id>")
@documented(
    Operation(
        summary="Change a report definition",
        body=DefinitionFieldsSchema,
        description='Only the fields sent change. {"active": true} resumes a paused one.',
        tag="definitions",
        success=Success(200, "The definition as changed.", DefinitionSchema),
        errors={
            403: "The token's roles may not request this report type.",
            404: "No such definition, or not one the caller may see.",
            409: "The org already has a definition of this name.",
            415: "The body is not application/json.",
            422: "Invalid fields, each named.",
            503: "The database is unavailable; nothing was written.",
        },
    )
)
def update_definition(definition_id: uuid.UUID) -> Response:
    changes = load_or_422(_PATCH_SCHEMA, _body())
    changed = service.update(dependencies(), g.principal, definition_id, changes)
    return jsonify(_DEFINITION_SCHEMA.dump(changed))


@blueprint.delete("/report-definitions/<definition_id:definition_id>")
@documented(
    Operation(
        summary="Delete a report definition (its runs stay in the history)",
        tag="definitions",
        success=Success(204, "Deleted."),
        errors={
            404: "No such definition, or not one the caller may see.",
            503: "The database is unavailable; nothing was written.",
        },
    )
)
def delete_definition(definition_id: uuid.UUID) -> tuple[str, int]:
    service.delete(dependencies(), g.principal, definition_id)
    return "", 204


@blueprint.post("/reports/<definition_id:definition_id>/generate")
@documented(
    Operation(
        summary="Run a report definition now (US-094)",
        description="The run is an ordinary report, made as the caller: the limits on new "
        "reports apply. Needs an api delivery in async mode.",
        tag="definitions",
        request_headers=(idempotency_key(MAX_IDEMPOTENCY_KEY),),
        success=Success(
            202,
            "Accepted and durable: the run is Pending; poll Location.",
            GeneratedSchema,
            headers=(LOCATION, RETRY_AFTER, IDEMPOTENT_REPLAYED),
        ),
        errors={
            403: "The token's roles may not request this report type.",
            404: "No such definition, or not one the caller may see.",
            409: "Not configured for asynchronous generation (error), or an identical "
            "report is already Pending or Processing (existingReportId).",
            422: "The definition's parameters no longer fit, or an Idempotency-Key reused "
            "with another request.",
            429: "Too many of this user's reports are Pending or Processing, or too many "
            "were requested in the last minute; see Retry-After.",
            503: "The database is unavailable; nothing was written.",
        },
    )
)
def generate_definition(definition_id: uuid.UUID) -> tuple[Response, int, dict[str, str]]:
    accepted = service.generate(
        dependencies(), g.principal, definition_id, request.headers.get("Idempotency-Key")
    )
    status_url = public_url("reports.get_report", report_id=accepted.report_id)
    body = _GENERATED_SCHEMA.dump(
        {
            "report_id": accepted.report_id,
            "job_id": accepted.report_id,
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


@blueprint.get("/report-definitions/<definition_id:definition_id>/content")
@documented(
    Operation(
        summary="A sync definition's file, built within the request",
        description="At most SYNC_MAX_ROWS rows and SYNC_TIMEOUT_SECONDS; beyond either, "
        "generate it asynchronously.",
        tag="definitions",
        success=Success(200, "The file.", file_types=FILE_TYPES, headers=(CONTENT_DISPOSITION,)),
        errors={
            403: "The token's roles may not request this report type.",
            404: "No such definition, or not one the caller may see.",
            409: "The definition has no api delivery in sync mode.",
            422: "More rows than SYNC_MAX_ROWS, or parameters that no longer fit.",
            503: "The database is unavailable.",
            504: "The file was not built within SYNC_TIMEOUT_SECONDS.",
        },
    )
)
def definition_content(definition_id: uuid.UUID) -> Response:
    built = service.content(dependencies(), g.principal, definition_id)
    response = Response(built.body, status=200, content_type=built.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{built.file_name}"'
    return response


@blueprint.get("/schedules/preview")
@documented(
    Operation(
        summary="A schedule's next instants and its description in words",
        tag="definitions",
        query=PreviewQuerySchema,
        success=Success(200, "The next instants, with the zone's offset.", PreviewSchema),
        errors={422: "A bad cron, timezone, from or count, named."},
    )
)
def preview_schedule() -> Response:
    query = load_or_422(_PREVIEW_QUERY_SCHEMA, request.args.to_dict())
    start = query.get("from_") or datetime.now(UTC)
    shown = preview.preview(query["cron"], query["timezone"], start, query["count"])
    return jsonify(_PREVIEW_SCHEMA.dump(shown))

"""/api/v1/webhook-endpoints: register, read, change, delete, test and watch endpoints.

Each view loads the request, calls one function of api/webhooks/service.py with
dependencies() and g.principal, and dumps its result. Every operation needs the `admin`
role (403); another org's endpoint is a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from api.dependencies import dependencies
from api.openapi.declarations import Header, Operation, Success, documented
from api.validation import load_or_422
from api.webhooks import service
from api.webhooks.schemas import (
    CreatedEndpointSchema,
    EndpointChangeSchema,
    EndpointCreateSchema,
    EndpointListQuerySchema,
    EndpointPageSchema,
    EndpointSchema,
    MessageListSchema,
    MessageQuerySchema,
    QueuedMessageSchema,
    RotatedSecretSchema,
)
from shared.errors import InvalidParameters

blueprint = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhook-endpoints")

_CREATE = EndpointCreateSchema()
_CHANGE = EndpointChangeSchema()
_ENDPOINT = EndpointSchema()
_CREATED = CreatedEndpointSchema()
_PAGE = EndpointPageSchema()
_LIST_QUERY = EndpointListQuerySchema()
_MESSAGES = MessageListSchema()
_MESSAGE_QUERY = MessageQuerySchema()
_QUEUED = QueuedMessageSchema()
_ROTATED = RotatedSecretSchema()

ENDPOINT_LOCATION = Header(
    "Location", "The endpoint's URL in this API.", {"type": "string", "format": "uri"}
)
FORBIDDEN = "The token has no `admin` role."
MISSING = "No such endpoint in the caller's org."
BAD_INPUT = "Invalid fields, or a URL the request-forgery guard refuses (the address named)."
UNAVAILABLE = "The database is unavailable; nothing was written."
UNSEALED = (
    "The database is unavailable, or the server has no DELIVERY_SECRETS_KEY to seal the "
    "secret with; nothing was written."
)
NOT_JSON = "The body is not application/json."
DISABLED = "The endpoint is disabled: re-enable it first."
TAG = "webhooks"


def _loader(schema) -> Any:
    """Reads and loads the body when the service asks: after the role check."""

    def load() -> dict[str, Any]:
        body = request.get_json()  # 415 unless the body is JSON
        if not isinstance(body, dict):
            raise InvalidParameters("The body must be a JSON object.")
        return load_or_422(schema, body)

    return load


def _present(row) -> dict:
    return _ENDPOINT.dump(_fields(row))


def _fields(row) -> dict:
    return {
        "endpoint_id": row.id,
        "url": row.url,
        "description": row.description,
        "event_types": row.event_types,
        "report_types": row.report_types,
        "include_download_url": row.include_download_url,
        "disabled": row.disabled,
        "disabled_reason": row.disabled_reason,
        "failing_since": row.failing_since,
        "previous_secret_expires_at": row.previous_secret_expires_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@blueprint.post("")
@documented(
    Operation(
        summary="Register a webhook endpoint",
        tag=TAG,
        success=Success(
            201,
            "Registered. The answer alone carries the signing secret.",
            CreatedEndpointSchema,
            headers=(ENDPOINT_LOCATION,),
        ),
        errors={403: FORBIDDEN, 415: NOT_JSON, 422: BAD_INPUT, 503: UNSEALED},
    )
)
def create_endpoint() -> tuple[Response, int, dict[str, str]]:
    row, secret = service.create_endpoint(dependencies(), g.principal, _loader(_CREATE))
    location = url_for("webhooks.get_endpoint", endpoint_id=row.id, _external=True)
    return jsonify(_CREATED.dump({**_fields(row), "secret": secret})), 201, {"Location": location}


@blueprint.get("")
@documented(
    Operation(
        summary="List the org's webhook endpoints",
        tag=TAG,
        query=EndpointListQuerySchema,
        success=Success(200, "Newest first.", EndpointPageSchema),
        errors={403: FORBIDDEN, 422: "Invalid query parameters.", 503: UNAVAILABLE},
    )
)
def list_endpoints() -> Response:
    query = load_or_422(_LIST_QUERY, request.args)
    rows, total = service.endpoint_page(
        dependencies(), g.principal, query["page"], query["page_size"]
    )
    return jsonify(
        _PAGE.dump(
            {
                "items": [_fields(row) for row in rows],
                "page": query["page"],
                "page_size": query["page_size"],
                "total": total,
            }
        )
    )


@blueprint.get("/<uuid:endpoint_id>")
@documented(
    Operation(
        summary="Read a webhook endpoint",
        tag=TAG,
        success=Success(200, "The endpoint (never its secret).", EndpointSchema),
        errors={403: FORBIDDEN, 404: MISSING, 503: UNAVAILABLE},
    )
)
def get_endpoint(endpoint_id: uuid.UUID) -> Response:
    return jsonify(_present(service.get_endpoint(dependencies(), g.principal, endpoint_id)))


@blueprint.patch("/<uuid:endpoint_id>")
@documented(
    Operation(
        summary="Change a webhook endpoint",
        description='`{"disabled": false}` re-enables a disabled endpoint.',
        tag=TAG,
        success=Success(200, "The changed endpoint.", EndpointSchema),
        errors={403: FORBIDDEN, 404: MISSING, 415: NOT_JSON, 422: BAD_INPUT, 503: UNAVAILABLE},
    )
)
def change_endpoint(endpoint_id: uuid.UUID) -> Response:
    row = service.change_endpoint(dependencies(), g.principal, endpoint_id, _loader(_CHANGE))
    return jsonify(_present(row))


@blueprint.delete("/<uuid:endpoint_id>")
@documented(
    Operation(
        summary="Delete a webhook endpoint",
        tag=TAG,
        success=Success(204, "Deleted with its messages: it gets nothing more."),
        errors={403: FORBIDDEN, 404: MISSING, 503: UNAVAILABLE},
    )
)
def delete_endpoint(endpoint_id: uuid.UUID) -> tuple[str, int]:
    service.delete_endpoint(dependencies(), g.principal, endpoint_id)
    return "", 204


@blueprint.post("/<uuid:endpoint_id>/test")
@documented(
    Operation(
        summary="Send a webhook.test event",
        tag=TAG,
        success=Success(202, "Queued; follow it in the endpoint's messages.", QueuedMessageSchema),
        errors={403: FORBIDDEN, 404: MISSING, 409: DISABLED, 503: UNAVAILABLE},
    )
)
def test_endpoint(endpoint_id: uuid.UUID) -> tuple[Response, int]:
    message_id = service.send_test(dependencies(), g.principal, endpoint_id)
    return jsonify(_QUEUED.dump({"message_id": message_id})), 202


@blueprint.post("/<uuid:endpoint_id>/rotate-secret")
@documented(
    Operation(
        summary="Rotate the signing secret",
        description="The old secret keeps signing beside the new one for "
        "WEBHOOK_SECRET_OVERLAP_SECONDS: deliveries carry both signatures meanwhile.",
        tag=TAG,
        success=Success(200, "The new secret, shown this once.", RotatedSecretSchema),
        errors={403: FORBIDDEN, 404: MISSING, 503: UNSEALED},
    )
)
def rotate_secret(endpoint_id: uuid.UUID) -> Response:
    secret, row = service.rotate_secret(dependencies(), g.principal, endpoint_id)
    return jsonify(
        _ROTATED.dump(
            {"secret": secret, "previous_secret_expires_at": row.previous_secret_expires_at}
        )
    )


@blueprint.get("/<uuid:endpoint_id>/messages")
@documented(
    Operation(
        summary="The endpoint's recent messages",
        tag=TAG,
        query=MessageQuerySchema,
        success=Success(200, "Newest first.", MessageListSchema),
        errors={
            403: FORBIDDEN,
            404: MISSING,
            422: "Invalid query parameters.",
            503: UNAVAILABLE,
        },
    )
)
def list_messages(endpoint_id: uuid.UUID) -> Response:
    query = load_or_422(_MESSAGE_QUERY, request.args)
    rows = service.recent_messages(
        dependencies(), g.principal, endpoint_id, query.get("status"), query["limit"]
    )
    items = [
        {
            "message_id": row.id,
            "event_type": row.event_type,
            "status": row.state,
            "attempts": row.attempts,
            "last_status_code": row.last_status_code,
            "last_error": row.last_error,
            "next_attempt_at": row.next_attempt_at if row.state == "pending" else None,
            "delivered_at": row.delivered_at,
            "occurred_at": row.occurred_at,
        }
        for row in rows
    ]
    return jsonify(_MESSAGES.dump({"items": items}))


@blueprint.post("/<uuid:endpoint_id>/messages/<uuid:message_id>/retry")
@documented(
    Operation(
        summary="Send one message again now",
        tag=TAG,
        success=Success(202, "Due now.", QueuedMessageSchema),
        errors={
            403: FORBIDDEN,
            404: "No such endpoint in the caller's org, or no such message of it.",
            409: DISABLED,
            503: UNAVAILABLE,
        },
    )
)
def retry_message(endpoint_id: uuid.UUID, message_id: uuid.UUID) -> tuple[Response, int]:
    service.retry_message(dependencies(), g.principal, endpoint_id, message_id)
    return jsonify(_QUEUED.dump({"message_id": message_id})), 202

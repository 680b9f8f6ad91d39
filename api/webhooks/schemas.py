"""What clients send to and get back from /api/v1/webhook-endpoints."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from api.camel import CamelSchema
from shared.catalog import REPORT_TYPES
from shared.webhooks.outcomes import MessageStatus
from shared.webhooks.payload import EVENT_TYPES

MAX_URL = 2000
MAX_DESCRIPTION = 500
MESSAGE_STATES = [status.value for status in MessageStatus]


def _known_report_type(name: str) -> None:
    # Read at call time: REPORT_TYPE_MODULES may add types after this module is imported.
    if name not in REPORT_TYPES:
        raise ValidationError(f"{name!r} is not a report type")


def _endpoint_fields(required: bool) -> dict[str, fields.Field]:
    """The fields a client sets; a create needs url and eventTypes, a change needs none."""
    return {
        "url": fields.String(required=required, validate=validate.Length(min=1, max=MAX_URL)),
        "description": fields.String(
            allow_none=True, validate=validate.Length(max=MAX_DESCRIPTION)
        ),
        "event_types": fields.List(
            fields.String(validate=validate.OneOf(EVENT_TYPES)),
            required=required,
            validate=validate.Length(min=1, max=len(EVENT_TYPES)),
        ),
        # Empty: every report type.
        "report_types": fields.List(
            fields.String(validate=_known_report_type), validate=validate.Length(max=100)
        ),
        "include_download_url": fields.Boolean(),
    }


EndpointCreateSchema = CamelSchema.from_dict(_endpoint_fields(True), name="EndpointCreate")
# disabled: false re-enables a disabled endpoint (its failing streak starts afresh).
EndpointChangeSchema = CamelSchema.from_dict(
    {**_endpoint_fields(False), "disabled": fields.Boolean()}, name="EndpointChange"
)


class EndpointSchema(CamelSchema):
    endpoint_id = fields.UUID()
    url = fields.String(metadata={"format": "uri"})
    description = fields.String(allow_none=True)
    event_types = fields.List(fields.String(metadata={"enum": list(EVENT_TYPES)}))
    report_types = fields.List(fields.String())
    include_download_url = fields.Boolean()
    disabled = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    failing_since = fields.DateTime(allow_none=True)
    previous_secret_expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CreatedEndpointSchema(EndpointSchema):
    # Only in this answer: the endpoint's signing secret is never shown again.
    secret = fields.String(metadata={"pattern": "^whsec_"})


class EndpointPageSchema(CamelSchema):
    items = fields.List(fields.Nested(EndpointSchema))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


class EndpointListQuerySchema(CamelSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RotatedSecretSchema(CamelSchema):
    secret = fields.String(metadata={"pattern": "^whsec_"})
    previous_secret_expires_at = fields.DateTime()


class MessageSchema(CamelSchema):
    message_id = fields.UUID()
    event_type = fields.String()
    status = fields.String(metadata={"enum": MESSAGE_STATES})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    occurred_at = fields.DateTime()


class MessageListSchema(CamelSchema):
    items = fields.List(fields.Nested(MessageSchema))


class MessageQuerySchema(CamelSchema):
    status = fields.String(validate=validate.OneOf(MESSAGE_STATES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class QueuedMessageSchema(CamelSchema):
    message_id = fields.UUID()

"""What clients send to and get back from /api/v1/reports."""

from __future__ import annotations

from datetime import UTC

from marshmallow import fields, validate

from api.camel import CamelSchema
from shared.statuses import ReportStatus

MAX_PAGE = 1_000_000
STATUSES = [status.value for status in ReportStatus]


class ReportRequestSchema(CamelSchema):
    format = fields.String(required=True)
    parameters = fields.Dict(keys=fields.String(), load_default=dict)


class AcceptedSchema(CamelSchema):
    report_id = fields.UUID()
    report_type = fields.String()
    # metadata: what the OpenAPI document tells about the values this schema dumps.
    status = fields.String(metadata={"enum": [ReportStatus.PENDING.value]})
    status_url = fields.String(metadata={"format": "uri"})
    created_at = fields.DateTime()


class ProgressSchema(CamelSchema):
    rows_processed = fields.Integer()
    rows_total = fields.Integer(allow_none=True)
    percent = fields.Float(allow_none=True)
    estimated_completion_at = fields.DateTime(allow_none=True)


class ErrorSchema(CamelSchema):
    code = fields.String()
    message = fields.String()


class FileSchema(CamelSchema):
    name = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    rows = fields.Integer()
    sha256 = fields.String()


class DeliveryStateSchema(CamelSchema):
    """One delivery of a definition's run (DESIGN.md section 9); never its target."""

    delivery_id = fields.UUID()
    kind = fields.String(metadata={"enum": ["email", "s3", "sftp"]})
    status = fields.String(metadata={"enum": ["Pending", "Delivered", "Failed", "Skipped"]})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class ReportSchema(CamelSchema):
    report_id = fields.UUID()
    report_type = fields.String()
    format = fields.String()
    parameters = fields.Dict()
    status = fields.String(metadata={"enum": STATUSES})
    cancel_requested = fields.Boolean()
    attempts = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    progress = fields.Nested(ProgressSchema)
    error = fields.Nested(ErrorSchema, allow_none=True)
    file = fields.Nested(FileSchema, allow_none=True)
    download_url = fields.String(allow_none=True, metadata={"format": "uri"})
    download_url_expires_at = fields.DateTime(allow_none=True)
    # A run of a report definition: which one, what made it, the instant it was made for.
    definition_id = fields.UUID(allow_none=True)
    trigger = fields.String(metadata={"enum": ["request", "generate", "schedule"]})
    scheduled_for = fields.DateTime(allow_none=True)
    deliveries = fields.List(fields.Nested(DeliveryStateSchema))


class ReportPageSchema(CamelSchema):
    items = fields.List(fields.Nested(ReportSchema))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


class HistoryQuerySchema(CamelSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    report_type = fields.String(validate=validate.Length(min=1, max=100))
    format = fields.String(validate=validate.Length(min=1, max=20))
    created_from = fields.AwareDateTime(default_timezone=UTC)
    created_to = fields.AwareDateTime(default_timezone=UTC)
    definition_id = fields.UUID()
    # Bounded so that the row offset it implies stays a PostgreSQL bigint.
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

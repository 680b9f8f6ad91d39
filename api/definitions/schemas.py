"""What clients send to and get back from /api/v1/report-definitions and /schedules/preview."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import fields, validate

from api.camel import CamelSchema
from api.reports.schemas import MAX_PAGE, AcceptedSchema
from shared.definitions.periods import PERIODS

SEND_WHEN = ("always", "hasRows", "changed")
TRIGGERS = ("request", "generate", "schedule")
MAX_PREVIEW = 50
EARLIEST_PREVIEW = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_PREVIEW = datetime(2999, 12, 31, tzinfo=UTC)


class ScheduleSchema(CamelSchema):
    cron = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Five fields (minute hour day month weekday) or @daily etc."},
    )
    timezone = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "An IANA time zone such as Europe/Berlin."},
    )


class DefinitionFieldsSchema(CamelSchema):
    """The fields a client writes; every one optional: PATCH sends only what changes."""

    name = fields.String(validate=validate.Length(min=1, max=150))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    report_type = fields.String(validate=validate.Length(min=1, max=100))
    format = fields.String(validate=validate.Length(min=1, max=20))
    parameters = fields.Dict(keys=fields.String())
    period = fields.String(allow_none=True, validate=validate.OneOf(PERIODS))
    schedule = fields.Nested(ScheduleSchema, allow_none=True)
    # Checked member by member in rules.check_deliveries, which words each refusal.
    deliveries = fields.List(fields.Dict(keys=fields.String()), validate=validate.Length(max=20))
    send_when = fields.String(validate=validate.OneOf(SEND_WHEN))
    active = fields.Boolean()


class DefinitionCreateSchema(DefinitionFieldsSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=150))
    report_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    format = fields.String(required=True, validate=validate.Length(min=1, max=20))


class LastRunSchema(CamelSchema):
    report_id = fields.UUID()
    status = fields.String()
    scheduled_for = fields.DateTime(allow_none=True)
    trigger = fields.String(metadata={"enum": list(TRIGGERS)})


class DefinitionSchema(CamelSchema):
    definition_id = fields.UUID()
    name = fields.String()
    description = fields.String(allow_none=True)
    report_type = fields.String()
    format = fields.String()
    parameters = fields.Dict()
    period = fields.String(allow_none=True, metadata={"enum": [*PERIODS, None]})
    schedule = fields.Nested(ScheduleSchema, allow_none=True)
    # Each as saved: `kind` and its kind's members (DESIGN.md section 9); secrets show as
    # "********", never their value.
    deliveries = fields.List(
        fields.Dict(keys=fields.String()),
        metadata={
            "description": "Each: `kind` (api, email, s3, sftp) and its members; "
            'secrets show as "********".'
        },
    )
    send_when = fields.String(metadata={"enum": list(SEND_WHEN)})
    active = fields.Boolean()
    owner = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    next_run_at = fields.DateTime(allow_none=True)
    next_runs = fields.List(fields.DateTime())
    last_run = fields.Nested(LastRunSchema, allow_none=True)
    consecutive_failures = fields.Integer()
    paused_reason = fields.String(allow_none=True)


class DefinitionPageSchema(CamelSchema):
    items = fields.List(fields.Nested(DefinitionSchema))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


class PageQuerySchema(CamelSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class GeneratedSchema(AcceptedSchema):
    job_id = fields.UUID(metadata={"description": "The run's reportId."})


class PreviewQuerySchema(CamelSchema):
    cron = fields.String(required=True, validate=validate.Length(min=1, max=200))
    timezone = fields.String(load_default="UTC", validate=validate.Length(min=1, max=64))
    # `from` is a Python keyword: loaded as from_. Bounded, so that fifty instants of the
    # rarest schedule (29 February) stay far inside the years a datetime can hold.
    from_ = fields.AwareDateTime(
        data_key="from",
        default_timezone=UTC,
        validate=validate.Range(min=EARLIEST_PREVIEW, max=LATEST_PREVIEW),
    )
    count = fields.Integer(load_default=5, validate=validate.Range(min=1, max=MAX_PREVIEW))


class PreviewSchema(CamelSchema):
    cron = fields.String()
    timezone = fields.String()
    description = fields.String()
    instants = fields.List(fields.DateTime())

"""One row per listening session in a date range."""

from __future__ import annotations

from marshmallow import Schema, fields, validate, validates_schema

from shared.catalog.base import (
    Parameters,
    Query,
    ReportType,
    Where,
    check_date_range,
    end_of_day_exclusive,
    start_of_day,
)

MAX_DAYS = 366


class SessionsParameters(Schema):
    from_date = fields.Date(required=True, data_key="fromDate")
    to_date = fields.Date(required=True, data_key="toDate")
    country = fields.String(
        validate=validate.Regexp(r"^[A-Z]{2}$", error="must be a two-letter country code")
    )
    device = fields.String(validate=validate.Length(min=1, max=40))
    user_id = fields.Integer(data_key="userId", strict=True, validate=validate.Range(min=1))

    @validates_schema
    def _range(self, data: dict, **_: object) -> None:
        check_date_range(data.get("from_date"), data.get("to_date"), "fromDate", "toDate", MAX_DAYS)


def build_query(org: str, parameters: Parameters) -> Query:
    where = Where()
    where.add(
        "s.org = %(org)s AND s.started_at >= %(start)s AND s.started_at < %(end)s",
        org=org,
        start=start_of_day(parameters["from_date"]),
        end=end_of_day_exclusive(parameters["to_date"]),
    )
    where.add_if(parameters.get("country"), "s.country = %(country)s", "country")
    where.add_if(parameters.get("device"), "s.device = %(device)s", "device")
    where.add_if(parameters.get("user_id"), "s.user_id = %(user_id)s", "user_id")
    sql = f"""
        SELECT s.id AS session_id, s.user_id, s.album_id, s.started_at,
               s.duration_ms, s.country, s.device
        FROM demo.sessions s
        WHERE {where.sql()}
        ORDER BY s.started_at, s.id
    """
    return Query(sql, where.params)


REPORT_TYPE = ReportType(
    name="sessions",
    title="Listening sessions",
    description="One row per listening session started in the date range (UTC, inclusive).",
    roles=frozenset({"analyst", "admin"}),
    formats=("csv",),
    parameters_schema=SessionsParameters,
    build_query=build_query,
)

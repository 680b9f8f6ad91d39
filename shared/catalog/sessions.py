"""One row per listening session in a date range."""

from __future__ import annotations

from marshmallow import fields, validate

from shared.catalog.base import (
    Column,
    Parameters,
    Query,
    ReportType,
    SessionWindow,
    country_code,
    sessions_in_window,
)


class SessionsParameters(SessionWindow):
    country = country_code()
    device = fields.String(validate=validate.Length(min=1, max=40))
    user_id = fields.Integer(data_key="userId", strict=True, validate=validate.Range(min=1))


def build_query(org: str, parameters: Parameters) -> Query:
    where = sessions_in_window(org, parameters)
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
    description="One row per listening session started in the date range (inclusive).",
    roles=frozenset({"analyst", "admin"}),
    columns=(
        Column("session_id", "integer", "The session's id."),
        Column("user_id", "integer", "Who listened."),
        Column("album_id", "integer", "What was played."),
        Column("started_at", "timestamp", "When the session started."),
        Column("duration_ms", "integer", "How long it lasted, in milliseconds."),
        Column("country", "string", "ISO 3166 country the session came from."),
        Column("device", "string", "The kind of device played on."),
    ),
    parameters_schema=SessionsParameters,
    build_query=build_query,
    range_parameters=("from_date", "to_date"),
)

"""One row per user account; it holds e-mail addresses, so only admins may ask."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate, validates_schema

from shared.catalog.base import (
    Column,
    Parameters,
    Query,
    ReportType,
    Where,
    check_date_range,
    country_code,
    end_of_day_exclusive,
    start_of_day,
)
from shared.inputs import InputSchema, report_date

PLANS = ("free", "family", "premium", "student")


class UsersParameters(InputSchema):
    created_from = report_date(data_key="createdFrom")
    created_to = report_date(data_key="createdTo")
    country = country_code()
    plan = fields.String(validate=validate.OneOf(PLANS))

    @validates_schema
    def _range(self, data: dict[str, Any], **_: object) -> None:
        check_date_range(
            data.get("created_from"), data.get("created_to"), "createdFrom", "createdTo", None
        )


def build_query(org: str, parameters: Parameters) -> Query:
    zone = parameters["timezone"]
    where = Where(org=org)
    where.add("u.org = %(org)s")
    if parameters.get("created_from"):
        where.add("u.created_at >= %(start)s", start=start_of_day(parameters["created_from"], zone))
    if parameters.get("created_to"):
        where.add(
            "u.created_at < %(end)s", end=end_of_day_exclusive(parameters["created_to"], zone)
        )
    where.add_if(parameters.get("country"), "u.country = %(country)s", "country")
    where.add_if(parameters.get("plan"), "u.plan = %(plan)s", "plan")
    sql = f"""
        SELECT u.id AS user_id, u.display_name, u.email, u.country, u.plan, u.created_at
        FROM demo.users u
        WHERE {where.sql()}
        ORDER BY u.id
    """
    return Query(sql, where.params)


REPORT_TYPE = ReportType(
    name="users",
    title="User accounts",
    description="One row per user, optionally filtered by sign-up date, country and plan.",
    roles=frozenset({"admin"}),
    columns=(
        Column("user_id", "integer", "The user's id."),
        Column("display_name", "string", "The name the user shows."),
        Column("email", "string", "The user's e-mail address."),
        Column("country", "string", "ISO 3166 country of the account."),
        Column("plan", "string", "free, family, premium or student."),
        Column("created_at", "timestamp", "When the account was created."),
    ),
    parameters_schema=UsersParameters,
    build_query=build_query,
    range_parameters=("created_from", "created_to"),
)

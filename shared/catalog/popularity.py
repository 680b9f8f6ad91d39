"""Albums ranked by plays in a date range."""

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


class PopularityParameters(Schema):
    from_date = fields.Date(required=True, data_key="fromDate")
    to_date = fields.Date(required=True, data_key="toDate")
    genre = fields.String(validate=validate.Length(min=1, max=40))
    limit = fields.Integer(strict=True, load_default=100, validate=validate.Range(min=1, max=10000))

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
    where.add_if(parameters.get("genre"), "al.genre = %(genre)s", "genre")
    sql = f"""
        SELECT rank() OVER (ORDER BY count(*) DESC) AS rank,
               al.id AS album_id, al.title, ar.name AS artist, al.genre,
               count(*) AS plays, sum(s.duration_ms) AS total_duration_ms
        FROM demo.sessions s
        JOIN demo.albums al ON al.id = s.album_id AND al.org = s.org
        JOIN demo.artists ar ON ar.id = al.artist_id AND ar.org = al.org
        WHERE {where.sql()}
        GROUP BY al.id, al.title, ar.name, al.genre
        ORDER BY plays DESC, al.id
        LIMIT %(limit)s
    """
    return Query(sql, {**where.params, "limit": parameters["limit"]})


REPORT_TYPE = ReportType(
    name="popularity",
    title="Album popularity",
    description="Albums ranked by number of plays in the date range (UTC, inclusive).",
    roles=frozenset({"analyst", "admin"}),
    formats=("csv",),
    parameters_schema=PopularityParameters,
    build_query=build_query,
)

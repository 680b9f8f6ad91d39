"""Albums ranked by plays in a date range."""

from __future__ import annotations

from marshmallow import fields, validate

from shared.catalog.base import Parameters, Query, ReportType, SessionWindow, sessions_in_window


class PopularityParameters(SessionWindow):
    genre = fields.String(validate=validate.Length(min=1, max=40))
    limit = fields.Integer(strict=True, load_default=100, validate=validate.Range(min=1, max=10000))


def build_query(org: str, parameters: Parameters) -> Query:
    where = sessions_in_window(org, parameters)
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

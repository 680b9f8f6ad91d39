"""Albums ranked by plays in a date range."""

from __future__ import annotations

from marshmallow import fields, validate

from shared.catalog.base import (
    Column,
    Parameters,
    Query,
    ReportType,
    SessionWindow,
    sessions_in_window,
)


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
    description="Albums ranked by number of plays in the date range (inclusive).",
    roles=frozenset({"analyst", "admin"}),
    columns=(
        Column("rank", "integer", "1 for the most played; ties share a rank."),
        Column("album_id", "integer", "The album's id."),
        Column("title", "string", "The album's title."),
        Column("artist", "string", "The artist's name."),
        Column("genre", "string", "The album's genre."),
        Column("plays", "integer", "Sessions that played it in the range."),
        Column("total_duration_ms", "integer", "Their summed duration, in milliseconds."),
    ),
    parameters_schema=PopularityParameters,
    build_query=build_query,
    range_parameters=("from_date", "to_date"),
)
